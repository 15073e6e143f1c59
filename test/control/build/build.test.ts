// Build from source, end to end with a real `sluice serve` and real npm (registry): a revision runs
// from its snapshot forever (edit the source, scale to zero, restart Sluice: the same bytes
// answer), a later revision gets a new snapshot and reuses the dependency install (same lockfile:
// npm is not run), a failed build never takes traffic. (build-languages.test.ts: Python,
// TypeScript, Procfile, garbage collection.)
import t from 'tap'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { startSluice, tempDir } from '../../fixtures/sluice.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { configMapYaml, host, resource, revisionInstances } from '../../activator/fixtures/helpers.ts'
import { LOCK, PKG, buildLog, condOf, get, server, serviceYaml, snapshots } from './fixtures.ts'

const files = {
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'scale-to-zero-grace-period': '1s' }),
  'web.yaml': serviceYaml('web', './app'),
  'app/package.json': PKG,
  'app/package-lock.json': LOCK,
  'app/server.js': server('v1'),
}
const stateDir = tempDir('sluice-build-state-')
let s = await startSluice(files, { stateDir })
t.teardown(async () => { await s.stop(); rmSync(stateDir, { recursive: true, force: true }) })

t.test('a Node source with a dependency and a lockfile is built and served from its snapshot', async (t) => {
  const built = await waitFor(async () => { const c = await condOf(s, 'web-00001', 'BuildSucceeded'); return c?.status !== 'Unknown' && c }, { what: 'the build of web-00001', timeoutMs: 120_000, everyMs: 200 })
  t.equal(built.status, 'True', `BuildSucceeded: ${built.message}`)
  t.match(built.message, /^snapshot [0-9a-f]{32} \(node\) built in \d+ ms$/)
  const r = await waitFor(async () => { const r = await get(s, host('web')); return r.status === 200 && r }, { what: 'web answers', timeoutMs: 60_000 })
  t.equal(r.body, 'v1 1m\n', 'the dependency is installed')
  const log = await buildLog(s, 'web-00001')
  t.match(log, /\$ npm ci --omit=dev/, 'npm ci with a lockfile')
  t.match(log, /dependency cache miss/)
  const [digest] = snapshots(s)
  t.ok(existsSync(path.join(s.stateDir, 'snapshots', digest!, 'node_modules', 'ms', 'package.json')), 'node_modules lives in the snapshot')
  const builds = JSON.parse((await s.admin('/debug/builds')).body) as { revisions: Record<string, { status: string; source: string; snapshot: { digest: string; dir: string; start: string[] } }> }
  const b = builds.revisions['default/web-00001']
  t.equal(b?.status, 'True')
  t.equal(b?.source, path.join(s.configDir, 'app'))
  t.equal(b?.snapshot.digest, digest)
  t.same(b?.snapshot.start, [process.execPath, path.join(s.stateDir, 'snapshots', digest!, 'server.js')], 'scripts.start `node server.js` runs node on the snapshot')
})

t.test('editing the source changes nothing that runs, even after scale to zero and a restart', async (t) => {
  writeFileSync(path.join(s.configDir, 'app', 'server.js'), server('v2'))
  t.equal((await get(s, host('web'))).body, 'v1 1m\n', 'the running instance answers as before')
  await waitFor(async () => (await revisionInstances(s, 'web-00001'))?.instances.length === 0, { what: 'web-00001 at zero instances', timeoutMs: 60_000, everyMs: 200 })
  t.equal((await get(s, host('web'))).body, 'v1 1m\n', 'a fresh instance after zero: still v1, byte for byte')
  // a new Sluice process on the same state directory: the recorded snapshot, no rebuild
  const configDir = s.configDir
  const kept = { ...files, 'app/server.js': server('v2') }
  await s.stop()
  s = await startSluice(kept, { stateDir })
  void configDir
  const r = await waitFor(async () => { const r = await get(s, host('web')); return r.status === 200 && r }, { what: 'web answers after the restart', timeoutMs: 60_000 })
  t.equal(r.body, 'v1 1m\n', 'after a restart the revision still runs its first snapshot')
  t.notMatch(await buildLog(s, 'web-00001'), /npm/, 'and nothing was built again')
  t.match((await condOf(s, 'web-00001', 'BuildSucceeded'))?.message ?? '', /built earlier/)
})

t.test('a new revision gets a new snapshot; the same lockfile is a dependency cache hit', async (t) => {
  s.write('web.yaml', serviceYaml('web', './app', { bump: '2', traffic: ['- latestRevision: true', '  percent: 100', '- revisionName: web-00001', '  percent: 0', '  tag: first'] }))
  await waitFor(async () => (await condOf(s, 'web-00002', 'Ready'))?.status === 'True', { what: 'web-00002 Ready', timeoutMs: 120_000, everyMs: 200 })
  const r = await waitFor(async () => { const r = await get(s, host('web')); return r.body.startsWith('v2') && r }, { what: 'web answers v2', timeoutMs: 30_000 })
  t.equal(r.body, 'v2 1m\n')
  t.equal((await get(s, `first-${host('web')}`)).body, 'v1 1m\n', 'the tag pinned to the first revision serves the first version, byte for byte')
  const log = await buildLog(s, 'web-00002')
  t.match(log, /dependency cache hit npm-[0-9a-f]+: restored node_modules, install not run/)
  t.notMatch(log, /\$ npm/, 'npm was not run')
  t.equal(snapshots(s).length, 2, 'two snapshots')
})

t.test('a failed build never takes traffic: the last ready revision keeps serving', async (t) => {
  s.write('broken/package.json', JSON.stringify({ name: 'broken', version: '1.0.0', dependencies: { 'sluice-no-such-package-6f3a9c': '1.0.0' } }))
  s.write('broken/server.js', server('broken'))
  s.write('web.yaml', serviceYaml('web', './broken', { bump: '3' }))
  const failed = await waitFor(async () => { const c = await condOf(s, 'web-00003', 'BuildSucceeded'); return c?.status === 'False' && c }, { what: 'the build of web-00003 to fail', timeoutMs: 120_000, everyMs: 200 })
  t.equal(failed.reason, 'BuildFailed')
  t.match(failed.message, /npm install --omit=dev.* exited with code/)
  t.match(failed.message, /last lines of the build log:\n[\s\S]*404/, 'the condition quotes the end of the build log')
  t.equal((await condOf(s, 'web-00003', 'Ready'))?.status, 'False')
  t.equal((await get(s, host('web'))).body, 'v2 1m\n', 'web-00002 keeps serving')
  const svc = await resource(s, 'Service', 'web')
  t.equal(svc?.status?.latestReadyRevisionName, 'web-00002')

  s.write('bad.yaml', serviceYaml('bad', './bad'))
  s.write('bad/package.json', '{ "name": "bad", ')
  const bad = await waitFor(async () => { const c = await condOf(s, 'bad-00001', 'BuildSucceeded'); return c?.status === 'False' && c }, { what: 'the build of bad-00001 to fail', timeoutMs: 60_000, everyMs: 200 })
  t.match(bad.message, /package.json is not valid JSON/)
  // no ready revision: the Route is not Ready and has no ingress; its host answers 503 with the reason
  const refused = await get(s, host('bad'))
  t.equal(refused.status, 503, 'a service whose only revision failed to build takes no traffic')
  t.match(refused.body, /^revision bad-00001 failed: .*package\.json is not valid JSON/, 'and says why')
})


// Build from source, end to end with a real `sluice serve`, real npm (registry) and python3 -m venv:
// a revision runs from its snapshot forever (edit the source, scale to zero, restart Sluice: the
// same bytes answer), a later revision gets a new snapshot and reuses the dependency install
// (same lockfile: npm is not run), a failed build never takes traffic, Python projects get a
// venv, and a snapshot nothing references is collected.
import t from 'tap'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { request, startSluice, type SluiceProcess } from '../../fixtures/sluice.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { cond, configMapYaml, host, resource, revisionInstances } from '../../activator/fixtures/helpers.ts'

const LOCK = JSON.stringify({
  name: 'web', version: '1.0.0', lockfileVersion: 3, requires: true,
  packages: {
    '': { name: 'web', version: '1.0.0', dependencies: { ms: '2.1.3' } },
    'node_modules/ms': { version: '2.1.3', resolved: 'https://registry.npmjs.org/ms/-/ms-2.1.3.tgz', integrity: 'sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==', license: 'MIT' },
  },
}, null, 2)
const PKG = JSON.stringify({ name: 'web', version: '1.0.0', private: true, dependencies: { ms: '2.1.3' }, scripts: { start: 'node server.js' } })
const server = (version: string): string =>
  `const http = require('node:http'); const ms = require('ms');\n` +
  `http.createServer((req, res) => res.end(${JSON.stringify(version)} + ' ' + ms(60000) + '\\n')).listen(Number(process.env.PORT), '127.0.0.1')\n`
const PY_MAIN = [
  'import os, sys',
  'from http.server import BaseHTTPRequestHandler, HTTPServer',
  'class H(BaseHTTPRequestHandler):',
  '    def do_GET(self):',
  '        body = ("py " + ("venv" if sys.prefix != sys.base_prefix else "system") + "\\n").encode()',
  '        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)',
  'HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()',
].join('\n') + '\n'

function serviceYaml(name: string, source: string, opts: { bump?: string; traffic?: string[] } = {}): string {
  return [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', `metadata: { name: ${name} }`, 'spec:', '  template:', '    metadata:', '      annotations:',
    `        sluice.dev/source: ${source}`, '        autoscaling.knative.dev/window: 6s',
    ...(opts.bump !== undefined ? [`        example.com/deploy: "${opts.bump}"`] : []),
    ...(opts.traffic !== undefined ? ['  traffic:', ...opts.traffic.map((l) => `  ${l}`)] : []),
  ].join('\n') + '\n'
}

const get = async (s: SluiceProcess, h: string): Promise<{ status: number; body: string }> => {
  try { return await request(s.port, h, '/', { timeoutMs: 20_000 }) } catch (err) { return { status: 0, body: (err as Error).message } }
}
const condOf = async (s: SluiceProcess, rev: string, type: string) => cond(await resource(s, 'Revision', rev), type)
const buildLog = async (s: SluiceProcess, rev: string): Promise<string> =>
  (await s.admin(`/debug/logs?revision=default/${rev}`)).body.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { line: string }).line).join('\n')
const snapshots = (s: SluiceProcess): string[] => readdirSync(path.join(s.stateDir, 'snapshots')).filter((n) => !n.startsWith('.')).sort()

const files = {
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'scale-to-zero-grace-period': '1s' }),
  'web.yaml': serviceYaml('web', './app'),
  'app/package.json': PKG,
  'app/package-lock.json': LOCK,
  'app/server.js': server('v1'),
}
const stateDir = (await import('../../fixtures/sluice.ts')).tempDir('sluice-build-state-')
let s = await startSluice(files, { stateDir })
t.teardown(async () => { await s.stop(); (await import('node:fs')).rmSync(stateDir, { recursive: true, force: true }) })

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
  // no ready revision: the Route is not Ready and has no ingress, so the host is unknown (404), as in Knative
  t.equal((await get(s, host('bad'))).status, 404, 'a service whose only revision failed to build takes no traffic')
})

t.test('Python: stdlib main.py without a venv; an empty requirements.txt gets a venv', async (t) => {
  s.write('py/main.py', PY_MAIN)
  s.write('py.yaml', serviceYaml('py', './py'))
  s.write('pyv/app.py', PY_MAIN)
  s.write('pyv/requirements.txt', '# nothing yet\n')
  s.write('pyv.yaml', serviceYaml('pyv', './pyv'))
  for (const [svc, want] of [['py', 'py system\n'], ['pyv', 'py venv\n']] as const) {
    const r = await waitFor(async () => { const r = await get(s, host(svc)); return r.status === 200 && r }, { what: `${svc} answers`, timeoutMs: 120_000, everyMs: 200 })
    t.equal(r.body, want, svc)
    t.match((await condOf(s, `${svc}-00001`, 'BuildSucceeded'))?.message ?? '', /\(python\)/)
  }
  t.match(await buildLog(s, 'pyv-00001'), /\$ python3 -m venv \.venv/)
})

t.test('TypeScript (Node runs .ts, npm install without a lockfile) and a bare Procfile', async (t) => {
  s.write('ts/package.json', JSON.stringify({ name: 'ts', version: '1.0.0', private: true }))
  s.write('ts/tsconfig.json', '{}')
  s.write('ts/index.ts', "import http from 'node:http'\nconst answer: string = 'typed'\nhttp.createServer((_req, res) => res.end(answer + '\\n')).listen(Number(process.env.PORT), '127.0.0.1')\n")
  s.write('ts.yaml', serviceYaml('ts', './ts'))
  s.write('proc/Procfile', 'web: exec python3 -m http.server "$PORT" --bind 127.0.0.1\n')
  s.write('proc/hello.txt', 'from a Procfile\n')
  s.write('proc.yaml', serviceYaml('proc', './proc'))
  const ts = await waitFor(async () => { const r = await get(s, host('ts')); return r.status === 200 && r }, { what: 'ts answers', timeoutMs: 120_000, everyMs: 200 })
  t.equal(ts.body, 'typed\n')
  t.match((await condOf(s, 'ts-00001', 'BuildSucceeded'))?.message ?? '', /\(typescript\)/)
  t.match(await buildLog(s, 'ts-00001'), /\$ npm install --omit=dev/)
  const proc = await waitFor(async () => { try { const r = await request(s.port, host('proc'), '/hello.txt', { timeoutMs: 20_000 }); return r.status === 200 && r } catch { return false } }, { what: 'proc answers', timeoutMs: 60_000, everyMs: 200 })
  t.equal(proc.body, 'from a Procfile\n', 'served from the snapshot directory')
  t.match((await condOf(s, 'proc-00001', 'BuildSucceeded'))?.message ?? '', /\(procfile\)/)
})

t.test('a snapshot no revision references is collected', async (t) => {
  const digest = /snapshot ([0-9a-f]{32})/.exec((await condOf(s, 'py-00001', 'BuildSucceeded'))?.message ?? '')?.[1]
  t.ok(digest !== undefined && snapshots(s).includes(digest), 'py has a snapshot')
  s.remove('py.yaml')
  await waitFor(() => !snapshots(s).includes(digest!), { what: 'the py snapshot to be removed', timeoutMs: 30_000, everyMs: 100 })
  t.ok(snapshots(s).length >= 3, 'the others stay')
  t.match(s.logs(), /unused snapshots removed/)
})

// `sluice func deploy` into the config dir of a running `sluice serve`: the function serves, each
// deploy is a new revision, and what the user added to the file (traffic, tags) is kept.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { ROOT, eventually, request, runSluice, startSluice, tempDir } from '../fixtures/sluice.ts'
import { createProject } from './helpers.ts'

interface Objects { objects: { kind: string; metadata: { name: string } }[] }

t.test('deploy, serve, deploy again: a new revision', async (t) => {
  const s = await startSluice({})
  t.teardown(() => s.stop())
  const dir = await createProject('node', 'http', 'dep')
  const host = 'dep.default.localhost'
  const get = async (h = host): Promise<string> => { try { const r = await request(s.port, h, '/'); return `${r.status} ${r.body}` } catch { return 'refused' } }
  const revisions = async (): Promise<string[]> => (JSON.parse((await s.admin('/debug/resources')).body) as Objects).objects
    .filter((o) => o.kind === 'Revision').map((o) => o.metadata.name).sort()

  const first = await runSluice(['func', 'deploy', dir, '--config', s.configDir])
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /Created .*dep\.yaml: Service dep/)
  const file = path.join(s.configDir, 'dep.yaml')
  const svc = parse(readFileSync(file, 'utf8')) as { spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containers: Record<string, unknown>[] } } } }
  t.equal(svc.spec.template.metadata.annotations['sluice.dev/source'], path.relative(s.configDir, dir))
  t.same(svc.spec.template.spec.containers[0], { readinessProbe: { httpGet: { path: '/health/readiness' } } }, 'no command, no env: the build starts the runtime')
  t.notMatch(readFileSync(file, 'utf8'), path.dirname(dir), 'no absolute path')
  t.ok(await eventually(async () => (await get()) === '200 Hello from dep!\n', 60_000), `first deploy serves: ${await get()}\n${s.logs().slice(-2000)}`)
  t.same(await revisions(), ['dep-00001'])

  const index = path.join(dir, 'index.js')
  writeFileSync(index, readFileSync(index, 'utf8').replace('Hello from', 'Howdy from'))
  const second = await runSluice(['func', 'deploy', dir, '--config', s.configDir])
  t.match(second.stdout, /Updated .*dep\.yaml/)
  t.ok(await eventually(async () => (await get()) === '200 Howdy from dep!\n', 60_000), `second deploy serves: ${await get()}`)
  t.same(await revisions(), ['dep-00001', 'dep-00002'], 'a second revision')

  // the user pins the first revision on a tag and splits traffic; the next deploy keeps that
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^spec:\n/m, [
    'spec:', '  traffic:', '    - revisionName: dep-00001', '      tag: v1', '      percent: 50',
    '    - latestRevision: true', '      percent: 50', ''].join('\n')))
  t.ok(await eventually(async () => (await get('v1-dep.default.localhost')).startsWith('200 '), 60_000), 'the tag serves')
  const third = await runSluice(['func', 'deploy', dir, '--config', s.configDir])
  t.equal(third.code, 0, third.stderr)
  const kept = parse(readFileSync(file, 'utf8')) as { spec: { traffic: unknown[] } }
  t.same(kept.spec.traffic, [{ revisionName: 'dep-00001', tag: 'v1', percent: 50 }, { latestRevision: true, percent: 50 }])
  t.ok(await eventually(async () => (await revisions()).includes('dep-00003'), 60_000), 'a third revision')
  t.match(readFileSync(file, 'utf8'), /^# Written by `sluice func deploy`/, 'the header comment is kept')
})

t.test('the config folder and the function folder move together and still serve', async (t) => {
  const root = tempDir('sluice-func-move-')
  t.teardown(() => rmSync(root + '-moved', { recursive: true, force: true }))
  const r = await runSluice(['func', 'create', path.join(root, 'fns', 'mover')])
  t.equal(r.code, 0, r.stderr)
  // an old deploy's absolute command and folder: the next deploy drops them
  mkdirSync(path.join(root, 'config'))
  writeFileSync(path.join(root, 'config', 'mover.yaml'), [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', '  name: mover', 'spec:', '  template:', '    spec:', '      containers:',
    `        - command: [node, ${path.join(ROOT, 'control/functions/runtime/node-runtime.mjs')}]`,
    '          env:', `            - name: SLUICE_FUNCTION_DIR`, `              value: ${path.join(root, 'fns', 'mover')}`, ''].join('\n'))
  const d = await runSluice(['func', 'deploy', path.join(root, 'fns', 'mover'), '--config', path.join(root, 'config')])
  t.equal(d.code, 0, d.stderr)
  const text = readFileSync(path.join(root, 'config', 'mover.yaml'), 'utf8')
  t.match(text, 'sluice.dev/source: ../fns/mover')
  t.notMatch(text, root, 'no absolute path left')
  t.notMatch(text, 'command:')
  renameSync(root, root + '-moved')
  const s = await startSluice({}, { configDir: path.join(root + '-moved', 'config') })
  t.teardown(() => s.stop())
  const get = async (): Promise<string> => { try { const res = await request(s.port, 'mover.default.localhost', '/?name=Ada'); return `${res.status} ${res.body}` } catch { return 'refused' } }
  t.ok(await eventually(async () => (await get()) === '200 Hello from mover, Ada!\n', 90_000), `${await get()}\n${s.logs().slice(-2000)}`)
})

t.test('deploy refusals', async (t) => {
  const dir = await createProject('node', 'http', 'nocfg')
  const r = await runSluice(['func', 'deploy', dir])
  t.equal(r.code, 2)
  t.match(r.stderr, /func deploy needs --config CONFIGDIR/)
  const notFn = await runSluice(['func', 'deploy', path.dirname(dir), '--config', dir])
  t.match(notFn.stderr, /is not a function: it has no func\.yaml; create one with `sluice func create/)
})

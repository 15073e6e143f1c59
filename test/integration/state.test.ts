// Revision history survives restarts: the same --state dir gives the same revision names and
// configuration generations, and a traffic-only change never makes a revision.
import t from 'tap'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, request, serviceYaml, startSluice, tempDir, type SluiceProcess } from '../fixtures/sluice.ts'

interface Obj {
  kind: string
  metadata: { name: string; namespace: string; generation?: number; creationTimestamp?: string; labels?: Record<string, string> }
  status?: { latestCreatedRevisionName?: string; latestReadyRevisionName?: string; observedGeneration?: number; traffic?: { revisionName?: string; percent?: number; latestRevision?: boolean }[] }
}

async function objects(s: SluiceProcess): Promise<Obj[]> {
  const r = await s.admin('/debug/resources')
  const view = JSON.parse(r.body) as { errors: string[]; objects: Obj[] }
  if (view.errors.length > 0) throw new Error(`unexpected config errors: ${view.errors.join('\n')}`)
  return view.objects
}
const revisions = (objs: Obj[]): string[] => objs.filter((o) => o.kind === 'Revision').map((o) => o.metadata.name).sort()
const find = (objs: Obj[], kind: string, name: string): Obj | undefined => objs.find((o) => o.kind === kind && o.metadata.name === name)

const a = await startBackend('a')
t.teardown(() => a.close())
const stateDir = tempDir('sluice-state-kept-')
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }))
const HOST = 'hello.default.localhost'

const v1 = serviceYaml('hello', a.origin, { message: 'v1' })
const v2 = serviceYaml('hello', a.origin, { message: 'v2' })
const revisionOf = async (s: SluiceProcess): Promise<string | undefined> =>
  (JSON.parse((await request(s.port, HOST)).body) as { headers: Record<string, string> }).headers['knative-serving-revision']

let created: Record<string, string | undefined> = {}

t.test('first run: a template change makes hello-00002', async (t) => {
  const s = await startSluice({ 'svc.yaml': v1 }, { stateDir })
  t.teardown(() => s.stop())
  let objs = await objects(s)
  t.same(revisions(objs), ['hello-00001'])
  t.equal(find(objs, 'Configuration', 'hello')?.metadata.generation, 1)
  t.equal(await revisionOf(s), 'hello-00001')

  s.write('svc.yaml', v2)
  t.ok(await eventually(async () => revisions(await objects(s)).includes('hello-00002'), 30_000), 'hello-00002 appears')
  objs = await objects(s)
  t.same(revisions(objs), ['hello-00001', 'hello-00002'])
  t.equal(find(objs, 'Configuration', 'hello')?.metadata.generation, 2)
  t.equal(find(objs, 'Revision', 'hello-00002')?.metadata.labels?.['serving.knative.dev/configurationGeneration'], '2')
  const svc = find(objs, 'Service', 'hello')
  t.equal(svc?.status?.latestCreatedRevisionName, 'hello-00002')
  t.same(svc?.status?.traffic, [{ revisionName: 'hello-00002', latestRevision: true, percent: 100 }])
  t.equal(await revisionOf(s), 'hello-00002')
  created = Object.fromEntries(objs.filter((o) => o.kind === 'Revision').map((o) => [o.metadata.name, o.metadata.creationTimestamp]))

  t.equal(await s.stop(), 0)
  t.ok(existsSync(path.join(stateDir, 'state.json')), 'the state dir is kept and holds state.json')
  const state = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { configurations: Record<string, { generation: number; revisions: { name: string }[] }> }
  t.equal(state.configurations['default/hello']?.generation, 2)
  t.same(state.configurations['default/hello']?.revisions.map((r) => r.name), ['hello-00001', 'hello-00002'])
})

t.test('second run on the same state dir: same names, same generation; traffic-only change makes no revision', async (t) => {
  const s = await startSluice({ 'svc.yaml': v2 }, { stateDir })
  t.teardown(() => s.stop())
  let objs = await objects(s)
  t.same(revisions(objs), ['hello-00001', 'hello-00002'], 'no hello-00003 after the restart')
  t.equal(find(objs, 'Configuration', 'hello')?.metadata.generation, 2, 'the generation survived')
  t.equal(find(objs, 'Service', 'hello')?.status?.latestCreatedRevisionName, 'hello-00002')
  for (const name of ['hello-00001', 'hello-00002']) {
    t.equal(find(objs, 'Revision', name)?.metadata.creationTimestamp, created[name], `${name} keeps its creation time`)
  }
  t.equal(await revisionOf(s), 'hello-00002')

  const versionBefore = (JSON.parse((await s.admin('/debug/routes')).body) as { version: number }).version
  s.write('svc.yaml', serviceYaml('hello', a.origin, { message: 'v2', traffic: [{ revisionName: 'hello-00001', percent: 50 }, { latestRevision: true, percent: 50 }] }))
  t.ok(await eventually(async () => {
    const svc = find(await objects(s), 'Service', 'hello')
    return svc?.status?.traffic?.length === 2
  }, 30_000), 'the traffic change is applied')
  objs = await objects(s)
  t.same(revisions(objs), ['hello-00001', 'hello-00002'], 'a traffic-only change makes no revision')
  t.equal(find(objs, 'Configuration', 'hello')?.metadata.generation, 2, 'nor a new configuration generation')
  t.same(find(objs, 'Service', 'hello')?.status?.traffic, [
    { revisionName: 'hello-00001', latestRevision: false, percent: 50 },
    { revisionName: 'hello-00002', latestRevision: true, percent: 50 },
  ])
  const routes = JSON.parse((await s.admin('/debug/routes')).body) as { version: number; external: { host: string; paths: { splits: { percent: number; revision: string }[] }[] }[] }
  t.ok(routes.version > versionBefore)
  t.same(routes.external.find((h) => h.host === HOST)?.paths[0]?.splits.map((x) => [x.percent, x.revision]), [[50, 'hello-00001'], [50, 'hello-00002']])
  const seen = new Set<string | undefined>()
  for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await revisionOf(s))
  t.same([...seen].sort(), ['hello-00001', 'hello-00002'], 'the old revision is routable again by name')
  t.equal(await s.stop(), 0)
})

t.test('third run: still the same revisions', async (t) => {
  const s = await startSluice({ 'svc.yaml': serviceYaml('hello', a.origin, { message: 'v2', traffic: [{ revisionName: 'hello-00001', percent: 50 }, { latestRevision: true, percent: 50 }] }) }, { stateDir })
  t.teardown(() => s.stop())
  const objs = await objects(s)
  t.same(revisions(objs), ['hello-00001', 'hello-00002'])
  t.equal(find(objs, 'Configuration', 'hello')?.metadata.generation, 2)

  // and the next template change continues the sequence
  s.write('svc.yaml', serviceYaml('hello', a.origin, { message: 'v3' }))
  t.ok(await eventually(async () => revisions(await objects(s)).includes('hello-00003'), 30_000), 'hello-00003 follows')
  const after = await objects(s)
  t.same(revisions(after), ['hello-00001', 'hello-00002', 'hello-00003'])
  t.equal(find(after, 'Configuration', 'hello')?.metadata.generation, 3)
})

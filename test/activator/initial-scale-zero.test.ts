// initial-scale 0 (with allow-zero-initial-scale): a new revision starts no process, is Ready
// without an instance, is routed, and its first request starts one (the activator buffers it).
import t from 'tap'
import { eventually, startSluice } from '../fixtures/sluice.ts'
import { appPids, appServiceYaml, attempt, autoscaler, cond, configMapYaml, resource, revisionInstances } from './fixtures/helpers.ts'

const TAG = `initial-zero-${process.pid}`

const s = await startSluice({
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true', 'scale-to-zero-grace-period': '1s' }),
  'lazy.yaml': appServiceYaml(TAG, { name: 'lazy', annotations: { 'autoscaling.knative.dev/initial-scale': '0', 'autoscaling.knative.dev/window': '6s' } }),
})
t.teardown(() => s.stop())

t.test('the revision is Ready and routed with no process started', async (t) => {
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'lazy-00001'), 'Ready')?.status === 'True', 60_000, 100), 'Revision Ready')
  for (const kind of ['Route', 'Service']) {
    t.ok(await eventually(async () => cond(await resource(s, kind, 'lazy'), 'Ready')?.status === 'True', 30_000, 100), `${kind} Ready`)
  }
  // After the autoscaler's next decision for it (a tick, every 2 s), still nothing runs.
  t.ok(await eventually(async () => (await autoscaler(s))['default/lazy-00001']?.lastDecision != null, 30_000, 100), 'the autoscaler decided')
  t.same(appPids(TAG), [], 'no process was started')
  t.equal((await revisionInstances(s, 'lazy-00001'))?.instances.length, 0, 'no instance')
  const rev = await resource(s, 'Revision', 'lazy-00001')
  t.equal(rev?.status?.actualReplicas, 0)
  t.equal(cond(rev, 'Active')?.status, 'False', 'not Active')
})

t.test('the first request starts an instance and is served', async (t) => {
  const r = await attempt(s.port, 'lazy', '/hello', 'first', { timeoutMs: 20_000 })
  t.equal(r.status, 200, `served (${r.error ?? r.body.trim()})`)
  t.match(JSON.parse(r.body), { revision: 'lazy-00001', id: 'first' })
  t.equal(appPids(TAG).length, 1, 'one process now')
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'lazy-00001'), 'Active')?.status === 'True', 30_000, 100), 'Active')
})

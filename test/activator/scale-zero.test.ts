// Scale to zero and back, with real processes: idle revisions (6 s window, 1 s grace) drop to no
// instance at all; the first request after that is buffered by the activator while an instance
// starts, and served; 200 concurrent requests at a cold revision all get 200.
import t from 'tap'
import { eventually, metric, sleep, startSluice } from '../fixtures/sluice.ts'
import { appPids, appServiceYaml, attempt, autoscaler, burst, cond, configMapYaml, countBy, resource, revisionInstances } from './fixtures/helpers.ts'

const TAG = `scale-zero-${process.pid}`
const short = { 'autoscaling.knative.dev/window': '6s' }

const s = await startSluice({
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'scale-to-zero-grace-period': '1s' }),
  'nap.yaml': appServiceYaml(TAG, { name: 'nap', annotations: short }),
  'crowd.yaml': appServiceYaml(TAG, { name: 'crowd', annotations: short }),
})
t.teardown(() => s.stop())

t.test('new revisions start at one instance and become Ready and Active', async (t) => {
  for (const rev of ['nap-00001', 'crowd-00001']) {
    const ok = await eventually(async () => cond(await resource(s, 'Revision', rev), 'Ready')?.status === 'True', 60_000, 100)
    t.ok(ok, `${rev} is Ready`)
    const r = await resource(s, 'Revision', rev)
    t.equal(r?.status?.actualReplicas, 1, `${rev} actualReplicas`)
    t.equal(r?.status?.desiredReplicas, 1, `${rev} desiredReplicas`)
    t.ok(await eventually(async () => cond(await resource(s, 'Revision', rev), 'Active')?.status === 'True', 30_000, 100), `${rev} is Active`)
  }
  t.equal(appPids(TAG).length, 2, 'one process per revision')
  for (const kind of ['Route', 'Service']) {
    t.ok(await eventually(async () => cond(await resource(s, kind, 'nap'), 'Ready')?.status === 'True', 30_000, 100), `${kind} nap is Ready`)
  }
})

t.test('idle revisions scale to zero: no instance, no process, Active=False', async (t) => {
  const t0 = Date.now()
  const gone = await eventually(async () => {
    const [a, b] = await Promise.all([revisionInstances(s, 'nap-00001'), revisionInstances(s, 'crowd-00001')])
    return a?.instances.length === 0 && b?.instances.length === 0
  }, 60_000, 200)
  t.ok(gone, `both revisions reached zero instances (after ${Date.now() - t0} ms)`)
  // 6 s stable window, then 1 s grace: never before the window has passed.
  t.ok(Date.now() - t0 >= 5_000, 'not before the stable window')
  t.same(appPids(TAG), [], 'their processes are gone')
  const settled = await eventually(async () => {
    const r = await resource(s, 'Revision', 'nap-00001')
    return r?.status?.actualReplicas === 0 && r.status.desiredReplicas === 0 && cond(r, 'Active')?.status === 'False'
  }, 30_000, 100)
  t.ok(settled, 'status shows 0/0 replicas and Active=False')
  const rev = await resource(s, 'Revision', 'nap-00001')
  t.equal(cond(rev, 'Active')?.reason, 'NoTraffic')
  t.equal(cond(rev, 'Ready')?.status, 'True', 'a revision at zero stays Ready')
  t.equal(cond(await resource(s, 'Route', 'nap'), 'Ready')?.status, 'True', 'and so does its Route')
  t.equal(cond(await resource(s, 'Service', 'nap'), 'Ready')?.status, 'True', 'and its Service')
  const as = await autoscaler(s)
  t.equal(as['default/nap-00001']?.scale, 0, '/debug/autoscaler: scale 0')
  t.equal(as['default/nap-00001']?.ready, 0, '/debug/autoscaler: no ready instance')
  t.equal(as['default/nap-00001']?.state, 'Inactive')
  const m = (await s.admin('/metrics')).body
  t.equal(metric(m, 'sluice_autoscaler_desired_instances', { revision: 'nap-00001' }), 0, 'sluice_autoscaler_desired_instances 0')
  t.equal(metric(m, 'sluice_autoscaler_actual_instances', { revision: 'nap-00001' }), 0, 'sluice_autoscaler_actual_instances 0')
  t.equal(metric(m, 'sluice_instances', { state: 'ready' }), 0, 'sluice_instances: none ready')
})

t.test('the first request after zero is buffered, then served by a fresh instance', async (t) => {
  const before = (await s.admin('/metrics')).body
  const coldBefore = metric(before, 'sluice_cold_start_duration_seconds_count', { revision: 'nap-00001' }) ?? 0
  const r = await attempt(s.port, 'nap', '/hello', 'first', { timeoutMs: 20_000 })
  t.equal(r.status, 200, `served (${r.error ?? r.body.trim()})`)
  t.match(JSON.parse(r.body), { revision: 'nap-00001', id: 'first' })
  const after = (await s.admin('/metrics')).body
  t.equal(metric(after, 'sluice_cold_start_duration_seconds_count', { revision: 'nap-00001' }), coldBefore + 1, 'one cold start recorded')
  const sum = metric(after, 'sluice_cold_start_duration_seconds_sum', { revision: 'nap-00001' }) ?? 0
  t.ok(sum > 0 && sum * 1000 <= r.ms + 50, `cold start (${sum}s) within the request's time (${Math.round(r.ms)}ms)`)
  // The Active condition follows at the autoscaler's next step (a 2 s tick at most).
  const active = await eventually(async () => {
    const rev = await resource(s, 'Revision', 'nap-00001')
    return cond(rev, 'Active')?.status === 'True' && rev?.status?.actualReplicas === 1 && rev.status.desiredReplicas === 1
  }, 30_000, 100)
  t.ok(active, 'Active again, 1/1 replicas')
  t.equal(appPids(TAG).length, 1, 'one process again')
})

t.test('200 concurrent requests at a cold revision all get 200', async (t) => {
  const cold = await revisionInstances(s, 'crowd-00001')
  t.equal(cold?.instances.length, 0, 'crowd is still at zero')
  const out = await burst(s.port, 'crowd', '/?sleep=50', 200, 'crowd', 30_000)
  t.same(countBy(out, (o) => o.status), { 200: 200 }, 'all 200')
  t.equal(new Set(out.map((o) => (JSON.parse(o.body) as { id: string }).id)).size, 200, 'every request got its own answer')
  // 200 concurrent requests are ceil(200 / 70) = 3 instances at the default target: every buffered
  // request must not count as a separate "first request" stat.
  // Watch two autoscaler ticks after the burst too: that is when the stats of the burst are judged.
  let maxScale = 0
  let maxInstances = 0
  for (let i = 0; i < 12; i++) {
    maxScale = Math.max(maxScale, Number((await autoscaler(s))['default/crowd-00001']?.scale ?? 0))
    maxInstances = Math.max(maxInstances, (await revisionInstances(s, 'crowd-00001'))?.instances.length ?? 0)
    await sleep(250)
  }
  t.ok(maxScale >= 1 && maxScale <= 4, `a sane scale for 200 concurrent requests (at most ${maxScale})`)
  t.ok(maxInstances <= 4, `and no more instances than that (at most ${maxInstances})`)
  const after = (await s.admin('/metrics')).body
  t.ok((metric(after, 'sluice_cold_start_duration_seconds_count', { revision: 'crowd-00001' }) ?? 0) >= 1, 'cold start recorded')
  t.ok((metric(after, 'sluice_activator_wait_seconds_count', { revision: 'crowd-00001' }) ?? 0) >= 1, 'requests waited in the activator queue')
  t.equal(metric(after, 'sluice_activator_queue_depth', { revision: 'crowd-00001' }), 0, 'queue empty afterwards')
})

t.test('sluice SIGTERM stops every instance it started', async (t) => {
  t.ok(appPids(TAG).length >= 2, 'instances are running before the stop')
  const code = await s.stop()
  t.equal(code, 0, 'clean exit')
  t.ok(await eventually(() => appPids(TAG).length === 0, 30_000, 50), 'no app process left')
})

// Knative's single-concurrency conformance test (test/conformance/api/v1/single_threaded_test.go):
// containerConcurrency 1, five clients hammering for 20 s, and an app that answers 500 whenever
// two requests overlap in one instance. The activator must never run two at once on an instance,
// also while the autoscaler adds instances under the load.
import t from 'tap'
import { eventually, startSluice } from '../fixtures/sluice.ts'
import { appPids, appServiceYaml, cond, countBy, hammer, instances, resource, type Outcome } from './fixtures/helpers.ts'

const TAG = `single-${process.pid}`
const s = await startSluice({
  'single.yaml': appServiceYaml(TAG, { name: 'single', containerConcurrency: 1, env: { APP_OVERLAP: '1' } }),
})
t.teardown(() => s.stop())

t.test('the revision becomes ready', async (t) => {
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'single-00001'), 'Ready')?.status === 'True', 60_000, 100))
})

t.test('cc=1: five clients for 20 s, never two requests at once in an instance', async (t) => {
  // Watch the gateway's own view too: no instance ever shows more than one request in flight.
  let maxInflight = 0
  let snapshots = 0
  let watching = true
  const watcher = (async () => {
    for (let i = 0; i < 200 && watching; i++) {
      for (const rev of Object.values(await instances(s))) {
        for (const inst of rev.instances) maxInflight = Math.max(maxInflight, inst.inflight)
      }
      snapshots++
      await new Promise((r) => setTimeout(r, 150))
    }
  })()
  const firstFailures: Outcome[] = []
  const out = await hammer(s.port, 'single', '/?sleep=20', {
    clients: 5, durationMs: 20_000, maxPerClient: 5_000, prefix: 'single',
    onOutcome: (o) => { if (o.status !== 200 && firstFailures.length < 5) firstFailures.push(o) },
  })
  watching = false
  await watcher
  const statuses = countBy(out, (o) => o.status)
  t.equal(statuses['500'] ?? 0, 0, 'no overlapping requests (500)')
  t.same(Object.keys(statuses), ['200'], `every request got 200 (${JSON.stringify(statuses)})`, { firstFailures })
  t.ok(out.length >= 200, `a real load: ${out.length} requests`)
  t.ok(out.every((o) => o.status !== 200 || (JSON.parse(o.body) as { overlapped: boolean }).overlapped === false), 'the app saw no overlap')
  t.ok(snapshots > 10, `watched /debug/instances ${snapshots} times`)
  t.ok(maxInflight <= 1, `at most one request in flight per instance (saw ${maxInflight})`)
  const pids = new Set(out.map((o) => (o.status === 200 ? (JSON.parse(o.body) as { pid: number }).pid : 0)))
  t.ok(pids.size >= 2, `the load was spread over ${pids.size} instances`)
})

t.test('sluice SIGTERM stops every instance it started', async (t) => {
  t.ok(appPids(TAG).length >= 1, 'instances are running before the stop')
  t.equal(await s.stop(), 0, 'clean exit')
  t.ok(await eventually(() => appPids(TAG).length === 0, 30_000, 50), 'no app process left')
})

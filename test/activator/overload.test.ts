// The activator under pressure, with real processes: Knative's activator-overload e2e test (100
// concurrent 300 ms requests against containerConcurrency 1 and max-scale 10, all 200) and its
// pod-destruction test (an instance SIGKILLed under load loses only the requests that were
// running on it). Also the status and debug views of a scaled revision.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { eventually, metric, startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import {
  appPids, appServiceYaml, autoscaler, burst, cond, countBy, hammer, pidOf, resource, revisionInstances, type Outcome,
} from './fixtures/helpers.ts'

const TAG = `overload-${process.pid}`
const logDir = mkdtempSync(path.join(tmpdir(), 'sluice-victim-'))
t.teardown(() => rmSync(logDir, { recursive: true, force: true }))

const s = await startSluice({
  'overload.yaml': appServiceYaml(TAG, {
    name: 'overload', containerConcurrency: 1,
    annotations: { 'autoscaling.knative.dev/max-scale': '10', 'autoscaling.knative.dev/target-burst-capacity': '-1' },
  }),
  'victim.yaml': appServiceYaml(TAG, {
    name: 'victim', containerConcurrency: 1, env: { APP_LOG_DIR: logDir },
    annotations: { 'autoscaling.knative.dev/min-scale': '3', 'autoscaling.knative.dev/max-scale': '3' },
  }),
})
t.teardown(() => s.stop())

t.test('both revisions become ready', async (t) => {
  for (const rev of ['overload-00001', 'victim-00001']) {
    t.ok(await eventually(async () => cond(await resource(s, 'Revision', rev), 'Ready')?.status === 'True', 60_000, 100), `${rev} Ready`)
  }
  t.ok(await eventually(async () => (await revisionInstances(s, 'victim-00001'))?.ready === 3, 60_000, 100), 'victim runs its min-scale of 3')
})

t.test('activator overload: 100 concurrent 300 ms requests, cc=1, max-scale 10: all 200', async (t) => {
  const t0 = performance.now()
  const out = await burst(s.port, 'overload', '/?sleep=300', 100, 'overload', 60_000)
  const ms = performance.now() - t0
  t.same(countBy(out, (o) => o.status), { 200: 100 }, `all 200 in ${Math.round(ms)} ms`, { failures: out.filter((o) => o.status !== 200).slice(0, 5) })
  const pids = new Set(out.map(pidOf))
  t.ok(pids.size > 1, `scaled out: served by ${pids.size} instances`)
  t.ok(pids.size <= 10, 'never more than max-scale instances served')
  const rev = await revisionInstances(s, 'overload-00001')
  t.ok(rev !== undefined && rev.instances.length <= 10, `at most 10 instances exist (${rev?.instances.length})`)
  const as = (await autoscaler(s))['default/overload-00001']
  t.match(as, { containerConcurrency: 1, maxScale: 10, targetBurstCapacity: -1 }, '/debug/autoscaler shows the revision config')
  // `desired` is the decider's unbounded recommendation; `scale` is what was applied.
  t.ok(typeof as?.scale === 'number' && (as.scale as number) >= 2 && (as.scale as number) <= 10, `scale ${as?.scale} within max-scale (desired ${as?.desired})`)
  const m = (await s.admin('/metrics')).body
  const desired = metric(m, 'sluice_autoscaler_desired_instances', { revision: 'overload-00001' })
  t.ok(desired !== undefined && desired >= 1 && desired <= 10, `sluice_autoscaler_desired_instances ${desired}`)
  t.ok((metric(m, 'sluice_instances', { state: 'ready' }) ?? 0) >= 4, 'sluice_instances counts ready instances')
  t.equal(metric(m, 'sluice_activator_queue_depth', { revision: 'overload-00001' }), 0, 'sluice_activator_queue_depth back to 0')
  t.ok((metric(m, 'sluice_activator_wait_seconds_count', { revision: 'overload-00001' }) ?? 0) > 0, 'requests waited for a slot')
})

t.test('revision status and /debug/instances show the scaled revision', async (t) => {
  const rev = await resource(s, 'Revision', 'victim-00001')
  t.equal(rev?.status?.desiredReplicas, 3)
  t.equal(rev?.status?.actualReplicas, 3)
  t.equal(cond(rev, 'Active')?.status, 'True')
  const inst = await revisionInstances(s, 'victim-00001')
  t.match(inst, { desired: 3, ready: 3, everReady: true })
  t.equal(inst?.instances.length, 3)
  for (const i of inst?.instances ?? []) {
    t.match(i, { state: 'ready', origin: `http://127.0.0.1:${i.port}`, restarts: 0 }, i.id)
    t.type(i.pid, 'number')
    t.type(i.inflight, 'number')
  }
})

t.test('an instance SIGKILLed under load loses only requests that were running on it', async (t) => {
  const before = await revisionInstances(s, 'victim-00001')
  const outcomes: Outcome[] = []
  // The load runs until 30 more requests were answered after the kill (bounded by count and time).
  let afterKill = Infinity
  const load = hammer(s.port, 'victim', '/?sleep=150', {
    clients: 6, durationMs: 60_000, maxPerClient: 200, prefix: 'v', onOutcome: (o) => outcomes.push(o),
    stop: () => outcomes.length >= afterKill + 30,
  })
  // Kill once the load is steady: an instance that already answered is running a request (with
  // 6 clients on 3 instances of cc=1, others wait behind it).
  const target = await waitFor(async () => {
    const served = new Set(outcomes.map(pidOf))
    const now = await revisionInstances(s, 'victim-00001')
    return now?.instances.find((i) => i.state === 'ready' && i.pid !== undefined && i.inflight > 0 && served.has(i.pid))
  }, { what: 'a busy victim instance that already served a request', timeoutMs: 30_000, everyMs: 20 })
  const victim = { id: target.id, pid: target.pid! }
  afterKill = outcomes.length
  process.kill(target.pid!, 'SIGKILL')
  const out = await load
  t.comment(`killed ${victim.id} (pid ${victim.pid}) with ${target.inflight} in flight`)
  t.ok(before?.instances.some((i) => i.pid === victim!.pid), 'it was one of the instances')

  // What reached the killed process (it logged each id on arrival) and what it answered.
  const received = new Set(readFileSync(path.join(logDir, `${victim.pid}.log`), 'utf8').split('\n').filter((l) => l !== ''))
  const answered = new Set(out.filter((o) => pidOf(o) === victim!.pid).map((o) => o.id))
  const unanswered = [...received].filter((id) => !answered.has(id))
  const failed = out.filter((o) => o.status !== 200)
  t.ok(out.length >= 30, `${out.length} requests, ${failed.length} failed`)
  t.ok(answered.size > 0, `the killed instance served ${answered.size} requests before`)
  // Only a request running on the killed process may fail; with cc=1 that is at most one.
  t.ok(unanswered.length <= 1, `at most cc=1 request was running on it (${unanswered.join(',')})`)
  const lost = failed.filter((o) => !unanswered.includes(o.id))
  t.same(lost.map((o) => `${o.id}: ${o.status} ${o.error ?? o.body.trim()}`), [], 'every other request got 200')
  for (const f of failed) t.equal(f.status, 502, `${f.id} failed as an upstream failure (${f.body.trim()})`)
  t.ok(out.filter((o) => o.status === 200).every((o) => pidOf(o) !== undefined), 'every 200 came from an instance')

  // The runtime replaces the crashed instance: min-scale 3 again.
  const back = await eventually(async () => {
    const r = await revisionInstances(s, 'victim-00001')
    return r?.ready === 3 && r.instances.every((i) => i.pid !== victim!.pid)
  }, 60_000, 100)
  t.ok(back, 'three ready instances again, without the killed one')
  const after = await revisionInstances(s, 'victim-00001')
  t.ok(after?.instances.some((i) => i.restarts === 1), 'its replacement counts one restart')
  const again = await burst(s.port, 'victim', '/', 10, 'after')
  t.same(countBy(again, (o) => o.status), { 200: 10 }, 'served after the replacement')
})

t.test('sluice SIGTERM stops every instance it started', async (t) => {
  t.ok(appPids(TAG).length >= 4, 'instances are running before the stop')
  t.equal(await s.stop(), 0, 'clean exit')
  t.ok(await eventually(() => appPids(TAG).length === 0, 30_000, 50), 'no app process left')
})

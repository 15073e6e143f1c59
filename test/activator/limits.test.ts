// Where the activator says no, with real processes: a full revision queue answers 503 with
// Retry-After; timeoutSeconds bounds the wait of a buffered request (504 'activator request
// timeout') when no instance is ready; a crash-looping new revision is Ready=False (ExitCode1)
// while traffic stays on the previous ready revision.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { eventually, metric, startSluice } from '../fixtures/sluice.ts'
import {
  appPids, appServiceYaml, attempt, burst, cond, configMapYaml, countBy, resource, revisionInstances, type AppService, type Outcome,
} from './fixtures/helpers.ts'

const TAG = `limits-${process.pid}`
const dir = mkdtempSync(path.join(tmpdir(), 'sluice-limits-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const readyFile = path.join(dir, 'ready')
writeFileSync(readyFile, 'yes')

const crashy = (v: number): AppService => ({
  name: 'crashy', env: { VERSION: String(v) },
  ...(v === 2 ? { command: [process.execPath, '-e', 'process.exit(1)', '--', `--tag=${TAG}`] } : {}),
})

const s = await startSluice({
  'sluice.yaml': configMapYaml('config-sluice', { 'activator-queue-depth': '5' }),
  'narrow.yaml': appServiceYaml(TAG, { name: 'narrow', containerConcurrency: 1, annotations: { 'autoscaling.knative.dev/max-scale': '1' } }),
  'sulky.yaml': appServiceYaml(TAG, {
    name: 'sulky', timeoutSeconds: 2, env: { APP_READY_FILE: readyFile }, readinessPath: '/ready', periodSeconds: 1, failureThreshold: 1,
  }),
  'crashy.yaml': appServiceYaml(TAG, crashy(1)),
})
t.teardown(() => s.stop())

t.test('the revisions become ready', async (t) => {
  for (const rev of ['narrow-00001', 'sulky-00001', 'crashy-00001']) {
    t.ok(await eventually(async () => cond(await resource(s, 'Revision', rev), 'Ready')?.status === 'True', 60_000, 100), `${rev} Ready`)
  }
})

t.test('a full revision queue answers 503 with Retry-After', async (t) => {
  // The app holds the busy request until the release file exists: the slot stays taken for as long
  // as the checks take, however slow the machine.
  const release = path.join(dir, 'release-busy')
  const busy = attempt(s.port, 'narrow', `/?hold=${encodeURIComponent(release)}`, 'busy', { timeoutMs: 60_000 })
  t.ok(await eventually(async () => (await revisionInstances(s, 'narrow-00001'))?.instances[0]?.inflight === 1, 30_000, 20), 'the only slot is taken')
  const queued = burst(s.port, 'narrow', '/', 5, 'queued', 60_000)
  let queuedDone = false
  void queued.then(() => { queuedDone = true })
  const depth = async (): Promise<number | undefined> => metric((await s.admin('/metrics')).body, 'sluice_activator_queue_depth', { revision: 'narrow-00001' })
  t.ok(await eventually(async () => (await depth()) === 5, 30_000, 20), 'five requests wait: the queue is full (sluice_activator_queue_depth 5)')
  const refused = await burst(s.port, 'narrow', '/', 3, 'refused')
  for (const r of refused) {
    t.equal(r.status, 503, `${r.id} refused`)
    t.equal(r.headers['retry-after'], '1', 'with Retry-After')
    t.match(r.body, /too many requests waiting for narrow-00001/)
  }
  t.notOk(queuedDone, 'refused at once, not after waiting: the queued requests still wait')
  writeFileSync(release, '')
  const served = [await busy, ...(await queued)]
  t.same(countBy(served, (o) => o.status), { 200: 6 }, 'the running and the queued requests are all served')
  const m = (await s.admin('/metrics')).body
  t.equal(metric(m, 'sluice_activator_overflows_total', { revision: 'narrow-00001' }), 3, 'sluice_activator_overflows_total')
  t.equal(metric(m, 'sluice_activator_queue_depth', { revision: 'narrow-00001' }), 0, 'queue empty again')
})

t.test('timeoutSeconds bounds the wait when no instance is ready: 504 activator request timeout', async (t) => {
  t.equal((await attempt(s.port, 'sulky', '/', 'ok-before')).status, 200, 'served while ready')
  rmSync(readyFile)
  t.ok(await eventually(async () => (await revisionInstances(s, 'sulky-00001'))?.ready === 0, 30_000, 50), 'its only instance fails readiness and leaves rotation')
  const r = await attempt(s.port, 'sulky', '/', 'waits', { timeoutMs: 15_000 })
  t.equal(r.status, 504, 'gateway timeout')
  t.equal(r.body, 'activator request timeout\n')
  // Not before timeoutSeconds; the activator's 504 says it was that timer, so no upper bound.
  t.ok(r.ms >= 1_900, `after timeoutSeconds: 2 (${Math.round(r.ms)} ms)`)
  const rev = await resource(s, 'Revision', 'sulky-00001')
  t.equal(cond(rev, 'Ready')?.status, 'True', 'the revision stays Ready (it was ready once)')
  t.equal(rev?.status?.actualReplicas, 0, 'actualReplicas 0 while unready')
  const m = (await s.admin('/metrics')).body
  t.ok((metric(m, 'sluice_activator_timeouts_total', { revision: 'sulky-00001' }) ?? 0) >= 1, 'sluice_activator_timeouts_total counts it')
  // Readiness comes back: buffered requests go through again.
  const pending = attempt(s.port, 'sulky', '/', 'waits-for-ready', { timeoutMs: 15_000 })
  writeFileSync(readyFile, 'yes')
  const back = await pending
  t.equal(back.status, 200, `served again once readiness passes (${back.body.trim()})`)
})

t.test('a crash-looping new revision fails with ExitCode1; traffic stays on the ready one', async (t) => {
  s.write('crashy.yaml', appServiceYaml(TAG, crashy(2)))
  const failed = await eventually(async () => cond(await resource(s, 'Revision', 'crashy-00002'), 'Ready')?.status === 'False', 60_000, 100)
  t.ok(failed, 'crashy-00002 is Ready=False')
  const rev = await resource(s, 'Revision', 'crashy-00002')
  t.equal(cond(rev, 'Ready')?.reason, 'ExitCode1', `reason ExitCode1 (${cond(rev, 'Ready')?.message})`)
  t.match(cond(rev, 'Ready')?.message, /exited with code 1/)
  const inst = await revisionInstances(s, 'crashy-00002')
  t.equal(inst?.failure?.reason, 'ExitCode1', '/debug/instances shows the failure')
  t.equal(inst?.everReady, false)
  const svc = await resource(s, 'Service', 'crashy')
  t.equal(svc?.status?.latestCreatedRevisionName, 'crashy-00002')
  t.equal(svc?.status?.latestReadyRevisionName, 'crashy-00001')
  t.same(svc?.status?.traffic?.map((tr) => [tr.revisionName, tr.percent]), [['crashy-00001', 100]], 'status traffic stays on crashy-00001')
  const out: Outcome[] = await burst(s.port, 'crashy', '/', 10, 'crashy')
  t.same(countBy(out, (o) => o.status), { 200: 10 }, 'all served')
  t.ok(out.every((o) => o.status === 200 && (JSON.parse(o.body) as { revision: string }).revision === 'crashy-00001'), 'by crashy-00001')
})

t.test('sluice SIGTERM stops every instance it started', async (t) => {
  t.ok(appPids(TAG).length >= 3, 'instances are running before the stop')
  t.equal(await s.stop(), 0, 'clean exit')
  t.ok(await eventually(() => appPids(TAG).length === 0, 30_000, 50), 'no app process left')
})

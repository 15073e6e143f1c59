// `sluice serve --workers 2`: the activator's queue bound holds for all workers together (the rest
// get 503 at once), and SIGTERM drains every worker: requests held in both finish with 200, new
// connections are refused, and the process exits 0.
import t from 'tap'
import { writeFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { startSluice, metric, tempDir } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { appServiceYaml, configMapYaml, host } from '../activator/fixtures/helpers.ts'
import { STAMP_OBJECT, STAMP_PLUGIN, get, workers, type Answer } from './fixtures.ts'

const TAG = `workers-drain-test-${process.pid}`
const dir = tempDir('sluice-workers-hold-')
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const s = await startSluice({
  'stamp.ts': STAMP_PLUGIN,
  'plugins.yaml': STAMP_OBJECT + '---\n' + configMapYaml('config-sluice', { plugins: 'default/stamp', 'activator-queue-depth': '2' }),
  'one.yaml': appServiceYaml(TAG, { name: 'one', containerConcurrency: 1, env: { APP_OVERLAP: '1' }, annotations: { 'autoscaling.knative.dev/max-scale': '1' } }),
  'many.yaml': appServiceYaml(TAG, { name: 'many' }),
}, { args: ['--workers', '2'] })
t.teardown(() => s.stop())

const gauge = async (name: string, revision: string): Promise<number> => metric((await s.admin('/metrics')).body, name, { revision }) ?? 0

t.test('the queue bound holds across workers: at most activator-queue-depth wait, the rest get 503', async (t) => {
  await waitFor(async () => (await get(s.port, host('one'))).status === 200, { what: 'the one route', timeoutMs: 60_000 })
  const release = path.join(dir, 'one')
  const pending: Promise<Answer>[] = []
  for (let i = 0; i < 8; i++) pending.push(get(s.port, host('one'), `/?hold=${encodeURIComponent(release)}`))
  const refused = await waitFor(async () => {
    const inflight = await gauge('sluice_revision_inflight_requests', 'one-00001')
    const overflows = await gauge('sluice_activator_overflows_total', 'one-00001')
    return inflight + overflows === 8 ? overflows : null
  }, { what: 'every request running, waiting or refused', timeoutMs: 30_000 })
  const waiting = await gauge('sluice_activator_queue_depth', 'one-00001')
  t.ok(waiting <= 2, `no more than 2 wait in all workers together (${waiting})`)
  t.ok(refused >= 8 - 1 - 2, `the others were refused (${refused})`)
  writeFileSync(release, '')
  const answers = await Promise.all(pending)
  t.equal(answers.filter((a) => a.status === 503).length, refused, 'refused with 503')
  t.equal(answers.filter((a) => a.status === 200).length, 8 - refused, 'the admitted ones finish, one at a time')
})

t.test('SIGTERM drains every worker', async (t) => {
  await waitFor(async () => (await get(s.port, host('many'))).status === 200, { what: 'the many route', timeoutMs: 60_000 })
  const release = path.join(dir, 'many')
  const pending: Promise<Answer>[] = []
  // Held requests on new connections until both workers have one in flight.
  await waitFor(async () => {
    pending.push(get(s.port, host('many'), `/?hold=${encodeURIComponent(release)}`))
    const n = pending.length
    const view = await waitFor(async () => {
      const v = await workers(s)
      return v.workers.reduce((sum, w) => sum + (w.inflight ?? 0), 0) === n ? v : null
    }, { what: `${n} requests in flight`, timeoutMs: 30_000 })
    return view.workers.every((w) => (w.inflight ?? 0) > 0)
  }, { what: 'a held request in each worker', timeoutMs: 60_000 })
  const exit = s.stop('SIGTERM')
  // New connections are refused once both workers closed their listeners.
  await waitFor(async () => get(s.port, host('many'), '/', { timeoutMs: 2_000 }).then(() => false, () => true),
    { what: 'new connections refused', timeoutMs: 30_000 })
  writeFileSync(release, '')
  const answers = await Promise.all(pending)
  t.same([...new Set(answers.map((a) => a.status))], [200], `all ${answers.length} held requests finished`)
  t.equal(new Set(answers.map((a) => a.worker)).size, 2, 'in both workers')
  t.equal(await exit, 0, 'exits 0: drained in time')
})

// `sluice serve --workers 2` as a child process: both worker threads serve the shared port,
// containerConcurrency 1 holds across them (the app answers 500 when two requests overlap), a
// revision at zero starts from a request through either worker, /metrics counts every request
// once, a reload reaches every worker, and a worker that dies is started again while the other
// keeps its connections.
import t from 'tap'
import http from 'node:http'
import { spawnSync } from 'node:child_process'
import { startSluice, metric, serviceYaml } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { appServiceYaml, configMapYaml, host, revisionInstances } from '../activator/fixtures/helpers.ts'
import { STAMP_OBJECT, STAMP_PLUGIN, get, workers, type Answer } from './fixtures.ts'

const TAG = `workers-test-${process.pid}`

let counted = 0
const up = http.createServer((_req, res) => { counted++; res.end('counted\n') })
await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve))
t.teardown(() => up.close())
const upOrigin = `http://127.0.0.1:${(up.address() as { port: number }).port}`

// A fixed upstream that counts its own concurrency (containerConcurrency 1 through sluice.dev/upstream).
let running = 0
let most = 0
const single = http.createServer((_req, res) => {
  most = Math.max(most, ++running)
  setTimeout(() => { running--; res.end('ok\n') }, 10)
})
await new Promise<void>((resolve) => single.listen(0, '127.0.0.1', resolve))
t.teardown(() => single.close())
const singleYaml = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: single}
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: "http://127.0.0.1:${(single.address() as { port: number }).port}"}
    spec:
      containerConcurrency: 1
      containers: [{image: example.dev/single}]
`

const s = await startSluice({
  'stamp.ts': STAMP_PLUGIN,
  'plugins.yaml': STAMP_OBJECT + '---\n' + configMapYaml('config-sluice', { plugins: 'default/stamp' }),
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true' }),
  'count.yaml': serviceYaml('count', upOrigin),
  'single.yaml': singleYaml,
  'one.yaml': appServiceYaml(TAG, { name: 'one', containerConcurrency: 1, env: { APP_OVERLAP: '1' }, annotations: { 'autoscaling.knative.dev/max-scale': '1' } }),
  'lazy.yaml': appServiceYaml(TAG, { name: 'lazy-a', annotations: { 'autoscaling.knative.dev/initial-scale': '0' } }) + '---\n' +
    appServiceYaml(TAG, { name: 'lazy-b', annotations: { 'autoscaling.knative.dev/initial-scale': '0' } }),
}, { args: ['--workers', '2'] })
t.teardown(() => s.stop())

/** Worker thread ids seen on new connections to `count`, until both answered (bounded). */
async function bothWorkers(service = 'count'): Promise<Set<string>> {
  const seen = new Set<string>()
  await waitFor(async () => {
    const a = await get(s.port, host(service))
    if (a.status === 200) seen.add(a.worker)
    return seen.size >= 2
  }, { what: () => `answers from two workers on ${service} (seen: ${[...seen].join(', ')})`, timeoutMs: 30_000, everyMs: 1 })
  return seen
}

/** A keep-alive connection that lands on worker `worker` (new connections are tried until one does). */
async function connectionOn(worker: string): Promise<{ agent: http.Agent; first: Answer }> {
  return waitFor(async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const first = await get(s.port, host('count'), '/', { agent })
    if (first.worker === worker) return { agent, first }
    agent.destroy()
    return null
  }, { what: `a connection on worker ${worker}`, timeoutMs: 30_000, everyMs: 1 })
}

t.test('both workers serve the shared port', async (t) => {
  await waitFor(async () => (await get(s.port, host('count'))).status === 200, { what: 'the count route', timeoutMs: 30_000 })
  const seen = await bothWorkers()
  t.equal(seen.size, 2)
  const view = await workers(s)
  t.equal(view.count, 2)
  t.ok(view.workers.every((w) => w.listening && (w.requests ?? 0) > 0), 'each worker counted requests of its own')
})

t.test('containerConcurrency 1 is never exceeded across workers', async (t) => {
  await waitFor(async () => (await get(s.port, host('one'))).status === 200, { what: 'the one route', timeoutMs: 60_000 })
  const answers = await Promise.all(Array.from({ length: 40 }, () => get(s.port, host('one'), '/?sleep=20')))
  const statuses = answers.map((a) => a.status)
  t.same([...new Set(statuses)], [200], 'no request overlapped another on the instance (the app answers 500 then)')
  t.ok(new Set(answers.map((a) => a.worker)).size >= 2, 'the requests came through both workers')
  t.ok(answers.every((a) => !(JSON.parse(a.body) as { overlapped: boolean }).overlapped))
})

t.test('containerConcurrency 1 of a fixed upstream holds across workers too', async (t) => {
  await waitFor(async () => (await get(s.port, host('single'))).status === 200, { what: 'the single route', timeoutMs: 30_000 })
  most = 0
  const answers = await Promise.all(Array.from({ length: 30 }, () => get(s.port, host('single'))))
  t.same([...new Set(answers.map((a) => a.status))], [200])
  t.ok(new Set(answers.map((a) => a.worker)).size >= 2, 'through both workers')
  t.equal(most, 1, 'the upstream never saw two requests at once')
})

t.test('a revision at zero starts from a request through either worker', async (t) => {
  const threads = [...await bothWorkers()]
  for (const [i, name] of ['lazy-a', 'lazy-b'].entries()) {
    t.equal((await revisionInstances(s, `${name}-00001`))?.ready ?? 0, 0, `${name} is at zero`)
    const { agent } = await connectionOn(threads[i]!)
    const a = await get(s.port, host(name), '/', { agent })
    t.equal(a.status, 200, `${name} answered after its cold start`)
    t.equal(a.worker, threads[i], `through worker ${threads[i]}`)
    t.ok(a.reused, 'on the connection that was on that worker')
    agent.destroy()
  }
})

t.test('/metrics merges the workers: each request counted once', async (t) => {
  const before = counted
  const metricBefore = metric((await s.admin('/metrics')).body, 'sluice_requests_total', { route: 'count' }) ?? 0
  t.equal(metricBefore, before, 'so far')
  const answers = await Promise.all(Array.from({ length: 30 }, () => get(s.port, host('count'))))
  t.ok(new Set(answers.map((a) => a.worker)).size >= 1)
  const r = await s.admin('/metrics')
  t.equal(metric(r.body, 'sluice_requests_total', { route: 'count' }), counted, 'the upstream\'s own count')
  t.equal(counted - before, 30)
  t.equal((r.body.match(/^sluice_routes /gm) ?? []).length, 1, 'the route count once (max of the workers, not their sum)')
  t.equal((r.body.match(/^# TYPE sluice_requests_total /gm) ?? []).length, 1, 'one family, not one per worker')
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    t.comment(`promtool is not installed (${probe.error.message}); install the Debian package "prometheus" to check the exposition`)
    return
  }
  const check = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8', timeout: 10_000 })
  t.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`)
})

t.test('a reload swaps the table in every worker', async (t) => {
  const before = (await workers(s)).table
  s.write('later.yaml', serviceYaml('later', upOrigin))
  const view = await waitFor(async () => {
    const v = await workers(s)
    return v.table > before && v.workers.every((w) => w.version === v.table) ? v : null
  }, { what: 'every worker on the new table', timeoutMs: 30_000 })
  t.ok(view.table > before)
  const seen = await bothWorkers('later')
  t.equal(seen.size, 2, 'the new route answers through both workers')
})

t.test('a worker that dies is started again; the other keeps its connections', async (t) => {
  const [w1, w2] = [...await bothWorkers()]
  const a = await connectionOn(w1!)
  const b = await connectionOn(w2!)
  // The plugin throws in w2 after this request's onRequest: the worker thread dies.
  await get(s.port, host('count'), '/', { agent: b.agent, headers: { 'x-crash': '1' } }).catch(() => null)
  const view = await waitFor(async () => {
    const v = await workers(s)
    return v.workers.reduce((n, w) => n + w.restarts, 0) >= 1 && v.workers.every((w) => w.listening) ? v : null
  }, { what: 'the crashed worker to be running again', timeoutMs: 60_000 })
  t.equal(view.workers.reduce((n, w) => n + w.restarts, 0), 1, 'one restart')
  const again = await get(s.port, host('count'), '/', { agent: a.agent })
  t.equal(again.status, 200)
  t.ok(again.reused, 'the other worker\'s connection stayed open')
  t.equal(again.localPort, a.first.localPort, 'the same connection')
  t.equal(again.worker, w1, 'served by the worker that did not die')
  a.agent.destroy()
  b.agent.destroy()
  const seen = await bothWorkers()
  t.notOk(seen.has(w2!), 'the dead thread is gone')
  t.equal(seen.size, 2, 'a new thread serves in its place')
  t.match(s.logs(), /worker exited; starting it again/)
})

// The dashboard's parts on their own: metrics summed by revision whatever other labels they carry,
// quantiles from histogram buckets, the bounded per-revision history, the snapshot's shapes, the
// bounded event stream over a real socket, and the asset loader's message when files are missing.
import t, { type Test as Tap } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Histogram, Registry } from 'prom-client'
import { RouteSlots, collector } from '../../gateway/metrics/route-slots.ts'
import { MetricReader, isServerError, quantile, revisionKeyOf } from '../../control/admin/dashboard/metric-reader.ts'
import { RevisionHistory } from '../../control/admin/dashboard/revision-history.ts'
import { buildSnapshot, trafficByRevision } from '../../control/admin/dashboard/snapshot.ts'
import { EventStream } from '../../control/admin/dashboard/event-stream.ts'
import { bearerFromBasic, isDashboardPath } from '../../control/admin/dashboard/browser-auth.ts'
import { loadAssets } from '../../control/admin/dashboard/assets.ts'
import { waitFor } from '../fixtures/wait.ts'

type Registrable = Parameters<Registry['registerMetric']>[0]

t.test('labels: revision key and 5xx, by class or by exact code', async (t) => {
  t.equal(revisionKeyOf({ namespace: 'ns', revision: 'r-1', route: 'x' }), 'ns/r-1')
  t.equal(revisionKeyOf({ revision: 'r-1' }), 'r-1', 'no namespace label: the bare name')
  t.equal(revisionKeyOf({ route: 'x' }), undefined)
  t.ok(isServerError({ class: '5xx' }))
  t.notOk(isServerError({ class: '4xx' }))
  t.ok(isServerError({ code: '503' }))
  t.ok(isServerError({ response_code: 502 }))
  t.notOk(isServerError({ code: '200' }))
})

t.test('quantile interpolates inside buckets like histogram_quantile', async (t) => {
  const bounds = [0.1, 0.5, 1, Infinity]
  // 10 requests ≤ 0.1 s, 10 more ≤ 0.5 s (cumulative)
  t.equal(quantile(0.5, bounds, [10, 20, 20, 20], undefined), 0.1)
  t.equal(quantile(0.75, bounds, [10, 20, 20, 20], undefined), 0.30000000000000004)
  t.equal(quantile(0.5, bounds, [10, 20, 20, 20], [10, 20, 20, 20]), null, 'nothing in the window')
  t.equal(quantile(0.5, bounds, [10, 20, 20, 30], [10, 20, 20, 20]), 1, 'all in +Inf: the largest finite bound')
  t.equal(quantile(0.5, bounds, [12, 12, 12, 12], [2, 2, 2, 2]), 0.05, 'the window only')
})

t.test('the reader sums the registry by revision, whatever other labels there are', async (t) => {
  const registry = new Registry()
  const slots = new RouteSlots()
  for (const c of slots.collectors()) registry.registerMetric(c as Registrable)
  slots.slot('default', 'web', { revision: 'web-1' }).record(200, 0.02)
  slots.slot('default', 'web', { revision: 'web-1' }).record(503, 0.2)
  slots.slot('default', 'web-tagged', { revision: 'web-1' }).record(200, 0.02) // a second route to the same revision
  slots.slot('other', 'web', { revision: 'web-1' }).record(200, 0.02)
  registry.registerMetric(collector('sluice_activator_queue_depth', 'q', 'gauge', () => [{ labels: { namespace: 'default', revision: 'web-1' }, value: 3 }]) as Registrable)
  const cold = new Histogram({ name: 'sluice_cold_start_duration_seconds', help: 'c', labelNames: ['namespace', 'revision'], buckets: [1, 5], registers: [registry] })
  cold.observe({ namespace: 'default', revision: 'web-1' }, 0.8)
  const reader = new MetricReader(registry)
  const got = await reader.read(true)
  const web = got.get('default/web-1')!
  t.match(web, { requests: 3, errors: 1, queue: 3, coldStarts: 1, coldStartSeconds: 0.8 })
  t.equal(web.buckets.at(-1), 3, '+Inf bucket counts every request')
  t.equal(got.get('other/web-1')?.requests, 1, 'namespaces apart')
  t.equal(reader.bounds.at(-1), Infinity)

  // a family labelled by exact code and extra labels (service, configuration) reads the same
  const coded = new Registry()
  const c = new Counter({ name: 'sluice_requests_total', help: 'r', labelNames: ['namespace', 'service', 'configuration', 'revision', 'code'], registers: [coded] })
  c.inc({ namespace: 'default', service: 's', configuration: 's', revision: 's-1', code: '200' }, 4)
  c.inc({ namespace: 'default', service: 's', configuration: 's', revision: 's-1', code: '500' }, 1)
  t.match((await new MetricReader(coded).read(true)).get('default/s-1'), { requests: 5, errors: 1 })
  const quiet = (await reader.read(false)).get('default/web-1')!
  t.match(quiet, { requests: 0, queue: 3, coldStarts: 1 }, 'without traffic: the per-revision families only')
})

t.test('history: rates over windows, cold starts from the histogram, bounded', async (t) => {
  const h = new RevisionHistory({ capacity: 5, maxRevisions: 2, rateWindow: 2, latencyWindow: 4, maxColdStarts: 2 })
  const bounds = [0.1, Infinity]
  const counters = (requests: number, errors: number, coldStarts = 0, coldStartSeconds = 0) =>
    ({ requests, errors, buckets: [requests, requests], queue: 1, coldStarts, coldStartSeconds })
  for (let i = 0; i <= 6; i++) {
    const at = i * 1000
    h.record(at, new Map([
      ['ns/a', { ready: i >= 3 ? 1 : 0, counters: counters(i * 10, i, i >= 3 ? 1 : 0, i >= 3 ? 1.5 : 0) }],
      ['ns/b', { ready: null, counters: undefined }],
      ['ns/c', { ready: 2, counters: undefined }],
    ]), bounds)
  }
  t.same(h.instances('ns/a'), [0, 1, 1, 1, 1], 'the last 5 samples only')
  t.same(h.instances('ns/b'), [null, null, null, null, null])
  t.same(h.instances('ns/c'), [], 'beyond maxRevisions: no series')
  const d = h.derived('ns/a')
  t.equal(d.rps, 10, '20 requests in 2 s')
  t.equal(d.errorRate, 0.1, '4 errors in 40 requests')
  t.equal(d.p50, 0.05)
  t.equal(d.queue, 1)
  t.same(h.coldStarts(), [{ at: 3000, revision: 'ns/a', seconds: 1.5, count: 1 }], 'one cold start with its duration')
  t.same(h.derived('ns/b'), { rps: 0, errorRate: null, p50: null, p99: null, queue: 0 }, 'watched, no request: 0/s, no latency')
  // request counts read only while watched: rates need two such samples
  const w = new RevisionHistory({ rateWindow: 10, latencyWindow: 60 })
  const one = (at: number, requests: number, traffic: boolean) =>
    w.record(at, new Map([['ns/w', { ready: 1, counters: { ...counters(requests, 0), requests: traffic ? requests : 0 } }]]), bounds, traffic)
  one(0, 0, false)
  one(1000, 0, false)
  t.same(w.derived('ns/w'), { rps: null, errorRate: null, p50: null, p99: null, queue: 1 }, 'not watched: no rates')
  one(2000, 100, true)
  t.equal(w.derived('ns/w').rps, null, 'the first watched sample starts the window')
  t.equal(w.derived('ns/w').p50, null)
  one(3000, 104, true)
  t.equal(w.derived('ns/w').rps, 4, 'then rates over what was watched')
  t.equal(w.derived('ns/w').errorRate, 0)
  h.record(7000, new Map([['ns/c', { ready: 0, counters: undefined }]]), bounds)
  t.same(h.instances('ns/a'), [], 'a revision gone loses its series')
  t.same(h.instances('ns/c'), [0], 'and makes room for another')
})

t.test('snapshot: serving objects only, traffic summed per revision', async (t) => {
  t.same(trafficByRevision([
    { revisionName: 'a', percent: 50, tag: 'x' },
    { revisionName: 'a', percent: 0, tag: 'y' },
    { revisionName: 'b', percent: 50, latestRevision: true },
  ]), [{ revision: 'a', percent: 50, tags: ['x', 'y'], latest: false }, { revision: 'b', percent: 50, tags: [], latest: true }])
  const snap = buildSnapshot({
    at: 1, loadedAt: 0, ready: true,
    errors: [{ file: 'a.yaml', line: 3, column: 5, path: 'spec.traffic[0].percent', message: 'must be 0..100' }],
    objects: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'core', namespace: 'default' } },
      { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, status: { url: 'http://web', conditions: [{ type: 'Ready', status: 'False', reason: 'RevisionFailed', message: 'boom' }] } },
      { apiVersion: 'serving.knative.dev/v1', kind: 'Revision', metadata: { name: 'web-1', namespace: 'default', labels: { 'serving.knative.dev/service': 'web' } }, status: {} },
    ],
    instances: () => ({ ready: 1, starting: 0, desired: 1 }),
    derived: () => ({ rps: 2, errorRate: 0, p50: 0.01, p99: 0.02, queue: 0 }),
    history: () => [0, 1],
    coldStarts: [{ at: 5, revision: 'default/web-1', seconds: 0.4, count: 1 }],
    queue: 0, historyStepMs: 1000, historyCapacity: 180,
  })
  t.same(snap.services, [{ namespace: 'default', name: 'web', url: 'http://web', status: 'False', reason: 'RevisionFailed', message: 'boom' }], 'the core Service is not drawn')
  t.match(snap.revisions, [{ name: 'web-1', service: 'web', status: 'Unknown', instances: { ready: 1 }, rps: 2, history: [0, 1] }])
  t.equal(snap.errors[0]!.text, 'a.yaml:3:5 spec.traffic[0].percent: must be 0..100', 'file:line:col')
  t.match(snap.coldStarts, [{ namespace: 'default', revision: 'web-1', seconds: 0.4 }])
})

t.test('browser credentials: a Basic password is the bearer token', async (t) => {
  t.equal(bearerFromBasic('Basic ' + Buffer.from('ops:s3cret:x').toString('base64')), 'Bearer s3cret:x')
  t.equal(bearerFromBasic('Bearer abc'), 'Bearer abc')
  t.equal(bearerFromBasic(undefined), undefined)
  t.equal(bearerFromBasic('Basic ' + Buffer.from('nocolon').toString('base64')), undefined)
  t.ok(isDashboardPath('/'))
  t.ok(isDashboardPath('/dashboard/events'))
  t.notOk(isDashboardPath('/metrics'))
})

t.test('assets: found, or an error that says what to do', async (t) => {
  const assets = loadAssets()
  if (assets instanceof Error) throw assets
  t.match(assets.get('/')?.body.toString('utf8'), /<title>Sluice<\/title>/)
  t.same([...assets.keys()].sort(), ['/', '/dashboard/dashboard.css', '/dashboard/dashboard.js'])
  const missing = loadAssets('/nonexistent/dashboard/')
  t.ok(missing instanceof Error)
  t.match((missing as Error).message, /\/nonexistent\/dashboard\/index\.html cannot be read \(ENOENT\).*reinstall/)
})

/** A real server whose every request opens a stream (503 when refused). */
async function streamServer(t: Tap, stream: EventStream): Promise<() => Promise<http.IncomingMessage>> {
  const server = http.createServer((req, res) => {
    if (!stream.open(req, res, '"hello"')) { res.writeHead(503); res.end() }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => { stream.close(); server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return () => new Promise((resolve, reject) => http.get(url, resolve).on('error', reject))
}

t.test('event stream: bounded clients; a client that stops reading is dropped', async (t) => {
  const stream = new EventStream({ maxClients: 2, maxLifetimeMs: 600_000, maxBufferedBytes: 64 * 1024, retryMs: 100 })
  const open = await streamServer(t, stream)
  const a = await open()
  const b = await open()
  t.equal(a.statusCode, 200)
  t.equal(a.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal((await open()).statusCode, 503, 'a third stream is refused')
  let text = ''
  a.setEncoding('utf8').on('data', (d: string) => { text += d })
  await waitFor(() => text.includes('data: "hello"\n\n'), { what: 'the first event' })
  t.match(text, /^retry: 100\n\n/)
  // b never reads: the socket, then the response's buffer fill up, and it is let go
  b.pause()
  const big = JSON.stringify('x'.repeat(32 * 1024))
  await waitFor(() => {
    stream.broadcast(big)
    return stream.size < 2
  }, { what: 'the stalled client dropped', timeoutMs: 20_000, everyMs: 1 })
  t.equal(stream.size, 1, 'the reading client stays')
  t.equal((await open()).statusCode, 200, 'and a new one fits again')
})

t.test('event stream: a stream ends after its lifetime (the browser reconnects)', async (t) => {
  const stream = new EventStream({ maxLifetimeMs: 50 })
  const open = await streamServer(t, stream)
  const a = await open()
  const ended = new Promise<void>((r) => a.once('end', () => r()))
  a.resume()
  await ended
  t.equal(stream.size, 0)
})

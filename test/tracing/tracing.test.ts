// Tracing end to end (issue 15 §1): a real Sluice with config-observability pointing at an OTLP/HTTP
// receiver that decodes the protobuf Sluice's exporter sends. Checked: the span tree of a plain
// request (server → client, the upstream sees the client span as its parent), a failing upstream
// (502, error status on both spans), a cold start (a local-runtime revision at zero: an activator
// wait span with the cold-start attribute), W3C traceparent/tracestate, B3 single and multi
// headers accepted and propagated, an unsampled parent left alone, and the export counters.
import t from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, metric, request, serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { KIND, STATUS_ERROR, startOtlpReceiver, type ReceivedSpan } from '../fixtures/otlp-receiver.ts'
import { appServiceYaml, configMapYaml } from '../activator/fixtures/helpers.ts'
import { docs, plugin, service } from '../plugins/fixtures/e2e.ts'

const TAG = `tracing-${process.pid}`
const receiver = await startOtlpReceiver()
t.teardown(() => receiver.close())
const backend = await startBackend('traced')
t.teardown(() => backend.close())
// A port nobody listens on: connections are refused.
const gone = await startBackend('gone')
await gone.close()

const s = await startSluice({
  'observability.yaml': configMapYaml('config-observability', {
    'tracing-protocol': 'http/protobuf', 'tracing-endpoint': receiver.url, 'tracing-sampling-rate': '1',
  }),
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true' }),
  'plain.yaml': serviceYaml('plain', backend.origin),
  'broken.yaml': serviceYaml('broken', gone.origin),
  'allowed.yaml': docs(service('allowed', backend.origin, 'ip-allow'), plugin('ip-allow', 'ip-filter', { allow: ['127.0.0.0/8'] })),
  'denied.yaml': docs(service('denied', backend.origin, 'ip-deny'), plugin('ip-deny', 'ip-filter', { deny: ['127.0.0.0/8'] })),
  'lazy.yaml': appServiceYaml(TAG, { name: 'lazy', annotations: { 'autoscaling.knative.dev/initial-scale': '0' } }),
})
t.teardown(() => s.stop())
const host = (name: string): string => `${name}.default.localhost`
t.ok(await eventually(async () => (await request(s.port, host('plain'))).status === 200, 60_000, 100), 'plain is served')

/** The spans of one trace, once `n` of them arrived. */
async function traceOf(traceId: string, n: number): Promise<ReceivedSpan[]> {
  await eventually(() => receiver.spans.filter((x) => x.traceId === traceId).length >= n, 30_000, 50)
  return receiver.spans.filter((x) => x.traceId === traceId)
}

/** The last request the backend saw with this marker header. */
function seen(marker: string): Record<string, string | string[] | undefined> {
  const r = backend.requests.findLast((x) => x.headers['x-test'] === marker)
  if (r === undefined) throw new Error(`the backend never saw ${marker}`)
  return r.headers
}

const traceIdOf = (traceparent: unknown): string => String(traceparent).split('-')[1]!
const parentIdOf = (traceparent: unknown): string => String(traceparent).split('-')[2]!

t.test('a plain request: a server span with a client child, and the upstream sees the client span', async (t) => {
  const r = await request(s.port, host('plain'), '/hello?x=1', { headers: { 'x-test': 'plain' } })
  t.equal(r.status, 200)
  const tp = seen('plain').traceparent
  t.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'a sampled traceparent went upstream')
  const spans = await traceOf(traceIdOf(tp), 2)
  const server = spans.find((x) => x.kind === KIND.SERVER)
  const client = spans.find((x) => x.kind === KIND.CLIENT)
  t.ok(server && client, 'server and client spans exported')
  if (!server || !client) return
  t.equal(server.parentSpanId, '', 'the server span is the root')
  t.equal(client.parentSpanId, server.spanId, 'the client span is its child')
  t.equal(parentIdOf(tp), client.spanId, 'the upstream\'s parent is the client span')
  t.equal(server.service, 'sluice')
  t.match(server.attributes, { 'http.request.method': 'GET', 'url.path': '/hello', 'server.address': host('plain'), 'http.response.status_code': 200, 'sluice.revision': 'default/plain-00001' })
  t.ok(Number(server.attributes['http.response.body.size']) > 0, 'bytes counted')
  t.equal(client.attributes['http.response.status_code'], 200)
  t.equal(server.status.code, 0)
  t.notOk(spans.some((x) => x.name === 'activator wait'), 'no wait span: an instance was ready')
  t.ok(server.startMs <= client.startMs && client.endMs <= server.endMs + 1, 'the client span lies within the server span')
})

t.test('a failing upstream: 502, error status on the server and client spans', async (t) => {
  const r = await request(s.port, host('broken'), '/', { headers: { traceparent: '00-11111111111111111111111111111111-2222222222222222-01' } })
  t.equal(r.status, 502)
  const spans = await traceOf('11111111111111111111111111111111', 2)
  const server = spans.find((x) => x.kind === KIND.SERVER)!
  const client = spans.find((x) => x.kind === KIND.CLIENT)!
  t.equal(server.status.code, STATUS_ERROR, 'server span status ERROR')
  t.equal(client.status.code, STATUS_ERROR, 'client span status ERROR')
  t.equal(server.attributes['http.response.status_code'], 502)
  t.equal(client.attributes['error.type'], 'ECONNREFUSED')
  t.equal(server.parentSpanId, '2222222222222222')
})

t.test('a cold start: the activator wait span says so', async (t) => {
  const r = await request(s.port, host('lazy'), '/', { timeoutMs: 30_000, headers: { traceparent: '00-33333333333333333333333333333333-4444444444444444-01' } })
  t.equal(r.status, 200, r.body)
  const spans = await traceOf('33333333333333333333333333333333', 3)
  const server = spans.find((x) => x.kind === KIND.SERVER)!
  const wait = spans.find((x) => x.name === 'activator wait')
  const client = spans.find((x) => x.kind === KIND.CLIENT)!
  t.ok(wait, 'an activator wait span')
  if (!wait) return
  t.equal(wait.parentSpanId, server.spanId, 'a child of the server span')
  t.equal(wait.attributes['sluice.cold_start'], true, 'cold start')
  t.ok(Number(wait.attributes['sluice.queue_time_ms']) > 0, 'queue time recorded')
  t.ok(wait.endMs <= client.startMs + 1, 'the upstream call starts after the wait')
})

t.test('plugin decisions are events on the server span', async (t) => {
  const r = await request(s.port, host('allowed'), '/', { headers: { traceparent: '00-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-cccccccccccccccc-01' } })
  t.equal(r.status, 200)
  const spans = await traceOf('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 2)
  const server = spans.find((x) => x.kind === KIND.SERVER)!
  t.ok(spans.some((x) => x.kind === KIND.CLIENT && x.parentSpanId === server.spanId), 'proxied: a client span')
  t.same(server.events.map((e) => e.name), ['onRequest passed'])

  const d = await request(s.port, host('denied'), '/', { headers: { traceparent: '00-dddddddddddddddddddddddddddddddd-cccccccccccccccc-01' } })
  t.equal(d.status, 403)
  const denied = await traceOf('dddddddddddddddddddddddddddddddd', 1)
  t.equal(denied.length, 1, 'answered by the plugin: the server span alone')
  t.same(denied[0]!.events, [{ name: 'onRequest answered', attributes: { 'sluice.detail': '403' } }])
  t.equal(denied[0]!.attributes['http.response.status_code'], 403)
})

t.test('W3C traceparent and tracestate: continued and propagated', async (t) => {
  await request(s.port, host('plain'), '/', { headers: { 'x-test': 'w3c', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' } })
  const h = seen('w3c')
  t.equal(traceIdOf(h.traceparent), '0af7651916cd43dd8448eb211c80319c', 'same trace upstream')
  t.equal(h.tracestate, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'tracestate forwarded')
  const spans = await traceOf('0af7651916cd43dd8448eb211c80319c', 2)
  const server = spans.find((x) => x.kind === KIND.SERVER)!
  const client = spans.find((x) => x.kind === KIND.CLIENT)!
  t.equal(server.parentSpanId, 'b7ad6b7169203331', 'the caller\'s span is the parent')
  t.equal(parentIdOf(h.traceparent), client.spanId)
})

t.test('B3 single header: continued, and propagated as b3 and traceparent', async (t) => {
  const traceId = '80f198ee56343ba864fe8b2a57d3eff7'
  await request(s.port, host('plain'), '/', { headers: { 'x-test': 'b3single', b3: `${traceId}-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90` } })
  const h = seen('b3single')
  const spans = await traceOf(traceId, 2)
  const server = spans.find((x) => x.kind === KIND.SERVER)!
  const client = spans.find((x) => x.kind === KIND.CLIENT)!
  t.equal(server.parentSpanId, 'e457b5a2e4d86bd1')
  t.equal(h.b3, `${traceId}-${client.spanId}-1`, 'b3 carries the client span')
  t.equal(traceIdOf(h.traceparent), traceId, 'and W3C too')
  t.equal(h['x-b3-traceid'], undefined, 'no multi headers invented')
})

t.test('B3 multi headers: continued, and propagated as x-b3-*', async (t) => {
  const traceId = '463ac35c9f6413ad48485a3953bb6124'
  await request(s.port, host('plain'), '/', { headers: { 'x-test': 'b3multi', 'x-b3-traceid': traceId, 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' } })
  const h = seen('b3multi')
  const spans = await traceOf(traceId, 2)
  const server = spans.find((x) => x.kind === KIND.SERVER)!
  const client = spans.find((x) => x.kind === KIND.CLIENT)!
  t.equal(server.parentSpanId, 'a2fb4a1d1a96d312')
  t.equal(h['x-b3-traceid'], traceId)
  t.equal(h['x-b3-spanid'], client.spanId)
  t.equal(h['x-b3-sampled'], '1')
  t.equal(h.b3, undefined, 'no single header invented')
})

t.test('an unsampled parent: no spans, the headers pass as they came', async (t) => {
  const unsampled = '00-55555555555555555555555555555555-6666666666666666-00'
  await request(s.port, host('plain'), '/', { headers: { 'x-test': 'unsampled', traceparent: unsampled } })
  t.equal(seen('unsampled').traceparent, unsampled)
  await request(s.port, host('plain'), '/', { headers: { 'x-b3-traceid': '77777777777777777777777777777777', 'x-b3-spanid': '8888888888888888', 'x-b3-sampled': '0', 'x-test': 'b3-unsampled' } })
  t.equal(seen('b3-unsampled')['x-b3-sampled'], '0')
  // A sampled request sent after them is exported; theirs never are.
  await request(s.port, host('plain'), '/', { headers: { traceparent: '00-99999999999999999999999999999999-aaaaaaaaaaaaaaaa-01' } })
  await traceOf('99999999999999999999999999999999', 2)
  t.notOk(receiver.spans.some((x) => x.traceId.startsWith('5555') || x.traceId.startsWith('7777')), 'nothing exported for them')
})

t.test('export counters on /metrics', async (t) => {
  const ok = await eventually(async () => (metric((await s.admin('/metrics')).body, 'sluice_tracing_spans_exported_total') ?? 0) >= receiver.spans.length, 30_000, 100)
  t.ok(ok, 'exported spans counted')
  const body = (await s.admin('/metrics')).body
  t.equal(metric(body, 'sluice_tracing_spans_dropped_total'), 0, 'none dropped')
  t.equal(receiver.rejected, 0, 'every export was OTLP protobuf')
})

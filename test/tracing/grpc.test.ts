// config-observability's `tracing-protocol: grpc` exports over OTLP/gRPC (the SDK's
// @opentelemetry/exporter-trace-otlp-grpc): a real Sluice pointed at the test receiver in gRPC mode,
// which decodes TraceService/Export with OpenTelemetry's own protobuf definitions. Checked: the span
// tree of a plain request (server → client, the upstream sees the client span as its parent) and
// the export counter; a failing collector counts its spans as failed.
import t from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, metric, request, serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { KIND, startOtlpReceiver, type ReceivedSpan } from '../fixtures/otlp-receiver.ts'
import { configMapYaml } from '../activator/fixtures/helpers.ts'

const receiver = await startOtlpReceiver({ grpc: true })
t.teardown(() => receiver.close())
const backend = await startBackend('traced-grpc')
t.teardown(() => backend.close())

const s = await startSluice({
  'observability.yaml': configMapYaml('config-observability', {
    'tracing-protocol': 'grpc', 'tracing-endpoint': receiver.url, 'tracing-sampling-rate': '1',
  }),
  'plain.yaml': serviceYaml('plain', backend.origin),
})
t.teardown(() => s.stop())
const host = 'plain.default.localhost'
t.ok(await eventually(async () => (await request(s.port, host)).status === 200, 60_000, 100), 'plain is served')

async function traceOf(traceId: string, n: number): Promise<ReceivedSpan[]> {
  await eventually(() => receiver.spans.filter((x) => x.traceId === traceId).length >= n, 30_000, 50)
  return receiver.spans.filter((x) => x.traceId === traceId)
}

t.test('a plain request\'s span tree arrives over gRPC', async (t) => {
  const r = await request(s.port, host, '/over-grpc?x=1', { headers: { 'x-test': 'grpc' } })
  t.equal(r.status, 200)
  const seen = backend.requests.findLast((x) => x.headers['x-test'] === 'grpc')
  const tp = String(seen?.headers.traceparent)
  t.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'a sampled traceparent went upstream')
  const spans = await traceOf(tp.split('-')[1]!, 2)
  t.ok(receiver.grpcExports > 0, 'received as TraceService/Export calls')
  const server = spans.find((x) => x.kind === KIND.SERVER)
  const client = spans.find((x) => x.kind === KIND.CLIENT)
  t.ok(server && client, 'server and client spans exported')
  if (!server || !client) return
  t.equal(server.parentSpanId, '', 'the server span is the root')
  t.equal(client.parentSpanId, server.spanId, 'the client span is its child')
  t.equal(tp.split('-')[2], client.spanId, 'the upstream\'s parent is the client span')
  t.equal(server.service, 'sluice')
  t.match(server.attributes, { 'http.request.method': 'GET', 'url.path': '/over-grpc', 'server.address': host, 'http.response.status_code': 200, 'sluice.revision': 'default/plain-00001' })
  t.equal(client.attributes['http.response.status_code'], 200)
  t.equal(receiver.rejected, 0)
  t.ok(await eventually(async () => (metric((await s.admin('/metrics')).body, 'sluice_tracing_spans_exported_total') ?? 0) >= 2, 30_000, 100), 'counted as exported')
})

t.test('a collector that fails the call: the spans count as failed', async (t) => {
  const before = metric((await s.admin('/metrics')).body, 'sluice_tracing_export_failed_spans_total') ?? 0
  receiver.failWith = 503
  t.teardown(() => { receiver.failWith = 0 })
  t.equal((await request(s.port, host, '/failing-collector')).status, 200, 'the request is served all the same')
  t.ok(await eventually(async () => (metric((await s.admin('/metrics')).body, 'sluice_tracing_export_failed_spans_total') ?? 0) >= before + 2, 30_000, 100), 'counted as failed')
})

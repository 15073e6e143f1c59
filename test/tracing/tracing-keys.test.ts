// config-observability's tracing-* keys and the older config-tracing's, read into Settings.tracing:
// values, defaults, the mapping, precedence, and located errors that say what to write instead.
// Then the sampling decision taken before any span exists.
import t from 'tap'
import { readSettings } from '../../control/settings/read-settings.ts'
import { configMap } from '../control/fixtures.ts'
import type { SourceRef } from '../../control/resources/types.ts'
import { parentDecision, sampleRequest } from '../../gateway/tracing/sampling.ts'

function located(file: string, keys: string[]): SourceRef {
  return { file, doc: 0, line: 1, column: 1, locate: (path) => ({ line: 10 + keys.indexOf(String(path[1])), column: 3 }) }
}

t.test('off by default', async (t) => {
  t.same(readSettings([]).settings.tracing, { protocol: 'none', endpoint: '', samplingRate: 0, serviceName: 'sluice' })
})

t.test('config-observability', async (t) => {
  const { settings, errors } = readSettings([configMap('config-observability', {
    'tracing-protocol': 'http/protobuf', 'tracing-endpoint': 'http://otel-collector.observability:4318/v1/traces', 'tracing-sampling-rate': '0.25',
    'metrics-protocol': 'prometheus',
  })])
  t.same(errors, [])
  t.same(settings.tracing, { protocol: 'http/protobuf', endpoint: 'http://otel-collector.observability:4318/v1/traces', samplingRate: 0.25, serviceName: 'sluice' })
  const bare = readSettings([configMap('config-observability', { 'tracing-protocol': 'http/protobuf', 'tracing-endpoint': 'otel-collector:4318' })])
  t.equal(bare.settings.tracing.endpoint, 'http://otel-collector:4318/v1/traces', 'host:port gets the OTLP traces path')
  t.equal(bare.settings.tracing.samplingRate, 0, 'Knative\'s default rate when unset is kept (0)')
})

t.test('config-observability: grpc (OTLP over gRPC)', async (t) => {
  const { settings, errors } = readSettings([configMap('config-observability', { 'tracing-protocol': 'grpc', 'tracing-endpoint': 'http://otel-collector.observability:4317', 'tracing-sampling-rate': '1' })])
  t.same(errors, [])
  t.same(settings.tracing, { protocol: 'grpc', endpoint: 'http://otel-collector.observability:4317/', samplingRate: 1, serviceName: 'sluice' })
  t.equal(readSettings([configMap('config-observability', { 'tracing-protocol': 'GRPC', 'tracing-endpoint': 'otel-collector:4317' })]).settings.tracing.endpoint, 'http://otel-collector:4317/', 'host:port is plaintext, with no path added')
  t.equal(readSettings([configMap('config-observability', { 'tracing-protocol': 'grpc', 'tracing-endpoint': 'https://collector.example:443' })]).settings.tracing.endpoint, 'https://collector.example/', 'https: TLS')
  const keys = ['tracing-protocol', 'tracing-endpoint']
  const withPath = readSettings([configMap('config-observability', { 'tracing-protocol': 'grpc', 'tracing-endpoint': 'http://otel-collector:4318/v1/traces' }, { source: located('config/observability.yaml', keys) })])
  t.equal(withPath.settings.tracing.protocol, 'none', 'tracing stays off')
  t.same(withPath.errors.map((e) => [e.file, e.line, e.path]), [['config/observability.yaml', 11, 'data.tracing-endpoint'], ['config/observability.yaml', 10, 'data.tracing-protocol']])
  t.match(withPath.errors[0]!.message, /no path .* write tracing-protocol: http\/protobuf/)
  t.match(withPath.errors[1]!.message, /tracing-protocol grpc needs tracing-endpoint \(the collector's OTLP\/gRPC address/)
  // config-tracing's Zipkin URL is not an OTLP/gRPC address: it does not carry over.
  const mixed = readSettings([configMap('config-tracing', { backend: 'zipkin', 'zipkin-endpoint': 'http://z:9411/api/v2/spans' }), configMap('config-observability', { 'tracing-protocol': 'grpc' })])
  t.equal(mixed.settings.tracing.protocol, 'none')
  t.match(mixed.errors[0]!.message, /needs tracing-endpoint/)
})

t.test('config-tracing (before Knative 1.18) is mapped', async (t) => {
  const { settings, errors } = readSettings([configMap('config-tracing', { backend: 'zipkin', 'zipkin-endpoint': 'http://zipkin.istio-system:9411/api/v2/spans', 'sample-rate': '0.5' })])
  t.same(errors, [])
  t.same(settings.tracing, { protocol: 'zipkin', endpoint: 'http://zipkin.istio-system:9411/api/v2/spans', samplingRate: 0.5, serviceName: 'sluice' })
  t.equal(readSettings([configMap('config-tracing', { backend: 'none', 'sample-rate': '1' })]).settings.tracing.protocol, 'none')
  // Both present: config-observability wins, in either order.
  const obs = configMap('config-observability', { 'tracing-protocol': 'http/protobuf', 'tracing-endpoint': 'http://c:4318/v1/traces' })
  const old = configMap('config-tracing', { backend: 'zipkin', 'zipkin-endpoint': 'http://z:9411/api/v2/spans', 'sample-rate': '0.5' })
  for (const list of [[obs, old], [old, obs]]) {
    const tr = readSettings(list).settings.tracing
    t.equal(tr.protocol, 'http/protobuf')
    t.equal(tr.endpoint, 'http://c:4318/v1/traces')
    t.equal(tr.samplingRate, 0.5, 'a key config-observability leaves out keeps config-tracing\'s')
  }
})

t.test('bad values are reported where they are written; tracing stays off', async (t) => {
  const keys = ['tracing-protocol', 'tracing-endpoint', 'tracing-sampling-rate']
  const { settings, errors } = readSettings([configMap('config-observability', { 'tracing-protocol': 'stdout', 'tracing-endpoint': 'ftp://x', 'tracing-sampling-rate': '2' }, { source: located('config/observability.yaml', keys) })])
  t.equal(settings.tracing.protocol, 'none')
  t.same(errors.map((e) => [e.file, e.line, e.path]), [
    ['config/observability.yaml', 10, 'data.tracing-protocol'],
    ['config/observability.yaml', 11, 'data.tracing-endpoint'],
    ['config/observability.yaml', 12, 'data.tracing-sampling-rate'],
  ])
  t.match(errors[0]!.message, /config-observability: tracing-protocol: stdout is not supported by Sluice; write "grpc" .* or "http\/protobuf"/)
  t.match(errors[1]!.message, /http\(s\) URL/)
  t.match(errors[2]!.message, /from 0 to 1/)
  const noEndpoint = readSettings([configMap('config-observability', { 'tracing-protocol': 'http/protobuf' })])
  t.equal(noEndpoint.settings.tracing.protocol, 'none')
  t.match(noEndpoint.errors[0]!.message, /needs tracing-endpoint/)
  const zipkin = readSettings([configMap('config-tracing', { backend: 'jaeger' })])
  t.match(zipkin.errors[0]!.message, /backend must be none or zipkin/)
  t.equal(zipkin.errors[0]!.path, 'data.backend')
})

t.test('sampling: parents decide, otherwise the rate', async (t) => {
  t.equal(parentDecision({}), -1)
  t.equal(parentDecision({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }), 1)
  t.equal(parentDecision({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }), 0)
  t.equal(parentDecision({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' }), 1)
  t.equal(parentDecision({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0' }), 0)
  t.equal(parentDecision({ b3: '0' }), 0)
  t.equal(parentDecision({ b3: 'd' }), 1)
  t.equal(parentDecision({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1' }), -1, 'no sampling state: deferred')
  t.equal(parentDecision({ 'x-b3-traceid': 'a', 'x-b3-sampled': '1' }), 1)
  t.equal(parentDecision({ 'x-b3-traceid': 'a', 'x-b3-sampled': '0' }), 0)
  t.equal(parentDecision({ 'x-b3-flags': '1' }), 1, 'debug')
  t.equal(sampleRequest({}, 0), false)
  t.equal(sampleRequest({}, 1), true)
  t.equal(sampleRequest({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, 0), true, 'a sampled parent wins over rate 0')
  t.equal(sampleRequest({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }, 1), false, 'an unsampled parent wins over rate 1')
  let n = 0
  for (let i = 0; i < 20_000; i++) if (sampleRequest({}, 0.1)) n++
  t.ok(n > 1500 && n < 2500, `about 10% sampled (${n} of 20000)`)
})

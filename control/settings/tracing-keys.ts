// Tracing settings, the Knative way. config-observability (knative.dev/pkg/observability, Knative
// 1.18 and later): tracing-protocol (none | grpc | http/protobuf | stdout), tracing-endpoint,
// tracing-sampling-rate. The older config-tracing ConfigMap (backend: none | zipkin,
// zipkin-endpoint, sample-rate) is mapped onto the same fields; when both are present,
// config-observability wins. Sluice exports OTLP over HTTP (protobuf) or gRPC, and Zipkin's JSON
// API: stdout is reported where it is written, with what to write instead.
import type { ConfigMapReader } from './config-map-reader.ts'
import { TRACING_OFF, type TracingConfig } from '../../gateway/tracing/tracing-config.ts'

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export { TRACING_OFF }

/** config-observability's tracing keys; the result keeps `base` (the default or config-tracing's) where a key is absent or bad. */
export function readObservabilityTracing(r: ConfigMapReader, base: TracingConfig): TracingConfig {
  const t: Mutable<TracingConfig> = { ...base }
  const protocol = r.str('tracing-protocol')
  if (protocol !== undefined && protocol !== '') {
    const p = protocol.toLowerCase()
    if (p === 'none' || p === 'http/protobuf' || p === 'grpc') t.protocol = p
    else if (p === 'stdout') r.error('tracing-protocol', 'tracing-protocol: stdout is not supported by Sluice; write "grpc" (tracing-endpoint: the collector\'s OTLP/gRPC port, such as http://otel-collector:4317) or "http/protobuf" (its OTLP/HTTP traces URL, such as http://otel-collector:4318/v1/traces)')
    else r.error('tracing-protocol', `tracing-protocol must be none, grpc or http/protobuf, got ${JSON.stringify(protocol)}`)
  }
  const endpoint = r.str('tracing-endpoint')
  if (endpoint !== undefined && endpoint !== '') {
    if (t.protocol === 'grpc') {
      const url = endpointUrl(endpoint, '')
      if (url === null) r.error('tracing-endpoint', `tracing-endpoint must be the collector's OTLP/gRPC address, http(s)://host:port or host:port such as "otel-collector:4317", got ${JSON.stringify(endpoint)}`)
      else if (new URL(url).pathname !== '/') r.error('tracing-endpoint', `tracing-endpoint for tracing-protocol grpc is an address with no path (such as http://otel-collector:4317; gRPC names its own path), got ${JSON.stringify(endpoint)}; a /v1/traces URL is OTLP/HTTP's: for it write tracing-protocol: http/protobuf`)
      else t.endpoint = url
    } else {
      const url = endpointUrl(endpoint, '/v1/traces')
      if (url === null) r.error('tracing-endpoint', `tracing-endpoint must be an http(s) URL or host:port such as "otel-collector:4318", got ${JSON.stringify(endpoint)}`)
      else t.endpoint = url
    }
  }
  // An endpoint belongs to its protocol: config-tracing's Zipkin URL does not carry over to the OTLP protocol set here.
  if (t.protocol !== base.protocol && t.endpoint === base.endpoint) t.endpoint = ''
  const rate = samplingRate(r, 'tracing-sampling-rate')
  if (rate !== undefined) t.samplingRate = rate
  if (t.protocol !== 'none' && t.endpoint === '') {
    r.error(r.has('tracing-protocol') ? 'tracing-protocol' : 'tracing-endpoint', `tracing-protocol ${t.protocol} needs tracing-endpoint (${t.protocol === 'grpc' ? 'the collector\'s OTLP/gRPC address, such as http://otel-collector:4317' : 'the collector\'s OTLP/HTTP traces URL, such as http://otel-collector:4318/v1/traces'}); tracing stays off`)
    return TRACING_OFF
  }
  return t
}

/** config-tracing (Knative before 1.18): backend none | zipkin, zipkin-endpoint, sample-rate. */
export function readConfigTracing(r: ConfigMapReader): TracingConfig {
  const t: Mutable<TracingConfig> = { ...TRACING_OFF, samplingRate: 0.1 }
  const backend = r.str('backend')
  if (backend !== undefined && backend !== '') {
    const b = backend.toLowerCase()
    if (b === 'zipkin') t.protocol = 'zipkin'
    else if (b !== 'none') r.error('backend', `backend must be none or zipkin, got ${JSON.stringify(backend)}; for OTLP use config-observability's tracing-protocol: grpc or http/protobuf`)
  }
  const endpoint = r.str('zipkin-endpoint')
  if (endpoint !== undefined && endpoint !== '') {
    const url = endpointUrl(endpoint, '/api/v2/spans')
    if (url === null) r.error('zipkin-endpoint', `zipkin-endpoint must be an http(s) URL such as "http://zipkin:9411/api/v2/spans", got ${JSON.stringify(endpoint)}`)
    else t.endpoint = url
  }
  const rate = samplingRate(r, 'sample-rate')
  if (rate !== undefined) t.samplingRate = rate
  if (t.protocol === 'zipkin' && t.endpoint === '') {
    r.error('backend', 'backend: zipkin needs zipkin-endpoint (such as http://zipkin.istio-system.svc.cluster.local:9411/api/v2/spans); tracing stays off')
    return TRACING_OFF
  }
  return t.protocol === 'none' ? TRACING_OFF : t
}

function samplingRate(r: ConfigMapReader, key: string): number | undefined {
  const v = r.str(key)
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!/^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(v) || !(n >= 0 && n <= 1)) {
    r.error(key, `${key} must be a number from 0 to 1 (the share of new traces sampled), got ${JSON.stringify(v)}`)
    return undefined
  }
  return n
}

/** A URL as written, or host:port completed with http:// and the default path (none: '/'); null when neither. */
function endpointUrl(v: string, defaultPath: string): string | null {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`
  try {
    const u = new URL(withScheme)
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') return null
    if (withScheme !== v && defaultPath !== '' && (u.pathname === '' || u.pathname === '/')) u.pathname = defaultPath
    return u.href
  } catch {
    return null
  }
}

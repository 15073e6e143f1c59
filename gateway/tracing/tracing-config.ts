// What the gateway's tracing is configured with: read from config-observability (Knative's
// tracing-protocol, tracing-endpoint, tracing-sampling-rate) or the older config-tracing keys by
// control/settings/tracing-keys.ts. Plain data, so the gateway compares it without the SDK.

export interface TracingConfig {
  /**
   * `none` (the default: the SDK is never loaded), `http/protobuf` (OTLP/HTTP) or `grpc`
   * (OTLP/gRPC), as Knative's tracing-protocol names them, or `zipkin` (config-tracing's
   * `backend: zipkin`, Zipkin's JSON v2 API)
   */
  readonly protocol: 'none' | 'http/protobuf' | 'grpc' | 'zipkin'
  /**
   * where spans go: an OTLP traces URL (`http://collector:4318/v1/traces`), an OTLP/gRPC origin
   * (`http://collector:4317`: plaintext; `https://`: TLS) or a Zipkin `/api/v2/spans` URL
   */
  readonly endpoint: string
  /** share of new traces sampled, 0 to 1; requests with a parent follow the parent's decision */
  readonly samplingRate: number
  /** resource service.name */
  readonly serviceName: string
}

export const TRACING_OFF: TracingConfig = Object.freeze({ protocol: 'none', endpoint: '', samplingRate: 0, serviceName: 'sluice' })

export function sameTracingConfig(a: TracingConfig, b: TracingConfig): boolean {
  return a.protocol === b.protocol && a.endpoint === b.endpoint && a.samplingRate === b.samplingRate && a.serviceName === b.serviceName
}

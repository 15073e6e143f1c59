// The span exporter a TracingConfig names, imported only when it is the one configured (each
// exporter package, and gRPC's client for `grpc`, loads on first use): OTLP over HTTP with
// protobuf bodies, OTLP over gRPC (the collector's 4317 port; `http://` is plaintext h2c,
// `https://` TLS), or Zipkin's JSON v2 API. Called by otel-tracer.ts, itself loaded lazily.
import type { SpanExporter } from '@opentelemetry/sdk-trace'
import type { TracingConfig } from './tracing-config.ts'

/** how long one export may take before it counts as failed */
export const EXPORT_TIMEOUT_MS = 10_000

export async function exporterFor(config: TracingConfig): Promise<SpanExporter> {
  switch (config.protocol) {
    case 'zipkin': {
      const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin')
      return new ZipkinExporter({ url: config.endpoint, serviceName: config.serviceName })
    }
    case 'grpc': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc')
      return new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: EXPORT_TIMEOUT_MS })
    }
    default: {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto')
      return new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: EXPORT_TIMEOUT_MS })
    }
  }
}

// The export thread: runs the SDK's exporter (OTLP/HTTP protobuf or Zipkin, exporterFor in
// otel-tracer.ts) for the spans the main thread's batch processor hands over (thread-exporter.ts).
// Exporting here rather than on the main thread keeps the exporter's HTTP client out of the
// request path's JIT: node:http's client shares OutgoingMessage, IncomingMessage and stream code
// with the gateway's HTTP server, and a client request in the same isolate once a second turns that
// code polymorphic for every request (docs/tracing.md, "Cost").
import { parentPort, workerData } from 'node:worker_threads'
import { TraceState } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import type { SpanContext } from '@opentelemetry/api'
import { exporterFor } from './otel-tracer.ts'
import type { ExportThreadData, FromExportThread, ToExportThread, WireContext, WireSpan } from './export-wire.ts'

const config = workerData as ExportThreadData
const port = parentPort!
const resource = resourceFromAttributes({ 'service.name': config.serviceName })
const exporter = await exporterFor({ ...config, samplingRate: 0 })

function context(w: WireContext): SpanContext {
  return { traceId: w.traceId, spanId: w.spanId, traceFlags: w.traceFlags, isRemote: w.isRemote, ...(w.traceState === '' ? {} : { traceState: new TraceState(w.traceState) }) }
}

function fromWire(w: WireSpan): ReadableSpan {
  const sc = context(w.context)
  return {
    name: w.name, kind: w.kind, spanContext: () => sc, ...(w.parent === null ? {} : { parentSpanContext: context(w.parent) }),
    startTime: w.startTime, endTime: w.endTime, duration: w.duration, status: w.status, attributes: w.attributes, links: [], events: w.events,
    ended: true, resource, instrumentationScope: w.scope,
    droppedAttributesCount: w.droppedAttributesCount, droppedEventsCount: w.droppedEventsCount, droppedLinksCount: w.droppedLinksCount,
  }
}

const reply = (m: FromExportThread): void => port.postMessage(m)
const failed = (id: number) => (err: unknown): void => reply({ id, code: 1, error: err instanceof Error ? err.message : String(err) })

port.on('message', (m: ToExportThread) => {
  if (m.op === 'export') {
    exporter.export(m.spans.map(fromWire), (r) => reply({ id: m.id, code: r.code, error: r.error?.message ?? '' }))
  } else if (m.op === 'flush') {
    (exporter.forceFlush?.() ?? Promise.resolve()).then(() => reply({ id: m.id, code: 0, error: '' }), failed(m.id))
  } else {
    exporter.shutdown().then(() => reply({ id: m.id, code: 0, error: '' }), failed(m.id))
  }
})

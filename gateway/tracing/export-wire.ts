// Finished spans as plain data, for the export thread (export-thread.ts): what the SDK's OTLP and
// Zipkin exporters read of a ReadableSpan, minus its functions and class instances (the span
// context becomes fields, the trace state its header text; the resource is rebuilt there).
import type { Attributes, HrTime, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api'
import type { InstrumentationScope } from '@opentelemetry/core'
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace'
import type { TracingConfig } from './tracing-config.ts'

export interface WireContext { traceId: string; spanId: string; traceFlags: number; isRemote: boolean; traceState: string }

export interface WireSpan {
  name: string
  kind: SpanKind
  context: WireContext
  parent: WireContext | null
  startTime: HrTime
  endTime: HrTime
  duration: HrTime
  status: SpanStatus
  attributes: Attributes
  events: TimedEvent[]
  scope: InstrumentationScope
  droppedAttributesCount: number
  droppedEventsCount: number
  droppedLinksCount: number
}

/** main thread → export thread */
export type ToExportThread =
  | { op: 'export'; id: number; spans: WireSpan[] }
  | { op: 'flush' | 'shutdown'; id: number }

/** export thread → main thread: code 0 success (the SDK's ExportResultCode) */
export interface FromExportThread { id: number; code: number; error: string }

/** what the export thread is started with */
export type ExportThreadData = Pick<TracingConfig, 'protocol' | 'endpoint' | 'serviceName'>

function wireContext(c: SpanContext): WireContext {
  return { traceId: c.traceId, spanId: c.spanId, traceFlags: c.traceFlags, isRemote: c.isRemote === true, traceState: c.traceState?.serialize() ?? '' }
}

export function toWire(s: ReadableSpan): WireSpan {
  return {
    name: s.name, kind: s.kind, context: wireContext(s.spanContext()), parent: s.parentSpanContext === undefined ? null : wireContext(s.parentSpanContext),
    startTime: s.startTime, endTime: s.endTime, duration: s.duration, status: s.status, attributes: s.attributes, events: s.events,
    scope: s.instrumentationScope, droppedAttributesCount: s.droppedAttributesCount, droppedEventsCount: s.droppedEventsCount, droppedLinksCount: s.droppedLinksCount,
  }
}

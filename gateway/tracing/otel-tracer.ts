// The OpenTelemetry side of tracing, imported (dynamically, by tracing.ts) only when tracing is
// configured. Spans per sampled request: a server span (route, revision, status, bytes, plugin
// decisions as events), an `activator wait` child when the request queued (queue time, cold
// start), and a client span per upstream attempt. The context comes from W3C traceparent/tracestate
// or B3 (single `b3` or multi `x-b3-*` headers) and goes upstream as W3C plus the B3 form that came
// in. Export is batched off the data path: a bounded queue, and spans that do not fit are dropped
// and counted.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter, type Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TracerProvider, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace'
import type { IncomingHttpHeaders } from 'node:http'
import type { DownstreamRequest } from '../downstream.ts'
import type { RequestTrace, RequestTracer } from './request-trace.ts'
import type { TracingConfig } from './tracing-config.ts'
import type { TracingCounters } from './tracing-counters.ts'

/** spans waiting for export; more are dropped (and counted) rather than held */
export const MAX_QUEUE = 2048

const getter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, key) => h[key],
}
const setter: TextMapSetter<Record<string, string>> = {
  set: (c, key, value) => { c[key] = value },
}
const w3c = new W3CTraceContextPropagator()
const b3 = new B3Propagator()
const b3Single = new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER })
const b3Multi = new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER })
const TRACE_HEADERS = new Set(['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'])
const B3_NONE = 0, B3_SINGLE = 1, B3_MULTI = 2

/** performance.now() → epoch milliseconds, as the SDK's TimeInput takes them */
function epoch(t: number): number {
  return performance.timeOrigin + t
}

/** The parent context from the request's trace headers: W3C first, else B3. */
function extract(h: IncomingHttpHeaders): Context {
  if (h.traceparent !== undefined) {
    const ctx = w3c.extract(ROOT_CONTEXT, h, getter)
    if (trace.getSpanContext(ctx) !== undefined) return ctx
  }
  if (h.b3 !== undefined || h['x-b3-traceid'] !== undefined) return b3.extract(ROOT_CONTEXT, h, getter)
  return ROOT_CONTEXT
}

/** Counts what the batch processor takes and what it would drop, and drops it itself. */
class BoundedProcessor implements SpanProcessor {
  readonly #inner: BatchSpanProcessor
  readonly #counters: TracingCounters
  queued = 0

  constructor(exporter: SpanExporter, counters: TracingCounters) {
    this.#counters = counters
    this.#inner = new BatchSpanProcessor({
      exporter: new CountingExporter(exporter, this, counters),
      maxQueueSize: MAX_QUEUE, maxExportBatchSize: 512, scheduledDelayMillis: 1000, exportTimeoutMillis: 10_000,
    })
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.queued >= MAX_QUEUE) {
      this.#counters.dropped++
      return
    }
    this.queued++
    this.#inner.onEnd(span)
  }

  forceFlush(): Promise<void> { return this.#inner.forceFlush() }
  shutdown(): Promise<void> { return this.#inner.shutdown() }
}

class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter
  readonly #processor: BoundedProcessor
  readonly #counters: TracingCounters

  constructor(inner: SpanExporter, processor: BoundedProcessor, counters: TracingCounters) {
    this.#inner = inner
    this.#processor = processor
    this.#counters = counters
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.#processor.queued -= spans.length
    this.#inner.export(spans, (r) => {
      if (r.code === 0) this.#counters.exported += spans.length
      else this.#counters.failed += spans.length
      done(r)
    })
  }

  shutdown(): Promise<void> { return this.#inner.shutdown() }
  forceFlush(): Promise<void> { return this.#inner.forceFlush?.() ?? Promise.resolve() }
}

async function exporterFor(config: TracingConfig): Promise<SpanExporter> {
  if (config.protocol === 'zipkin') {
    const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin')
    return new ZipkinExporter({ url: config.endpoint, serviceName: config.serviceName })
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto')
  return new OTLPTraceExporter({ url: config.endpoint, timeoutMillis: 10_000 })
}

export async function createTracer(config: TracingConfig, counters: TracingCounters): Promise<RequestTracer> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    // The root decision (configured rate) is taken before the span exists (sampling.ts); the SDK
    // then follows the parent, as Knative's ParentBased(TraceIDRatioBased) does.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [new BoundedProcessor(await exporterFor(config), counters)],
  })
  return new OtelTracer(provider, provider.getTracer('sluice'), config.samplingRate)
}

class OtelTracer implements RequestTracer {
  readonly rate: number
  readonly #provider: TracerProvider
  readonly #tracer: Tracer

  constructor(provider: TracerProvider, tracer: Tracer, rate: number) {
    this.#provider = provider
    this.#tracer = tracer
    this.rate = rate
  }

  start(req: DownstreamRequest, host: string, route: string, revision: string, arrived: number, cold: boolean): RequestTrace {
    const h = req.headers
    const method = req.method ?? 'GET'
    const parent = extract(h)
    const span = this.#tracer.startSpan(method, {
      kind: SpanKind.SERVER,
      startTime: epoch(arrived),
      attributes: {
        'http.request.method': method,
        'url.path': (req.url ?? '/').split('?')[0]!,
        'server.address': host,
        'sluice.route': route,
        'sluice.revision': revision,
      },
    }, parent)
    const b3Form = h.b3 !== undefined ? B3_SINGLE : h['x-b3-traceid'] !== undefined ? B3_MULTI : B3_NONE
    return new OtelRequestTrace(this.#tracer, span, method, revision, arrived, cold, b3Form)
  }

  shutdown(): Promise<void> {
    return this.#provider.shutdown()
  }
}

class OtelRequestTrace implements RequestTrace {
  bytes = 0
  error = ''
  readonly #tracer: Tracer
  readonly #server: Span
  readonly #ctx: Context
  readonly #method: string
  readonly #revision: string
  readonly #arrived: number
  readonly #cold: boolean
  readonly #b3: number
  #waiting = false
  #client: Span | null = null
  #attempts = 0

  constructor(tracer: Tracer, server: Span, method: string, revision: string, arrived: number, cold: boolean, b3Form: number) {
    this.#tracer = tracer
    this.#server = server
    this.#ctx = trace.setSpan(ROOT_CONTEXT, server)
    this.#method = method
    this.#revision = revision
    this.#arrived = arrived
    this.#cold = cold
    this.#b3 = b3Form
  }

  queued(): void {
    if (this.#attempts === 0) this.#waiting = true
  }

  event(name: string, detail: string): void {
    this.#server.addEvent(name, detail === '' ? undefined : { 'sluice.detail': detail })
  }

  send(headers: string[], origin: string, now: number): void {
    if (this.#waiting) {
      this.#waiting = false
      const wait = this.#tracer.startSpan('activator wait', {
        kind: SpanKind.INTERNAL,
        startTime: epoch(this.#arrived),
        attributes: { 'sluice.revision': this.#revision, 'sluice.queue_time_ms': now - this.#arrived, 'sluice.cold_start': this.#cold },
      }, this.#ctx)
      wait.end(epoch(now))
    }
    // A replay after a reset ends the attempt before it.
    this.#endClient(0, now, 'replayed')
    this.#attempts++
    const client = this.#client = this.#tracer.startSpan(this.#method, {
      kind: SpanKind.CLIENT,
      startTime: epoch(now),
      attributes: { 'http.request.method': this.#method, 'url.full': origin, 'sluice.attempt': this.#attempts },
    }, this.#ctx)
    const carrier: Record<string, string> = {}
    const ctx = trace.setSpan(ROOT_CONTEXT, client)
    // The parent's tracestate travels with the span context the SDK gave the child.
    w3c.inject(ctx, carrier, setter)
    if (this.#b3 === B3_SINGLE) b3Single.inject(ctx, carrier, setter)
    else if (this.#b3 === B3_MULTI) b3Multi.inject(ctx, carrier, setter)
    let w = 0
    for (let i = 0; i < headers.length; i += 2) {
      if (TRACE_HEADERS.has(headers[i]!)) continue
      headers[w++] = headers[i]!
      headers[w++] = headers[i + 1]!
    }
    headers.length = w
    for (const k in carrier) headers.push(k, carrier[k]!)
  }

  #endClient(status: number, now: number, error: string): void {
    const c = this.#client
    if (c === null) return
    this.#client = null
    if (status !== 0) c.setAttribute('http.response.status_code', status)
    if (error !== '' || status >= 500) {
      if (error !== '') c.setAttribute('error.type', error)
      c.setStatus({ code: SpanStatusCode.ERROR, message: error !== '' ? error : String(status) })
    }
    c.end(epoch(now))
  }

  end(status: number, now: number): void {
    this.#endClient(status, now, this.error)
    const s = this.#server
    if (this.#waiting) s.setAttribute('sluice.queue_time_ms', now - this.#arrived)
    if (status !== 0) s.setAttribute('http.response.status_code', status)
    s.setAttribute('http.response.body.size', this.bytes)
    if (status >= 500 || this.error !== '') {
      if (this.error !== '') s.setAttribute('error.type', this.error)
      s.setStatus({ code: SpanStatusCode.ERROR, message: this.error !== '' ? this.error : String(status) })
    }
    s.end(epoch(now))
  }
}


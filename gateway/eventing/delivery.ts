// The Deliverer: one attempt at a subscriber, dead letters and replies, shared by every backing so
// that what counts as success, retryable failure or reply is decided in one place. Port of
// Knative's dispatcher (pkg/kncloudevents/event_dispatcher.go, retries.go, attributes/knative_error.go)
// and of what its broker filter adds (Prefer: reply, Kn-Namespace, TTL stripped and stamped back).
// Subscribers that are Sluice Services are reached at `connectTo` (the gateway's own internal
// listener, Host from the URL) so the activator buffers the event and wakes a subscriber at zero.
import { Agent, type Dispatcher } from 'undici'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, Deliverer, Destination } from './types.ts'
import { binaryHeaders, detectMode, mediaType, parseBinary, parseStructured, ParseError, structuredBody, STRUCTURED_CONTENT_TYPE, type CarriedEvent } from './cloudevent-http.ts'
import { retryDelayMs } from './backoff.ts'
import type { EventingMetrics, TriggerSlot } from './eventing-metrics.ts'
import type { Logger } from '../log.ts'
import { newTraceparent } from '../forward-headers.ts'

/** Time as the retry logic sees it: injected by tests, real otherwise. */
export interface Timers {
  /** milliseconds, monotonic */
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const REAL_TIMERS: Timers = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
})

/** What the broker ingress made of an event that re-entered it (a reply). */
export type IngestResult = 'accepted' | 'expired' | 'refused'

export interface DeliveryOptions {
  /** a reply re-enters its broker here (the ingress logic: TTL, then the backing) */
  ingest: (brokerKey: string, event: CloudEventRecord) => IngestResult | Promise<IngestResult>
  metrics: EventingMetrics
  timers?: Timers
  /** where requests go; a keep-alive Agent by default */
  dispatcher?: Dispatcher
  /** the largest reply body read (bigger is a failed attempt); default 1 MiB as the ingress */
  maxReplyBytes?: number
  log?: Logger
}

/** Knative SelectiveRetry (pkg/kncloudevents/retries.go): no response, ≥500, 404, 408, 409, 429. */
export function isRetryable(status: number): boolean {
  return status === 0 || status >= 500 || status === 404 || status === 408 || status === 409 || status === 429
}

/** Retry-After of a 429/503 in ms: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); null when absent or bad. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | null {
  if (value === undefined) return null
  const v = (Array.isArray(value) ? value[0]! : value).trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  if (Number.isNaN(at)) return null
  return Math.max(0, at - nowMs)
}

/** raw bytes kept of a failing body: 1024 base64 characters (Knative's cap on knativeerrordata) */
const ERROR_DATA_BYTES = 768
/** bytes of a failing body read before the connection is given up */
const DRAIN_LIMIT = 64 * 1024

/** A destination resolved once: origin to connect to, request path, Host to send. */
interface Target {
  readonly origin: string
  readonly path: string
  readonly host: string | null
}

export class HttpDeliverer implements Deliverer {
  readonly #ingest: DeliveryOptions['ingest']
  readonly #metrics: EventingMetrics
  readonly #timers: Timers
  readonly #dispatcher: Dispatcher
  readonly #ownDispatcher: boolean
  readonly #maxReply: number
  readonly #log: Logger | undefined
  readonly #targets = new WeakMap<Destination, Target>()
  readonly #slots = new WeakMap<CompiledTrigger, TriggerSlot>()

  constructor(opts: DeliveryOptions) {
    this.#ingest = opts.ingest
    this.#metrics = opts.metrics
    this.#timers = opts.timers ?? REAL_TIMERS
    this.#ownDispatcher = opts.dispatcher === undefined
    this.#dispatcher = opts.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 256 })
    this.#maxReply = opts.maxReplyBytes ?? 1024 * 1024
    this.#log = opts.log
  }

  /** the metric slot of a trigger (looked up once per compiled trigger) */
  slot(trigger: CompiledTrigger): TriggerSlot {
    let s = this.#slots.get(trigger)
    if (s === undefined) {
      s = this.#metrics.trigger(trigger.namespace, trigger.name, trigger.broker.slice(trigger.broker.indexOf('/') + 1))
      this.#slots.set(trigger, s)
    }
    return s
  }

  async attempt(trigger: CompiledTrigger, event: CloudEventRecord): Promise<AttemptOutcome> {
    const start = performance.now()
    const outcome = await this.#send(trigger.subscriber, trigger, event, true)
    this.slot(trigger).dispatch.record(outcome.status, (performance.now() - start) / 1000)
    return outcome
  }

  async deadLetter(trigger: CompiledTrigger, event: CloudEventRecord, last: AttemptOutcome): Promise<boolean> {
    const sink = trigger.delivery.deadLetterSink
    const slot = this.slot(trigger)
    if (sink === null) {
      slot.dropped++
      return false
    }
    // The original event, with why it failed (Knative knative_error.go; data base64 since #5427).
    const attributes: Record<string, string> = { ...event.attributes }
    attributes.knativeerrordest = trigger.subscriber.url
    attributes.knativeerrorcode = String(last.status === 0 ? 500 : last.status)
    if (last.body !== null && last.body.length > 0) attributes.knativeerrordata = last.body.toString('base64').slice(0, 1024)
    const dead: CarriedEvent = { attributes, data: event.data, passthrough: (event as Partial<CarriedEvent>).passthrough ?? null }
    // Sent with the trigger's own retry policy.
    const spec = trigger.delivery
    for (let n = 0; ; n++) {
      const out = await this.#send(sink, trigger, dead, false)
      if (out.status >= 200 && out.status < 300) {
        slot.deadLettered++
        return true
      }
      if (!out.retryable || n >= spec.retry) break
      await this.#sleep(retryDelayMs(spec, n + 1, out.retryAfterMs))
    }
    slot.dropped++
    this.#log?.warn('dead-letter sink refused the event', { trigger: `${trigger.namespace}/${trigger.name}`, sink: sink.url, id: event.attributes.id })
    return false
  }

  async reply(trigger: CompiledTrigger, reply: CloudEventRecord): Promise<boolean> {
    const r = await this.#ingest(trigger.broker, reply)
    // A reply dropped by the TTL is settled (the loop is stopped on purpose); only a refusal fails.
    return r !== 'refused'
  }

  /** Cut every attempt in flight (a subscriber that never answers must not hold shutdown). */
  async close(): Promise<void> {
    if (this.#ownDispatcher) await this.#dispatcher.destroy()
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve()
    return new Promise((resolve) => { this.#timers.setTimeout(resolve, ms) })
  }

  #target(d: Destination): Target {
    let t = this.#targets.get(d)
    if (t === undefined) {
      const url = new URL(d.url)
      t = d.connectTo === null
        ? { origin: url.origin, path: url.pathname + url.search, host: null }
        : { origin: new URL(d.connectTo).origin, path: url.pathname + url.search, host: url.host }
      this.#targets.set(d, t)
    }
    return t
  }

  /** One POST of `event` to `dest`, classified. `subscriber`: Prefer reply and read a reply. */
  async #send(dest: Destination, trigger: CompiledTrigger, event: CloudEventRecord, subscriber: boolean): Promise<AttemptOutcome> {
    const target = this.#target(dest)
    const spec = trigger.delivery
    const headers: string[] = []
    let body: Buffer | string | null
    if (spec.format === 'json') {
      headers.push('content-type', STRUCTURED_CONTENT_TYPE)
      body = structuredBody(event)
    } else {
      binaryHeaders(event, headers)
      body = event.data
    }
    if (target.host !== null) headers.push('host', target.host)
    if (subscriber) headers.push('prefer', 'reply')
    headers.push('kn-namespace', trigger.namespace)
    const pass = (event as Partial<CarriedEvent>).passthrough
    let traced = false
    if (pass != null) {
      for (let i = 0; i < pass.length; i += 2) {
        headers.push(pass[i]!, pass[i + 1]!)
        if (pass[i] === 'traceparent') traced = true
      }
    }
    // a new trace, from the same pooled random bytes as the request path (one syscall per ~170 ids)
    if (!traced) headers.push('traceparent', newTraceparent())
    const timeoutMs = spec.timeoutMs
    let res: Dispatcher.ResponseData
    try {
      res = await this.#dispatcher.request({
        origin: target.origin, path: target.path, method: 'POST', headers, body,
        signal: timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined,
        // undici's own 300 s defaults would cut slow subscribers that the spec lets run
        headersTimeout: 0, bodyTimeout: 0,
      })
    } catch (err) {
      const e = err as Error & { name: string }
      const error = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no response within ${timeoutMs}ms (delivery.timeout)` : e.message
      return noResponse(error)
    }
    const status = res.statusCode
    try {
      if (status >= 200 && status < 300) {
        if (!subscriber) {
          await res.body.dump()
          return ok(status)
        }
        return await this.#readReply(res, event)
      }
      const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(res.headers['retry-after']) : null
      const failed = await readCapped(res.body, ERROR_DATA_BYTES, DRAIN_LIMIT)
      return { status, retryable: isRetryable(status), retryAfterMs, body: failed, reply: null, error: null }
    } catch (err) {
      return noResponse(`response cut: ${(err as Error).message}`)
    }
  }

  /**
   * A 2xx: an empty body is a plain ack; a CloudEvent (binary or structured) is a reply; any other
   * non-empty body is a failure (Knative's filter answers 502, which is retried).
   */
  async #readReply(res: Dispatcher.ResponseData, original: CloudEventRecord): Promise<AttemptOutcome> {
    const h = res.headers
    const ct = h['content-type'] as string | undefined
    const mode = detectMode(ct)
    const binary = mode === 'binary' && (h['ce-specversion'] !== undefined || h['ce-id'] !== undefined)
    const body = await readCapped(res.body, this.#maxReply + 1, this.#maxReply + 1)
    if (body !== null && body.length > this.#maxReply) return failure(502, `reply larger than ${this.#maxReply} bytes`, body.subarray(0, ERROR_DATA_BYTES))
    if (mode === 'binary' && !binary) {
      if (body === null || body.length === 0) return ok(res.statusCode)
      return failure(502, 'the subscriber answered 2xx with a body that is not a CloudEvent', body.subarray(0, ERROR_DATA_BYTES))
    }
    if (mode === 'batch') return failure(502, 'the subscriber replied with a batch, which is not accepted', body?.subarray(0, ERROR_DATA_BYTES) ?? null)
    const parsed = mode === 'structured'
      ? (mediaType(ct!) === 'application/cloudevents+json' ? parseStructured(body ?? Buffer.alloc(0)) : new ParseError(`unsupported reply format ${ct}`))
      : parseBinary(h as Record<string, string>, body ?? Buffer.alloc(0))
    if (parsed instanceof ParseError) return failure(502, `invalid reply event: ${parsed.message}`, body?.subarray(0, ERROR_DATA_BYTES) ?? null)
    // The filter stamps the event's TTL back on the reply; the ingress then decrements it (§1.7).
    const ttl = original.attributes.knativebrokerttl
    const attributes = ttl === undefined ? parsed.attributes : { ...parsed.attributes, knativebrokerttl: ttl }
    return { status: res.statusCode, retryable: false, retryAfterMs: null, body: null, reply: { attributes, data: parsed.data }, error: null }
  }
}

function ok(status: number): AttemptOutcome {
  return { status, retryable: false, retryAfterMs: null, body: null, reply: null, error: null }
}

function noResponse(error: string): AttemptOutcome {
  return { status: 0, retryable: true, retryAfterMs: null, body: null, reply: null, error }
}

function failure(status: number, error: string, body: Buffer | null): AttemptOutcome {
  return { status, retryable: isRetryable(status), retryAfterMs: null, body, reply: null, error }
}

/** The first `keep` bytes of a body (null when empty); reads at most `limit`, then drops the rest. */
async function readCapped(body: Dispatcher.ResponseData['body'], keep: number, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = []
  let kept = 0
  let read = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    read += chunk.length
    if (kept < keep) {
      const part = chunk.length > keep - kept ? chunk.subarray(0, keep - kept) : chunk
      chunks.push(part)
      kept += part.length
    }
    if (read >= limit) {
      body.destroy()
      break
    }
  }
  if (kept === 0) return null
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

// The broker ingress: `POST /<namespace>/<broker>` on the broker-ingress hosts. Port of Knative's
// MT broker ingress (pkg/broker/ingress/ingress_handler.go, eventing.md §1.2), in its order: Allow
// on every answer, OPTIONS 200 with the webhook headers, 405 for other methods, 404 for `/`, 400 for
// a path that is not two segments, then the event is parsed (400, batch included) *before* the
// broker is looked up (404), then knativearrivaltime and the TTL (≤ 0 → 400), then the backing:
// 202 once stored, 503 + Retry-After when the broker's in-memory hold is full. Sluice adds a body
// limit (413; Knative has none). Replies re-enter through `ingest`, the same logic without HTTP.
import type { AcceptResult, CloudEventRecord, CompiledBroker, EventingTable } from './types.ts'
import { parseHttpEvent, ParseError } from './cloudevent-http.ts'
import type { BrokerSlot } from './eventing-metrics.ts'
import type { IngestResult } from './delivery.ts'
import type { DownstreamRequest, DownstreamResponse } from '../downstream.ts'

export interface IngressHost {
  /** the table in force */
  readonly table: EventingTable
  accept(broker: CompiledBroker, event: CloudEventRecord): AcceptResult | Promise<AcceptResult>
  brokerSlot(broker: CompiledBroker): BrokerSlot
}

export interface IngressOptions {
  host: IngressHost
  /** the largest event body accepted (413 above); default 1 MiB, NATS's default max payload */
  maxBodyBytes?: number
  /** wall-clock ms for knativearrivaltime (tests) */
  wallClock?: () => number
}

const ALLOW = 'POST, OPTIONS'
const OPTIONS_HEADERS = Object.freeze(['allow', ALLOW, 'webhook-allowed-origin', '*', 'webhook-allowed-rate', '*', 'content-length', '0'])
const ACCEPTED_HEADERS = Object.freeze(['allow', ALLOW, 'content-length', '0'])

/** Knative's extension names (pkg/broker/ttl.go, pkg/broker/ingress: knativearrivaltime). */
export const TTL = 'knativebrokerttl'
export const ARRIVAL = 'knativearrivaltime'

export class BrokerIngress {
  readonly #host: IngressHost
  readonly #max: number
  readonly #wall: () => number

  constructor(opts: IngressOptions) {
    this.#host = opts.host
    this.#max = opts.maxBodyBytes ?? 1024 * 1024
    this.#wall = opts.wallClock ?? Date.now
  }

  get maxBodyBytes(): number { return this.#max }

  /** One request on a broker-ingress host. */
  handle(req: DownstreamRequest, res: DownstreamResponse): void {
    const method = req.method
    if (method === 'OPTIONS') {
      res.writeHead(200, OPTIONS_HEADERS as string[])
      res.end()
      return
    }
    if (method !== 'POST') return answer(res, 405, `method ${method} is not allowed: POST events to /<namespace>/<broker>\n`)
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (path === '/' || path === '') return answer(res, 404, 'no broker at /: POST to /<namespace>/<broker>\n')
    const key = brokerKey(path)
    if (key === null) return answer(res, 400, `bad broker path ${JSON.stringify(path)}: expected /<namespace>/<broker>\n`)
    const declared = Number(req.headers['content-length'])
    if (declared > this.#max) return tooLarge(res, req, this.#max)
    const chunks: Buffer[] = []
    let size = 0
    let over = false
    req.on('data', (chunk: Buffer) => {
      if (over) return
      size += chunk.length
      if (size > this.#max) {
        over = true
        tooLarge(res, req, this.#max)
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (over) return
      const body = chunks.length === 1 ? own(chunks[0]!) : Buffer.concat(chunks, size)
      this.#received(req, res, key, body)
    })
    req.on('error', () => { if (!res.headersSent) res.destroy() })
  }

  #received(req: DownstreamRequest, res: DownstreamResponse, key: string, body: Buffer): void {
    const start = performance.now()
    // Parsed and validated before the broker is looked up: a bad event to an unknown broker is 400.
    const parsed = parseHttpEvent(req.headers, body)
    if (parsed instanceof ParseError) return answer(res, 400, parsed.message + '\n')
    const broker = this.#host.table.brokers.get(key)
    if (broker === undefined) return answer(res, 404, `no broker ${key}: check the Broker's namespace and name\n`)
    const slot = this.#host.brokerSlot(broker)
    const event = this.#stamp(parsed)
    if (event === null) {
      slot.ingress.record(400, (performance.now() - start) / 1000)
      return answer(res, 400, `${TTL} reached 0: the event went round the broker too often (a reply loop?)\n`)
    }
    const r = this.#host.accept(broker, event)
    if (typeof r === 'string') return done(res, slot, r, start)
    r.then((v) => done(res, slot, v, start), () => done(res, slot, 'failed', start))
  }

  /**
   * An event re-entering its broker without HTTP (a subscriber's reply): the same TTL and arrival
   * stamping, then the backing.
   */
  async ingest(key: string, event: CloudEventRecord): Promise<IngestResult> {
    const broker = this.#host.table.brokers.get(key)
    if (broker === undefined) return 'refused'
    const slot = this.#host.brokerSlot(broker)
    const start = performance.now()
    const stamped = this.#stamp({ attributes: { ...event.attributes }, data: event.data })
    if (stamped === null) {
      slot.ttlExpired++
      return 'expired'
    }
    let r: AcceptResult
    try {
      r = await this.#host.accept(broker, stamped)
    } catch {
      r = 'failed'
    }
    slot.ingress.record(r === 'accepted' ? 202 : r === 'full' ? 503 : 500, (performance.now() - start) / 1000)
    return r === 'accepted' ? 'accepted' : 'refused'
  }

  /**
   * knativearrivaltime = now; knativebrokerttl: absent or unparsable → the table's maxTtl, else
   * decremented (Knative MT ingress, §1.7). Null when the TTL is spent. Mutates the fresh record.
   */
  #stamp(event: CloudEventRecord): CloudEventRecord | null {
    const a = event.attributes as Record<string, string>
    const given = a[TTL]
    let ttl: number
    if (given === undefined || !/^-?\d+$/.test(given)) ttl = this.#host.table.maxTtl
    else {
      ttl = Number(given) - 1
      if (ttl < 0) ttl = 0
    }
    if (ttl <= 0) return null
    a[TTL] = String(ttl)
    a[ARRIVAL] = new Date(this.#wall()).toISOString()
    return event
  }
}

/** `/<ns>/<name>` or `/<ns>/<name>/` → `ns/name`; null otherwise. */
export function brokerKey(path: string): string | null {
  const end = path.length > 1 && path.charCodeAt(path.length - 1) === 0x2f ? path.length - 1 : path.length
  const slash = path.indexOf('/', 1)
  // both segments non-empty, and no third one
  if (slash <= 1 || slash >= end - 1 || path.indexOf('/', slash + 1) !== -1 && path.indexOf('/', slash + 1) < end) return null
  return path.slice(1, end)
}

/**
 * A body chunk that is a small view of a larger socket read would pin that whole read while the
 * event waits in a queue: copy it then.
 */
function own(chunk: Buffer): Buffer {
  return chunk.buffer.byteLength > 2 * chunk.length + 1024 ? Buffer.from(chunk) : chunk
}

function done(res: DownstreamResponse, slot: BrokerSlot, r: AcceptResult, start: number): void {
  const status = r === 'accepted' ? 202 : r === 'full' ? 503 : 500
  slot.ingress.record(status, (performance.now() - start) / 1000)
  if (res.destroyed) return
  if (status === 202) {
    res.writeHead(202, ACCEPTED_HEADERS as string[])
    res.end()
    return
  }
  if (status === 503) return answer(res, 503, 'the broker holds as many events as it may (broker-queue-limit): retry later\n', ['retry-after', '1'])
  answer(res, 500, 'the broker could not store the event\n')
}

function answer(res: DownstreamResponse, status: number, body: string, extra?: string[]): void {
  if (res.headersSent) return
  const headers = ['allow', ALLOW, 'content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body))]
  if (extra !== undefined) headers.push(...extra)
  res.writeHead(status, headers)
  res.end(body)
}

/** 413 without reading the rest: the connection is closed after the answer (HTTP/1.1). */
function tooLarge(res: DownstreamResponse, req: DownstreamRequest, max: number): void {
  const close = req.httpVersionMajor === 1
  answer(res, 413, `event body larger than ${max} bytes\n`, close ? ['connection', 'close'] : undefined)
  // the unread rest of the body is not worth reading: the socket goes once the answer is out
  if (close) res.once('finish', () => req.socket?.destroy())
}

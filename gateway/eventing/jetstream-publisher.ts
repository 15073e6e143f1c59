// Publishes events to JetStream with their PubAcks pipelined, as the Go client's PublishAsync does:
// one wildcard reply subscription, one pending table keyed by a counter, one timer for timeouts.
// `js.publish()` of @nats-io/jetstream is a request per event — a mux entry, a timer, a deferred,
// a "cancelled" RequestError (with its stack) made after every success, a promise chain of four
// hops; with it and an ack write per delivery the gateway spent twice the CPU per durable event it
// spends now (bench/eventing-jetstream.ts, docs/eventing-jetstream.md). The guarantee is unchanged: a
// publish resolves 'accepted' only on a PubAck naming a stream (stored, or recognised as a
// duplicate of one stored); anything else, including no answer within the timeout, is 'failed'.
//
// Publishes queued within one turn of the event loop go out together at the start of the next
// (jetstream-turn.ts), so the NATS client writes them, and the triggers' acks, in one syscall
// instead of one per ingress request.
import { createInbox, headers } from '@nats-io/transport-node'
import type { Msg, MsgHdrs, NatsConnection, PublishOptions, Subscription } from '@nats-io/transport-node'
import { flushNextTurn } from './jetstream-turn.ts'
import type { AcceptResult } from './types.ts'

/** Told the fate of each publish (a broker's counters); called before the publish resolves. */
export interface PubAckSink {
  stored(duplicate: boolean): void
  failed(reason: string): void
}

const MSG_ID = 'Nats-Msg-Id'

/** One publish from accept() to its PubAck: what to write, whom to tell, and the promise to settle. */
class Pending {
  readonly subject: string
  readonly data: Uint8Array
  readonly msgId: string
  readonly sink: PubAckSink
  readonly result: PromiseWithResolvers<AcceptResult> = Promise.withResolvers<AcceptResult>()
  deadline = 0

  constructor(subject: string, data: Uint8Array, msgId: string, sink: PubAckSink) {
    this.subject = subject
    this.data = data
    this.msgId = msgId
    this.sink = sink
  }

  accepted(duplicate: boolean): void {
    this.sink.stored(duplicate)
    this.result.resolve('accepted')
  }

  failed(reason: string): void {
    this.sink.failed(reason)
    this.result.resolve('failed')
  }
}

export class PubAckPipeline {
  readonly #nc: NatsConnection
  readonly #timeoutMs: number
  readonly #prefix: string
  readonly #sub: Subscription
  /** published, waiting for their PubAck; keys ascend in insertion order, so the oldest is first */
  readonly #waiting = new Map<number, Pending>()
  /** accepted this turn, not yet written */
  #queue: Pending[] = []
  #flushScheduled = false
  #next = 0
  #closed = false
  #idle: (() => void) | null = null
  readonly #timer: ReturnType<typeof setInterval>
  /** one options object reused for every publish (the client reads it synchronously) */
  readonly #opts: PublishOptions & { reply: string; headers: MsgHdrs | undefined } = { reply: '', headers: undefined }
  readonly #flush = (): void => this.#write()

  constructor(nc: NatsConnection, timeoutMs: number) {
    this.#nc = nc
    this.#timeoutMs = timeoutMs
    this.#prefix = `${createInbox()}.`
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (err, m) => { if (err === null) this.#onAck(m) } })
    this.#timer = setInterval(() => this.#expire(), Math.max(50, Math.min(1000, Math.floor(timeoutMs / 4))))
    this.#timer.unref()
  }

  /** publishes already written and still waiting for their PubAck, plus those queued */
  get inflight(): number { return this.#waiting.size + this.#queue.length }

  /** resolves once nothing is queued or waiting (the caller bounds the wait) */
  settled(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve()
    return new Promise<void>((resolve) => { this.#idle = resolve })
  }

  #checkIdle(): void {
    if (this.#idle !== null && this.#waiting.size === 0 && this.#queue.length === 0) {
      this.#idle()
      this.#idle = null
    }
  }

  publish(subject: string, data: Uint8Array, msgId: string, sink: PubAckSink): Promise<AcceptResult> {
    const p = new Pending(subject, data, msgId, sink)
    if (this.#closed) {
      p.failed('the NATS connection is closing')
      return p.result.promise
    }
    this.#queue.push(p)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      flushNextTurn(this.#flush)
    }
    return p.result.promise
  }

  #write(): void {
    this.#flushScheduled = false
    const queue = this.#queue
    this.#queue = []
    const deadline = performance.now() + this.#timeoutMs
    const opts = this.#opts
    for (const p of queue) {
      if (this.#closed) {
        p.failed('the NATS connection is closing')
        continue
      }
      const token = this.#next++
      const h = headers()
      h.append(MSG_ID, p.msgId) // a fresh object: append skips set's search for an old value
      opts.reply = this.#prefix + token
      opts.headers = h
      try {
        this.#nc.publish(p.subject, p.data, opts)
      } catch (err) {
        p.failed(`publish to ${p.subject}: ${(err as Error).message}`)
        continue
      }
      p.deadline = deadline
      this.#waiting.set(token, p)
    }
    opts.headers = undefined
  }

  #onAck(m: Msg): void {
    const token = Number(m.subject.slice(this.#prefix.length))
    const p = this.#waiting.get(token)
    if (p === undefined) return // timed out already
    this.#waiting.delete(token)
    if (this.#idle !== null) queueMicrotask(() => this.#checkIdle())
    const data = m.data
    if (data.length === 0) {
      // a status message: 503 is "no responders", no stream listens on the subject
      const code = m.headers?.code ?? 0
      p.failed(code === 503 ? `no JetStream stream stores ${p.subject}` : `publish to ${p.subject}: status ${code} ${m.headers?.description ?? ''}`)
      return
    }
    let ack: { stream?: unknown; duplicate?: unknown; error?: { description?: unknown; err_code?: unknown } }
    try {
      ack = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as typeof ack
    } catch {
      ack = {}
    }
    if (ack.error !== undefined) {
      p.failed(`publish to ${p.subject}: ${String(ack.error.description ?? 'JetStream error')} (err_code ${String(ack.error.err_code)})`)
    } else if (typeof ack.stream !== 'string' || ack.stream === '') {
      p.failed(`publish to ${p.subject}: not a PubAck: ${Buffer.from(data).toString('utf8', 0, 200)}`)
    } else {
      p.accepted(ack.duplicate === true)
    }
  }

  #expire(): void {
    if (this.#waiting.size === 0) return
    const now = performance.now()
    for (const [token, p] of this.#waiting) {
      if (p.deadline > now) break
      this.#waiting.delete(token)
      p.failed(`publish to ${p.subject}: no PubAck within ${this.#timeoutMs} ms`)
    }
    this.#checkIdle()
  }

  /** Fails whatever is still waiting (the connection is going away) and stops the timer. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    for (const p of this.#queue) p.failed('the NATS connection is closing')
    this.#queue = []
    for (const p of this.#waiting.values()) p.failed('the NATS connection closed before the PubAck')
    this.#waiting.clear()
    this.#checkIdle()
    try { this.#sub.unsubscribe() } catch { /* the connection is closed already */ }
  }
}

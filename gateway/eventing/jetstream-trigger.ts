// One trigger's delivery loop on its durable JetStream pull consumer, a port of eventing-natss's
// filter dispatcher (`pkg/broker/filter`) with its outcome mapping, but parallel: eventing-natss
// handles each fetched batch sequentially, so one slow subscriber call holds up the whole trigger.
// Here every message is delivered as it arrives; the bound on in-flight work is the consumer's
// `max_ack_pending` (the server stops handing out messages while that many are unsettled,
// deliveries and delayed naks alike), so nothing here queues without limit.
//
// Settlements (ack, nak with delay, term) made within one turn of the event loop are sent together
// at the start of the next (jetstream-turn.ts, with the publisher's publishes): one socket write
// for every delivery that finished in that turn instead of one each (a write to nats-server per
// ack was the largest single cost per durable event). They stay fire-and-forget (no ackAck round
// trip), as in eventing-natss; a settlement lost to a crash or a disconnect means a redelivery
// after the ack wait, which at-least-once allows.
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import type { Logger } from '../log.ts'
import { retryDelayMs } from './backoff.ts'
import { decodeEvent } from './jetstream-names.ts'
import { flushNextTurn } from './jetstream-turn.ts'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, Deliverer } from './types.ts'

export interface TriggerRunnerOptions {
  readonly trigger: CompiledTrigger
  readonly stream: string
  readonly consumer: string
  readonly deliverer: Deliverer
  /** the consumer's ack wait; in-flight messages older than a third of it are sent `working()` */
  readonly ackWaitMs: number
  /** messages asked for per pull (≤ the consumer's max_ack_pending) */
  readonly pullBatch: number
  readonly counters: DeliveryCounters
  readonly log: Logger | null
}

/** Counted per broker, read by stats() and /debug/eventing; plain fields, no per-event objects. */
export interface DeliveryCounters {
  delivered: number
  filteredOut: number
  retried: number
  deadLettered: number
  /** dead-lettering found no sink or the sink refused: the event is dropped (and logged) */
  dropped: number
  /** deliveries of a message JetStream had handed out before (crash, ack wait, or our own nak) */
  redelivered: number
  undecodable: number
  lastError: string | null
}

export function newDeliveryCounters(): DeliveryCounters {
  return { delivered: 0, filteredOut: 0, retried: 0, deadLettered: 0, dropped: 0, redelivered: 0, undecodable: 0, lastError: null }
}

/** settlement codes in the queue; a nak carries its delay (≥ 0) instead */
const ACK = -1
const TERM = -2

function failedOutcome(status: number, error: string): AttemptOutcome {
  return { status, retryable: true, retryAfterMs: null, body: null, reply: null, error }
}

export class TriggerRunner {
  /** replaced when a new table arrives with the same trigger (filter, subscriber, delivery) */
  trigger: CompiledTrigger
  readonly stream: string
  readonly consumer: string
  /** num_pending + num_ack_pending and num_ack_pending from the last consumer info poll */
  pending = 0
  ackPending = 0
  #o: TriggerRunnerOptions
  #messages: ConsumerMessages | null = null
  /** message → when it was handed to us or last marked working() */
  #inflight = new Map<JsMsg, number>()
  #working: ReturnType<typeof setInterval> | null = null
  #stopped = false
  #js: JetStreamClient | null = null
  #restartTimer: ReturnType<typeof setTimeout> | null = null
  #restartDelayMs = 250
  #idle: (() => void) | null = null
  readonly #onMessage = (m: JsMsg): void => this.#handle(m)
  /** settlements waiting for the next turn: the message, and ACK, TERM or a nak delay in ms */
  #settleMsgs: JsMsg[] = []
  #settleHow: number[] = []
  #settleScheduled = false
  readonly #flushSettlements = (): void => this.#sendSettlements()

  constructor(o: TriggerRunnerOptions) {
    this.#o = o
    this.trigger = o.trigger
    this.stream = o.stream
    this.consumer = o.consumer
  }

  get inflight(): number { return this.#inflight.size }

  async start(js: JetStreamClient): Promise<void> {
    this.#js = js
    // one timer per trigger, not per message (eventing-natss#426 removed per-message timers for CPU)
    const every = Math.max(100, Math.floor(this.#o.ackWaitMs / 3))
    this.#working = setInterval(() => this.#keepAlive(every), every)
    this.#working.unref()
    await this.#consume()
  }

  /** (re)starts pulling; the client's consume() ends on some server answers (400, a 409 it judges fatal) */
  async #consume(): Promise<void> {
    const js = this.#js
    if (js === null || this.#stopped) return
    try {
      const c: Consumer = await js.consumers.get(this.stream, this.consumer)
      if (this.#stopped) return
      const messages = await c.consume({ max_messages: this.#o.pullBatch, callback: this.#onMessage, expires: 10_000 })
      this.#messages = messages
      this.#restartDelayMs = 250
      void this.#watch(messages)
    } catch (err) {
      this.#restart(err)
    }
  }

  async #watch(messages: ConsumerMessages): Promise<void> {
    const log = this.#o.log
    if (log !== null) {
      void (async () => {
        for await (const n of messages.status()) if (n.type !== 'next' && n.type !== 'debug') log.debug('eventing: consumer status', { consumer: this.consumer, status: JSON.stringify(n) })
      })()
    }
    const err = await messages.closed()
    if (this.#stopped || this.#messages !== messages) return
    this.#messages = null
    this.#restart(err)
  }

  #restart(err: unknown): void {
    if (this.#stopped) return
    this.#o.counters.lastError = `consumer ${this.consumer}: ${err instanceof Error ? err.message : 'stopped'}; restarting`
    this.#o.log?.warn('eventing: JetStream consumer stopped; restarting it', { consumer: this.consumer, error: err, inMs: this.#restartDelayMs })
    this.#restartTimer = setTimeout(() => { this.#restartTimer = null; void this.#consume() }, this.#restartDelayMs)
    this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, 10_000)
  }

  /** stop pulling; wait (at most `graceMs`) for deliveries under way, which still settle their messages */
  async stop(graceMs: number): Promise<void> {
    this.#stopped = true
    if (this.#working !== null) clearInterval(this.#working)
    this.#working = null
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer)
    const messages = this.#messages
    this.#messages = null
    if (messages !== null) await messages.close().catch(() => undefined)
    if (this.#inflight.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        new Promise<void>((resolve) => { this.#idle = resolve }),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) }),
      ])
      clearTimeout(timer)
    }
    // before the caller drains the connection
    this.#sendSettlements()
  }

  #settle(m: JsMsg, how: number): void {
    this.#settleMsgs.push(m)
    this.#settleHow.push(how)
    if (!this.#settleScheduled) {
      this.#settleScheduled = true
      flushNextTurn(this.#flushSettlements)
    }
  }

  #sendSettlements(): void {
    this.#settleScheduled = false
    const msgs = this.#settleMsgs
    const how = this.#settleHow
    if (msgs.length === 0) return
    this.#settleMsgs = []
    this.#settleHow = []
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]
      const h = how[i]
      // the client throws once the connection is closed: the message comes back after the ack wait
      try {
        if (h === ACK) m.ack()
        else if (h === TERM) m.term()
        else m.nak(h)
      } catch { /* redelivered */ }
    }
  }

  #keepAlive(every: number): void {
    const before = performance.now() - every
    for (const [m, since] of this.#inflight) {
      if (since <= before) {
        m.working()
        this.#inflight.set(m, performance.now())
      }
    }
  }

  #handle(m: JsMsg): void {
    const c = this.#o.counters
    if (m.info.deliveryCount > 1) c.redelivered++
    const event = decodeEvent(m.data)
    if (event === null) {
      c.undecodable++
      c.lastError = `stream ${this.stream} seq ${m.seq}: not an event stored by Sluice (${m.data.length} bytes); terminated`
      this.#o.log?.warn('eventing: terminated a message that is not an event stored by Sluice', { stream: this.stream, seq: m.seq, bytes: m.data.length })
      m.term('undecodable')
      return
    }
    let match = false
    try { match = this.trigger.filter(event) } catch { match = false }
    if (!match) {
      c.filteredOut++
      this.#settle(m, ACK)
      return
    }
    this.#inflight.set(m, performance.now())
    void this.#deliver(m, event)
  }

  async #deliver(m: JsMsg, event: CloudEventRecord): Promise<void> {
    const trigger = this.trigger
    const spec = trigger.delivery
    const deliverer = this.#o.deliverer
    const c = this.#o.counters
    const n = m.info.deliveryCount
    try {
      let outcome: AttemptOutcome
      try {
        outcome = await deliverer.attempt(trigger, event)
      } catch (err) {
        outcome = failedOutcome(0, (err as Error).message)
      }
      if (outcome.status >= 200 && outcome.status < 300) {
        let replied = true
        if (outcome.reply !== null) replied = await deliverer.reply(trigger, outcome.reply).catch(() => false)
        // data-plane spec: a reply the broker fails to accept SHOULD cause redelivery of the original
        if (replied) {
          c.delivered++
          this.#settle(m, ACK)
          return
        }
        outcome = failedOutcome(502, 'the reply was refused by the broker')
      }
      c.lastError = `trigger ${trigger.namespace}/${trigger.name}: ${outcome.error ?? `subscriber answered ${outcome.status}`}`
      if (outcome.retryable && n < spec.retry + 1) {
        c.retried++
        this.#settle(m, Math.max(0, retryDelayMs(spec, n, outcome.retryAfterMs)))
        return
      }
      const taken = await deliverer.deadLetter(trigger, event, outcome).catch(() => false)
      if (taken) c.deadLettered++
      else {
        c.dropped++
        this.#o.log?.warn('eventing: event dropped after its last attempt (no dead-letter sink took it)', {
          trigger: `${trigger.namespace}/${trigger.name}`, id: event.attributes.id, source: event.attributes.source, status: outcome.status,
        })
      }
      // settled either way: ack after the last retryable failure, term a non-retryable one (as eventing-natss)
      this.#settle(m, outcome.retryable ? ACK : TERM)
    } finally {
      this.#inflight.delete(m)
      if (this.#inflight.size === 0 && this.#idle !== null) {
        this.#idle()
        this.#idle = null
      }
    }
  }
}

// The in-memory broker backing (the embedded default): a bounded hold per broker, fan-out to a
// lane per trigger, bounded concurrency per lane, retries on an injectable clock. Unlike Knative's
// InMemoryChannel (eventing.md §1.9: it answers the producer only after every subscription
// finished, retries included, and a failure there makes the producer resend to every trigger),
// the producer never waits for subscribers: accept() stores and returns. When a broker holds
// `queueLimit` events the ingress answers 503 with Retry-After instead of growing. Events are lost
// on a crash, and ordering per trigger is not promised (concurrent attempts, retries re-queue).
import type { AcceptResult, AttemptOutcome, BrokerStats, CloudEventRecord, CompiledBroker, CompiledTrigger, Deliverer, EventBacking, EventingTable } from './types.ts'
import { retryDelayMs } from './backoff.ts'
import { REAL_TIMERS, type Timers } from './delivery.ts'
import type { TriggerSlot } from './eventing-metrics.ts'
import type { Logger } from '../log.ts'

export interface MemoryBackingOptions {
  deliverer: Deliverer
  timers?: Timers
  /** attempts in flight per trigger at most (default 64) */
  concurrency?: number
  /** the metric slot of a trigger, for processing latency and retry counts */
  slot?: (trigger: CompiledTrigger) => TriggerSlot
  log?: Logger
}

/** One accepted event, held until every matching trigger settled it. */
class Held {
  readonly event: CloudEventRecord
  readonly broker: BrokerQueue
  readonly accepted: number
  pending: number
  constructor(event: CloudEventRecord, broker: BrokerQueue, accepted: number, pending: number) {
    this.event = event
    this.broker = broker
    this.accepted = accepted
    this.pending = pending
  }
}

/** One event's delivery to one trigger. */
class Task {
  readonly held: Held
  readonly lane: Lane
  /** attempts made so far */
  attempts = 0
  timer: unknown = null
  constructor(held: Held, lane: Lane) {
    this.held = held
    this.lane = lane
  }
}

/** A FIFO without per-item allocation beyond the array slot; compacts when half consumed. */
class Fifo<T> {
  #items: (T | undefined)[] = []
  #head = 0
  get size(): number { return this.#items.length - this.#head }
  push(v: T): void { this.#items.push(v) }
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined
    const v = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return v
  }
  drain(fn: (v: T) => void): void {
    for (let v = this.shift(); v !== undefined; v = this.shift()) fn(v)
  }
}

class Lane {
  trigger: CompiledTrigger
  readonly queue = new Fifo<Task>()
  inflight = 0
  scheduled = false
  retired = false
  constructor(trigger: CompiledTrigger) { this.trigger = trigger }
}

class BrokerQueue {
  readonly key: string
  limit: number
  lanes: Lane[] = []
  /** events held: queued, in delivery or waiting for a retry, for any trigger */
  held = 0
  retries = 0
  lastError: string | null = null
  constructor(key: string, limit: number) {
    this.key = key
    this.limit = limit
  }
}

export class MemoryBacking implements EventBacking {
  readonly #deliverer: Deliverer
  readonly #timers: Timers
  readonly #concurrency: number
  readonly #slot: ((t: CompiledTrigger) => TriggerSlot) | null
  readonly #log: Logger | undefined
  readonly #brokers = new Map<string, BrokerQueue>()
  readonly #waiting = new Set<Task>()
  #closed = false
  readonly #pumpReady: Lane[] = []
  #pumpScheduled = false

  constructor(opts: MemoryBackingOptions) {
    this.#deliverer = opts.deliverer
    this.#timers = opts.timers ?? REAL_TIMERS
    this.#concurrency = opts.concurrency ?? 64
    this.#slot = opts.slot ?? null
    this.#log = opts.log
  }

  async install(table: EventingTable): Promise<void> {
    const seen = new Set<string>()
    for (const b of table.brokers.values()) {
      if (b.backing !== 'memory') continue
      seen.add(b.key)
      let q = this.#brokers.get(b.key)
      if (q === undefined) this.#brokers.set(b.key, q = new BrokerQueue(b.key, table.queueLimit))
      q.limit = table.queueLimit
      const old = new Map(q.lanes.map((l) => [l.trigger.uid, l]))
      const lanes: Lane[] = []
      for (const t of b.triggers) {
        const lane = old.get(t.uid)
        if (lane !== undefined) {
          // Same trigger, maybe new filter/subscriber/delivery: queued events use the new one.
          lane.trigger = t
          old.delete(t.uid)
          lanes.push(lane)
        } else {
          lanes.push(new Lane(t))
        }
      }
      for (const gone of old.values()) this.#retire(gone)
      q.lanes = lanes
    }
    for (const [key, q] of this.#brokers) {
      if (seen.has(key)) continue
      for (const l of q.lanes) this.#retire(l)
      this.#brokers.delete(key)
    }
  }

  accept(broker: CompiledBroker, event: CloudEventRecord): AcceptResult {
    const q = this.#brokers.get(broker.key)
    if (q === undefined || this.#closed) return 'failed'
    if (q.held >= q.limit) return 'full'
    const lanes = q.lanes
    let held: Held | null = null
    for (let i = 0; i < lanes.length; i++) {
      const lane = lanes[i]!
      if (!lane.trigger.filter(event)) continue
      if (held === null) held = new Held(event, q, this.#timers.now(), 0)
      held.pending++
      lane.queue.push(new Task(held, lane))
      this.#schedule(lane)
    }
    // No trigger matched: "delivered to zero subscribers" (broker spec), nothing is held.
    if (held !== null) q.held++
    return 'accepted'
  }

  stats(): readonly BrokerStats[] {
    const out: BrokerStats[] = []
    for (const q of this.#brokers.values()) out.push({ broker: q.key, backing: 'memory', depth: q.held, retriesInFlight: q.retries, lastError: q.lastError })
    return out
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const t of this.#waiting) this.#timers.clearTimeout(t.timer)
    this.#waiting.clear()
    for (const q of this.#brokers.values()) for (const l of q.lanes) this.#retire(l)
    this.#brokers.clear()
  }

  /** Pump a lane on the next turn: the producer's 202 is written before any delivery starts. */
  #schedule(lane: Lane): void {
    if (lane.scheduled) return
    lane.scheduled = true
    this.#pumpReady.push(lane)
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true
      setImmediate(this.#pumpAll)
    }
  }

  readonly #pumpAll = (): void => {
    this.#pumpScheduled = false
    const ready = this.#pumpReady.splice(0)
    for (const lane of ready) {
      lane.scheduled = false
      this.#pump(lane)
    }
  }

  #pump(lane: Lane): void {
    while (lane.inflight < this.#concurrency && !lane.retired) {
      const task = lane.queue.shift()
      if (task === undefined) return
      this.#start(task)
    }
  }

  #start(task: Task): void {
    const lane = task.lane
    lane.inflight++
    if (task.attempts === 0 && this.#slot !== null) this.#slot(lane.trigger).processing((this.#timers.now() - task.held.accepted) / 1000)
    this.#deliverer.attempt(lane.trigger, task.held.event).then(
      (outcome) => this.#attempted(task, outcome),
      (err: Error) => this.#attempted(task, { status: 0, retryable: true, retryAfterMs: null, body: null, reply: null, error: err.message }),
    )
  }

  #attempted(task: Task, outcome: AttemptOutcome): void {
    const lane = task.lane
    task.attempts++
    if (outcome.status >= 200 && outcome.status < 300) {
      if (outcome.reply === null) {
        lane.inflight--
        this.#done(task)
        this.#pump(lane)
        return
      }
      // The reply re-enters the broker; if it is refused (full), the original is retried.
      this.#deliverer.reply(lane.trigger, outcome.reply).then((accepted) => {
        lane.inflight--
        if (accepted) this.#done(task)
        else this.#failed(task, { status: 503, retryable: true, retryAfterMs: null, body: null, reply: null, error: 'the broker refused the reply' })
        this.#pump(lane)
      }, (err: Error) => {
        lane.inflight--
        this.#failed(task, { status: 500, retryable: true, retryAfterMs: null, body: null, reply: null, error: err.message })
        this.#pump(lane)
      })
      return
    }
    lane.inflight--
    this.#failed(task, outcome)
    this.#pump(lane)
  }

  #failed(task: Task, outcome: AttemptOutcome): void {
    const lane = task.lane
    const q = task.held.broker
    const trigger = lane.trigger
    q.lastError = `trigger ${trigger.namespace}/${trigger.name}: ${outcome.error ?? `subscriber answered ${outcome.status}`}`
    const spec = trigger.delivery
    if (outcome.retryable && task.attempts <= spec.retry && !lane.retired && !this.#closed) {
      const delay = retryDelayMs(spec, task.attempts, outcome.retryAfterMs)
      q.retries++
      if (this.#slot !== null) this.#slot(trigger).retries++
      this.#waiting.add(task)
      task.timer = this.#timers.setTimeout(() => {
        this.#waiting.delete(task)
        task.timer = null
        q.retries--
        if (lane.retired) return this.#done(task)
        lane.queue.push(task)
        this.#pump(lane)
      }, delay)
      return
    }
    if (lane.retired || this.#closed) return this.#done(task)
    // Final failure: the dead-letter sink (with the same retry policy), then the event is settled.
    this.#deliverer.deadLetter(trigger, task.held.event, outcome).then(
      () => this.#done(task),
      (err: Error) => {
        this.#log?.warn('dead letter failed', { trigger: `${trigger.namespace}/${trigger.name}`, error: err.message })
        this.#done(task)
      },
    )
  }

  #done(task: Task): void {
    const held = task.held
    if (--held.pending === 0) held.broker.held--
  }

  /** A trigger (or its broker) is gone: queued deliveries are dropped, attempts in flight finish. */
  #retire(lane: Lane): void {
    lane.retired = true
    lane.queue.drain((t) => this.#done(t))
  }
}

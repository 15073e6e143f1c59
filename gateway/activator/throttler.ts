// Per-revision throttler, the activator's core (Knative pkg/activator/net/throttler.go):
// capacity = containerConcurrency × routable instances (unlimited when cc is 0); a request that
// finds no free slot waits in a bounded FIFO and is released the moment a slot frees or an
// instance becomes ready. It also meters concurrency the way Knative's stats reporter does:
// in-flight requests, buffered ones included, integrated over time. Per instance it keeps Envoy's
// outlier detection (outlier-detector.ts decides; ejected instances are skipped by the pick), and
// for revisions without containerConcurrency Envoy's circuit breakers (breaker limits below).
import { Queue } from './queue.ts'
import { DEFAULT_OUTLIER_POLICY, countOutcome, eject, mayEject, unEject, type OutlierPolicy } from './outlier-detector.ts'
import { DEFAULT_RETRY_BUDGET, withinBudget, type RetryBudget } from './retry-budget.ts'
import { UpstreamInstance, type InstanceRef } from './upstream-instance.ts'
import { UpstreamPools } from './upstream-pools.ts'
import type { SharedSlots } from '../worker/shared-slots.ts'

/** A request that can be sent to an instance, or refused while it waits. */
export interface Waiter {
  done: boolean
  /** performance.now() by which a response must have started; Infinity for none */
  readonly deadline: number
  readonly arrived: number
  /** a retry goes to another instance than this one when there is one */
  readonly avoid?: UpstreamInstance | null
  send(instance: UpstreamInstance, now: number): void
  /** `retryAfter`: seconds for a Retry-After header (breaker trips) */
  reject(status: 503 | 504, body: string, retryAfter?: string): void
}

export interface ThrottlerHooks {
  /** a request arrived and found no routable instance: scale from zero now, not at the next tick */
  demand(t: RevisionThrottler): void
  /** the throttler has requests waiting: expire them at their deadline */
  waiting(t: RevisionThrottler): void
  /** the outlier clock (performance.now() unless a test injects one) */
  now?(): number
  /** an instance was ejected: schedule its return (and let control restart repeat offenders) */
  ejected?(t: RevisionThrottler, inst: UpstreamInstance): void
  /** with --workers: instance counts shared by every worker (instances whose ref has a slot use it) */
  readonly slots?: SharedSlots | null
}

/**
 * Envoy's circuit-breaker thresholds for one revision, for upstreams without containerConcurrency
 * (with it, the slots already bound what an instance gets). 0 = no limit.
 */
export interface BreakerLimits {
  /** requests waiting for an instance (Envoy max_pending_requests); more get 503 */
  readonly maxPending: number
  /** requests sent and not yet answered (Envoy max_requests); more get 503 */
  readonly maxRequests: number
  /** HTTP/1 connections in use, one per request sent (Envoy max_connections); more wait as pending */
  readonly maxConnections: number
}

export const NO_BREAKER: BreakerLimits = Object.freeze({ maxPending: 0, maxRequests: 0, maxConnections: 0 })

/** Breaker trip reasons, indexes of RevisionThrottler.trips (and metric label values). */
export const TRIP = { max_pending: 0, max_requests: 1, max_connections: 2 } as const
export const TRIP_REASONS = Object.keys(TRIP) as (keyof typeof TRIP)[]
/** Seconds a client refused by a breaker is asked to wait. */
const RETRY_AFTER = '1'

export interface ThrottlerStats {
  key: string
  concurrency: number
  requests: number
}

/** Upper bounds (seconds) of the queue wait histogram. */
export const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const
/** Shared all-zero histogram of throttlers nothing has waited on yet (never written). */
const NO_WAITS = new Float64Array(WAIT_BUCKETS.length + 1)

// Knative's balancing by containerConcurrency: power of two choices for unlimited, first
// available for 1–3 (keeps small pools packed), round robin above.
const P2C = 0, FIRST = 1, ROUND_ROBIN = 2

export class RevisionThrottler {
  readonly key: string
  readonly namespace: string
  readonly revision: string
  readonly hooks: ThrottlerHooks
  /** the gateway's keep-alive pools, shared by origin with every other throttler */
  readonly #pools: UpstreamPools
  containerConcurrency = 0
  queueDepth = 10_000
  /** instances come from a runtime that can scale this revision from zero */
  managed = false
  /** the runtime reports the revision failing: the 503 answer while no instance is ready, else null */
  failure: string | null = null
  readonly #noInstance: string
  #policy = P2C
  #cursor = 0
  #outlier: OutlierPolicy = DEFAULT_OUTLIER_POLICY
  #breaker: BreakerLimits = NO_BREAKER
  #retryBudget: RetryBudget = DEFAULT_RETRY_BUDGET
  /** requests holding an instance (sent, not yet over): what the breakers count */
  #sent = 0
  /** max-connections applies: HTTP/1 (h2c multiplexes requests over a few connections) */
  #connectionCap = 0
  /** routable instances in a stable order */
  routable: UpstreamInstance[] = []
  readonly #byId = new Map<string, UpstreamInstance>()
  /** instances of a closed throttler that may still finish requests (made by close()) */
  #closed: Map<string, UpstreamInstance> | null = null
  readonly queue = new Queue<Waiter>()

  // meter: in-flight including buffered, integrated over time since the last sample
  current = 0
  #integral = 0
  #lastChange = 0
  #windowStart = 0
  #arrivals = 0

  /** waiting requests that are parked connections (see parked-request.ts), part of queue.size */
  parked = 0
  // counters for metrics
  overflows = 0
  timeouts = 0
  waitCount = 0
  waitSum = 0
  /** queue wait histogram (WAIT_BUCKETS + Inf), made on the first wait */
  waitBuckets: Float64Array = NO_WAITS
  /** outlier ejections of this revision's instances, and those the max-ejection cap prevented */
  ejections = 0
  ejectionsPrevented = 0
  /** breaker trips by reason (TRIP) */
  readonly trips = new Float64Array(TRIP_REASONS.length)
  /** requests retrying now (retry-budget.ts); sends after the first; retries the budget refused */
  retrying = 0
  retries = 0
  retriesRefused = 0

  constructor(key: string, namespace: string, revision: string, hooks: ThrottlerHooks, pools: UpstreamPools = new UpstreamPools()) {
    this.key = key
    this.namespace = namespace
    this.revision = revision
    this.hooks = hooks
    this.#pools = pools
    this.#noInstance = `no ready instance for ${revision}\n`
    this.#lastChange = this.#windowStart = performance.now()
  }

  configure(containerConcurrency: number, queueDepth: number, managed: boolean, failure: string | null = null, opts: { outlier?: OutlierPolicy; breaker?: BreakerLimits; retryBudget?: RetryBudget; protocol?: 'http1' | 'h2c' } = {}): void {
    this.containerConcurrency = containerConcurrency
    this.queueDepth = queueDepth
    this.managed = managed
    this.failure = failure
    this.#outlier = opts.outlier ?? DEFAULT_OUTLIER_POLICY
    this.#breaker = containerConcurrency === 0 ? opts.breaker ?? NO_BREAKER : NO_BREAKER
    this.#retryBudget = opts.retryBudget ?? DEFAULT_RETRY_BUDGET
    this.#connectionCap = opts.protocol === 'h2c' ? 0 : this.#breaker.maxConnections
    this.#policy = containerConcurrency === 0 ? P2C : containerConcurrency <= 3 ? FIRST : ROUND_ROBIN
    this.pump(performance.now())
    // Requests waiting for an instance the runtime says is not coming get why, now, not a 504 later.
    if (failure !== null && this.routable.length === 0) this.rejectAll(503, failure)
  }

  /**
   * The answer to a request refused at once for want of an instance (see noReadyInstance). A
   * failing managed revision is still asked for, so the runtime keeps trying while requests come.
   */
  noInstanceAnswer(): string {
    if (this.managed) {
      // In flight for the length of the poke only (nothing added to the average): a revision at
      // zero is asked for an instance, as a buffered request would ask.
      const now = performance.now()
      this.#meter(now, 1)
      this.hooks.demand(this)
      this.#meter(now, -1)
    }
    return this.failure ?? this.#noInstance
  }

  /** Replace the instance set; instances that disappear finish their requests, then close. */
  setInstances(refs: readonly InstanceRef[]): void {
    const keep = new Set<string>()
    const next: UpstreamInstance[] = []
    for (const ref of refs) {
      keep.add(ref.id)
      let inst = this.#byId.get(ref.id)
      // A new trust chain or protocol needs new connections; the same settings keep the pool.
      if (inst === undefined || inst.origin !== ref.origin || inst.tls?.id !== ref.tls?.id || (this.hooks.slots != null && inst.slot !== (ref.slot ?? -1))) {
        if (inst !== undefined) this.#retire(inst)
        inst = new UpstreamInstance(ref, this.#pools, this.hooks.slots ?? null)
        this.#byId.set(ref.id, inst)
      } else {
        inst.unroutable = false
      }
      next.push(inst)
    }
    for (const [id, inst] of this.#byId) if (!keep.has(id)) this.#retire(inst)
    this.routable = next
    this.pump(performance.now())
  }

  #retire(inst: UpstreamInstance): void {
    this.#byId.delete(inst.id)
    inst.unroutable = true
    inst.removed = true
    if (inst.inflight === 0) inst.close()
  }

  instance(id: string): UpstreamInstance | undefined {
    return this.#byId.get(id)
  }

  instances(): IterableIterator<UpstreamInstance> {
    return this.#byId.values()
  }

  /** An instance's balancing state for /debug/instances: in flight and outlier ejection (`now`: the outlier clock). */
  describeInstance(inst: UpstreamInstance, now: number): object {
    return {
      inflight: inst.inflight,
      ejected: inst.ejectedUntil !== 0,
      ...(inst.ejectedUntil !== 0 ? { ejectedForMs: Math.max(0, Math.round(inst.ejectedUntil - now)) } : {}),
      ejections: inst.ejectionsTotal,
      consecutiveGatewayErrors: inst.consecutiveGateway,
      consecutive5xx: inst.consecutive5xx,
    }
  }

  /** A request arrives: send it now, buffer it, or refuse it when the queue is full. */
  admit(w: Waiter, now: number): void {
    this.#meter(now, 1)
    this.#arrivals++
    const limits = this.#breaker
    if (limits.maxRequests > 0 && this.#sent >= limits.maxRequests) {
      this.trips[TRIP.max_requests]++
      w.reject(503, `too many requests in flight for ${this.revision} (circuit breaker)\n`, RETRY_AFTER)
      return
    }
    if (this.queue.size === 0) {
      const inst = this.#pick()
      if (inst !== null) {
        w.send(inst, now)
        return
      }
      if (this.#connectionCap > 0 && this.#sent >= this.#connectionCap) this.trips[TRIP.max_connections]++
    }
    if (limits.maxPending > 0 && this.queue.size >= limits.maxPending) {
      this.trips[TRIP.max_pending]++
      w.reject(503, `too many requests waiting for ${this.revision} (circuit breaker)\n`, RETRY_AFTER)
      return
    }
    if (this.queue.size >= this.queueDepth) {
      this.overflows++
      w.reject(503, `too many requests waiting for ${this.revision}\n`)
      return
    }
    this.queue.push(w)
    if (this.#routableCount() === 0) this.hooks.demand(this)
    this.hooks.waiting(this)
  }

  /** Put a request that never reached its instance back at the front of the queue. */
  requeue(w: Waiter): void {
    this.queue.unshift(w)
    if (this.#routableCount() === 0) this.hooks.demand(this)
    this.hooks.waiting(this)
    this.pump(performance.now())
  }

  /** A request admitted by this throttler is over (sent or not). */
  leave(now: number, inst: UpstreamInstance | null): void {
    this.#meter(now, -1)
    if (inst !== null) {
      inst.done()
      this.#sent--
      if (this.queue.size > 0) this.pump(now)
    }
  }

  /** May one more request start retrying (the retry budget)? Counts it as retrying when so. */
  startRetry(): boolean {
    if (!withinBudget(this.#retryBudget, this.retrying, this.current)) {
      this.retriesRefused++
      return false
    }
    this.retrying++
    return true
  }

  /** A request that retried is over. */
  retryOver(): void {
    this.retrying--
  }

  /** Whether some instance other than `inst` could take a request (routable, not ejected). */
  hasAlternative(inst: UpstreamInstance): boolean {
    for (const i of this.routable) if (i !== inst && !i.unroutable && i.ejectedUntil === 0) return true
    return false
  }

  /** A request gives its instance back without leaving (it never reached it: see requeue). */
  putBack(inst: UpstreamInstance): void {
    inst.done()
    this.#sent--
  }

  /**
   * What an instance answered: a status, or LOCAL_FAILURE (outlier-detector.ts). One compare on
   * the way of a success; an instance whose streak reached its threshold is ejected unless the
   * max-ejection cap forbids it.
   */
  outcome(inst: UpstreamInstance, status: number): void {
    if (!countOutcome(inst, this.#outlier, status) || inst.ejectedUntil !== 0 || inst.removed) return
    let ejected = 0
    let others = 0
    for (const i of this.routable) {
      if (i.ejectedUntil !== 0) ejected++
      else if (!i.unroutable && i !== inst) others++
    }
    if (!mayEject(this.#outlier, ejected, others, this.routable.length)) {
      this.ejectionsPrevented++
      return
    }
    eject(inst, this.#outlier, this.hooks.now?.() ?? performance.now())
    this.ejections++
    this.hooks.ejected?.(this, inst)
  }

  /**
   * Return instances whose ejection is over at `now`; the earliest ejection still running ends
   * at the returned time (0: none is ejected).
   */
  returnEjected(now: number): number {
    let next = 0
    let returned = false
    for (const inst of this.#byId.values()) {
      const until = inst.ejectedUntil
      if (until === 0) continue
      if (until <= now) {
        unEject(inst, now)
        returned = true
      } else if (next === 0 || until < next) next = until
    }
    if (returned && this.queue.size > 0) this.pump(performance.now())
    return next
  }

  /** Hand free slots to waiting requests, oldest first. */
  pump(now: number): void {
    while (this.queue.size > 0) {
      const w = this.queue.peek()!
      if (w.done) {
        this.queue.shift()
        continue
      }
      const inst = this.#pick(w.avoid ?? null)
      if (inst === null) return
      this.queue.shift()
      this.#recordWait(now - w.arrived)
      w.send(inst, now)
    }
  }

  /** Refuse waiting requests whose deadline has passed; returns how many still wait. */
  expire(now: number): number {
    // Deadlines grow with arrival order for one revision, except after a requeue: scan the head.
    while (this.queue.size > 0) {
      const w = this.queue.peek()!
      if (w.done) {
        this.queue.shift()
        continue
      }
      if (w.deadline > now) break
      this.queue.shift()
      this.timeouts++
      w.reject(504, 'activator request timeout\n')
    }
    return this.queue.size
  }

  /** Fail every waiting request (the revision went away or the gateway stops). */
  rejectAll(status: 503 | 504, body: string): void {
    for (let w = this.queue.shift(); w !== undefined; w = this.queue.shift()) if (!w.done) w.reject(status, body)
  }

  /** Knative's time-weighted average concurrency and request count since the last sample. */
  sample(now: number): ThrottlerStats {
    this.#meter(now, 0)
    const elapsed = (now - this.#windowStart) / 1000
    const concurrency = elapsed > 0 ? this.#integral / 1000 / elapsed : this.current
    const requests = this.#arrivals
    this.#integral = 0
    this.#arrivals = 0
    this.#windowStart = now
    return { key: this.key, concurrency, requests }
  }

  #meter(now: number, delta: number): void {
    this.#integral += this.current * (now - this.#lastChange)
    this.#lastChange = now
    this.current += delta
  }

  #routableCount(): number {
    let n = 0
    for (const inst of this.routable) if (!inst.unroutable && inst.ejectedUntil === 0) n++
    return n
  }

  #pick(avoid: UpstreamInstance | null = null): UpstreamInstance | null {
    const list = this.routable
    const n = list.length
    if (n === 0 || (this.#connectionCap > 0 && this.#sent >= this.#connectionCap)) return null
    const cc = this.containerConcurrency
    let chosen: UpstreamInstance | null = null
    if (this.#policy === P2C) {
      if (n === 1) chosen = list[0].unroutable || list[0].ejectedUntil !== 0 ? null : list[0]
      else {
        const i = (Math.random() * n) | 0
        let j = (Math.random() * (n - 1)) | 0
        if (j >= i) j++
        const a = list[i], b = list[j]
        if (a.unroutable || a.ejectedUntil !== 0) chosen = b.unroutable || b.ejectedUntil !== 0 ? this.#firstRoutable() : b
        else if (b.unroutable || b.ejectedUntil !== 0) chosen = a
        else chosen = a.inflight < b.inflight || (a.inflight === b.inflight && Math.random() < 0.5) ? a : b
      }
    } else if (this.#policy === FIRST) {
      // claim() checks and takes the slot in one step (atomically across --workers)
      for (let i = 0; i < n; i++) {
        const inst = list[i]
        if (!inst.unroutable && inst.ejectedUntil === 0 && inst.claim(cc)) { chosen = inst; break }
      }
    } else {
      for (let k = 0; k < n; k++) {
        const inst = list[(this.#cursor + k) % n]
        if (!inst.unroutable && inst.ejectedUntil === 0 && inst.claim(cc)) {
          chosen = inst
          this.#cursor = (this.#cursor + k + 1) % n
          break
        }
      }
    }
    if (chosen === null) return null
    if (this.#policy === P2C) chosen.take()
    if (chosen === avoid) {
      const alt = this.#alternative(avoid)
      if (alt !== null) {
        avoid.done()
        chosen = alt
      }
    }
    this.#sent++
    return chosen
  }

  /** An instance other than `avoid` with a free slot, for a retry; its slot is taken. */
  #alternative(avoid: UpstreamInstance): UpstreamInstance | null {
    const cc = this.containerConcurrency
    for (const inst of this.routable) {
      if (inst !== avoid && !inst.unroutable && inst.ejectedUntil === 0 && inst.claim(cc)) return inst
    }
    return null
  }

  #firstRoutable(): UpstreamInstance | null {
    for (const inst of this.routable) if (!inst.unroutable && inst.ejectedUntil === 0) return inst
    return null
  }

  #recordWait(ms: number): void {
    const s = ms / 1000
    this.waitCount++
    this.waitSum += s
    let b = 0
    while (b < WAIT_BUCKETS.length && s > WAIT_BUCKETS[b]) b++
    if (this.waitBuckets === NO_WAITS) this.waitBuckets = new Float64Array(WAIT_BUCKETS.length + 1)
    this.waitBuckets[b]++
  }

  /** Stop routing: instances close once their last request is done. */
  close(): void {
    const closed = this.#closed ??= new Map()
    for (const inst of this.#byId.values()) {
      inst.removed = true
      inst.unroutable = true
      if (inst.inflight === 0) inst.close()
      if (inst.inflight > 0) closed.set(inst.id, inst)
    }
    this.#byId.clear()
    this.routable = []
  }

  /** An instance of a closed throttler that may still be finishing requests. */
  retiredInstance(id: string): UpstreamInstance | undefined {
    const inst = this.#closed?.get(id)
    return inst !== undefined && inst.inflight > 0 ? inst : undefined
  }
}

/**
 * Fixed upstreams or endpoints without one ready address, or a managed revision the runtime
 * reports failing: nothing will come to serve a request soon, so it is answered 503 at once
 * instead of waiting (other managed revisions scale up instead).
 */
export function noReadyInstance(t: RevisionThrottler): boolean {
  return t.routable.length === 0 && (!t.managed || t.failure !== null)
}

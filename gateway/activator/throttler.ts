// Per-revision throttler, the activator's core (Knative pkg/activator/net/throttler.go):
// capacity = containerConcurrency × routable instances (unlimited when cc is 0); a request that
// finds no free slot waits in a bounded FIFO and is released the moment a slot frees or an
// instance becomes ready. It also meters concurrency the way Knative's stats reporter does:
// in-flight requests, buffered ones included, integrated over time.
import { Queue } from './queue.ts'
import { UpstreamInstance, type InstanceRef } from './upstream-instance.ts'
import { UpstreamPools } from './upstream-pools.ts'

/** A request that can be sent to an instance, or refused while it waits. */
export interface Waiter {
  done: boolean
  /** performance.now() by which a response must have started; Infinity for none */
  readonly deadline: number
  readonly arrived: number
  send(instance: UpstreamInstance, now: number): void
  reject(status: 503 | 504, body: string): void
}

export interface ThrottlerHooks {
  /** a request arrived and found no routable instance: scale from zero now, not at the next tick */
  demand(t: RevisionThrottler): void
  /** the throttler has requests waiting: expire them at their deadline */
  waiting(t: RevisionThrottler): void
}

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

  constructor(key: string, namespace: string, revision: string, hooks: ThrottlerHooks, pools: UpstreamPools = new UpstreamPools()) {
    this.key = key
    this.namespace = namespace
    this.revision = revision
    this.hooks = hooks
    this.#pools = pools
    this.#noInstance = `no ready instance for ${revision}\n`
    this.#lastChange = this.#windowStart = performance.now()
  }

  configure(containerConcurrency: number, queueDepth: number, managed: boolean, failure: string | null = null): void {
    this.containerConcurrency = containerConcurrency
    this.queueDepth = queueDepth
    this.managed = managed
    this.failure = failure
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
      if (inst === undefined || inst.origin !== ref.origin || inst.tls?.id !== ref.tls?.id) {
        if (inst !== undefined) this.#retire(inst)
        inst = new UpstreamInstance(ref, this.#pools)
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

  /** A request arrives: send it now, buffer it, or refuse it when the queue is full. */
  admit(w: Waiter, now: number): void {
    this.#meter(now, 1)
    this.#arrivals++
    if (this.queue.size === 0) {
      const inst = this.#pick()
      if (inst !== null) {
        w.send(inst, now)
        return
      }
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
      if (this.queue.size > 0) this.pump(now)
    }
  }

  /** Hand free slots to waiting requests, oldest first. */
  pump(now: number): void {
    while (this.queue.size > 0) {
      const w = this.queue.peek()!
      if (w.done) {
        this.queue.shift()
        continue
      }
      const inst = this.#pick()
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
    for (const inst of this.routable) if (!inst.unroutable) n++
    return n
  }

  #pick(): UpstreamInstance | null {
    const list = this.routable
    const n = list.length
    if (n === 0) return null
    const cc = this.containerConcurrency
    let chosen: UpstreamInstance | null = null
    if (this.#policy === P2C) {
      if (n === 1) chosen = list[0].unroutable ? null : list[0]
      else {
        const i = (Math.random() * n) | 0
        let j = (Math.random() * (n - 1)) | 0
        if (j >= i) j++
        const a = list[i], b = list[j]
        if (a.unroutable) chosen = b.unroutable ? this.#firstRoutable() : b
        else if (b.unroutable) chosen = a
        else chosen = a.inflight < b.inflight || (a.inflight === b.inflight && Math.random() < 0.5) ? a : b
      }
    } else if (this.#policy === FIRST) {
      for (let i = 0; i < n; i++) {
        const inst = list[i]
        if (!inst.unroutable && inst.inflight < cc) { chosen = inst; break }
      }
    } else {
      for (let k = 0; k < n; k++) {
        const inst = list[(this.#cursor + k) % n]
        if (!inst.unroutable && inst.inflight < cc) {
          chosen = inst
          this.#cursor = (this.#cursor + k + 1) % n
          break
        }
      }
    }
    if (chosen !== null) chosen.take()
    return chosen
  }

  #firstRoutable(): UpstreamInstance | null {
    for (const inst of this.routable) if (!inst.unroutable) return inst
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

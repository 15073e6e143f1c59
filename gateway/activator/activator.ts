// The activator: one throttler per backend (revision or Service port), kept across route tables
// so slots, queues and meters survive reloads. It is the gateway's seam to the control plane:
// control pushes instances (setInstances), asks for drains, reads meters, and hears of demand.
import type { RouteTable } from '../route-table.ts'
import { RevisionThrottler, type ThrottlerHooks, type ThrottlerStats } from './throttler.ts'
import type { InstanceRef, UpstreamInstance } from './upstream-instance.ts'
import { UpstreamPools } from './upstream-pools.ts'
import type { SharedSlots } from '../worker/shared-slots.ts'

/** How often waiting requests are checked against their deadline. */
const EXPIRY_INTERVAL_MS = 50

export class Activator implements ThrottlerHooks {
  readonly #throttlers = new Map<string, RevisionThrottler>()
  /** throttlers no table routes to any more that still have requests running */
  readonly #retired = new Set<RevisionThrottler>()
  readonly #waiting = new Set<RevisionThrottler>()
  #expiry: NodeJS.Timeout | null = null
  /** per-revision queue bound (config-sluice activator-queue-depth) */
  queueDepth = 10_000
  /** called when a request finds a runtime-managed revision without a routable instance */
  onDemand: ((key: string) => void) | null = null
  /** the latest instances pushed for each managed backend, also while no table routes to it */
  readonly #pushed = new Map<string, readonly InstanceRef[]>()
  /** the Backend each throttler was last configured from, and with which queue depth */
  readonly #adopted = new WeakMap<RevisionThrottler, object>()
  #adoptedDepth = -1
  /** keep-alive pools by origin, shared by every throttler */
  readonly pools = new UpstreamPools()
  /**
   * Called when an instance is ejected by outlier detection (`ejections`: its multiplier, the
   * ejections in a row). The control side subscribes: it restarts local instances ejected repeatedly.
   */
  onEjected: ((key: string, id: string, ejections: number) => void) | null = null
  /** the outlier clock; tests inject one and call returnEjected() */
  clock: () => number = performance.now.bind(performance)
  /** throttlers with ejected instances, and the timer that returns them */
  readonly #ejecting = new Set<RevisionThrottler>()
  #returnTimer: NodeJS.Timeout | null = null
  #returnAt = 0
  /** with --workers: instance counts shared by every worker; a release elsewhere wakes our queues */
  slots: SharedSlots | null = null
  /** with --workers: the shared slot of each fixed origin with containerConcurrency, by `backend key + ' ' + origin` */
  fixedSlots: ReadonlyMap<string, number> | null = null

  /**
   * Bind every backend of a table to its throttler; throttlers no table names are retired. The
   * compile cache hands over the same Backend object for an unchanged backend: its throttler is
   * already configured for it, so a table that changed one ingress of thousands configures one.
   */
  adopt(table: RouteTable): void {
    const all = this.queueDepth !== this.#adoptedDepth
    this.#adoptedDepth = this.queueDepth
    for (const b of table.backends.values()) {
      let t = this.#throttlers.get(b.key)
      if (t !== undefined && !all && this.#adopted.get(t) === b) { b.throttler = t; continue }
      if (t === undefined) {
        t = new RevisionThrottler(b.key, b.namespace, b.revision, this, this.pools)
        this.#throttlers.set(b.key, t)
        const known = this.#pushed.get(b.key)
        if (known !== undefined) t.setInstances(known)
      }
      t.configure(b.containerConcurrency, this.queueDepth, b.managed, b.unavailable ?? null, { outlier: b.outlier, breaker: b.breaker, retryBudget: b.retryBudget, protocol: b.protocol })
      if (!b.managed) t.setInstances(b.origins.map((origin) => ({ id: origin, origin, protocol: b.protocol, tls: b.tls ?? null, slot: this.fixedSlots?.get(`${b.key} ${origin}`) })))
      b.throttler = t
      this.#adopted.set(t, b)
    }
    for (const [key, t] of this.#throttlers) {
      if (table.backends.has(key)) continue
      this.#throttlers.delete(key)
      this.#waiting.delete(t)
      this.#ejecting.delete(t)
      t.rejectAll(503, `revision ${t.revision} is no longer routed\n`)
      t.close()
      this.#retired.add(t)
    }
    for (const t of this.#retired) if (t.current === 0) this.#retired.delete(t)
  }

  /** The ready instances of a runtime-managed backend (revision key `revision/ns/name`). */
  setInstances(key: string, refs: readonly InstanceRef[]): void {
    if (refs.length === 0) this.#pushed.delete(key)
    else this.#pushed.set(key, refs)
    this.#throttlers.get(key)?.setInstances(refs)
  }

  /** Stop routing to an instance and resolve once its requests are done (or after timeoutMs). */
  drainInstance(key: string, id: string, timeoutMs: number): Promise<void> {
    const drains: Promise<void>[] = []
    const live = this.#throttlers.get(key)?.instance(id)
    if (live !== undefined) drains.push(live.drain(timeoutMs))
    // Requests matched on an older table may still run on the instance.
    for (const t of this.#retired) {
      const inst = t.key === key ? t.retiredInstance(id) : undefined
      if (inst !== undefined) drains.push(inst.drain(timeoutMs))
    }
    return Promise.all(drains).then(() => {})
  }

  throttler(key: string): RevisionThrottler | undefined {
    return this.#throttlers.get(key)
  }

  throttlers(): IterableIterator<RevisionThrottler> {
    return this.#throttlers.values()
  }

  /** /debug/instances for backends the runtime does not run (fixed upstreams, endpoints): balancing and ejection state. */
  describeFixed(): Record<string, object[]> {
    const now = this.clock()
    const out: Record<string, object[]> = {}
    for (const [key, t] of this.#throttlers) {
      if (t.managed) continue
      out[key] = [...t.instances()].map((inst) => ({ id: inst.id, ...t.describeInstance(inst, now) }))
    }
    return out
  }

  /** Knative's 1 s stats: average concurrency (buffered requests included) and request count. */
  sample(now: number): ThrottlerStats[] {
    const out: ThrottlerStats[] = []
    for (const t of this.#throttlers.values()) out.push(t.sample(now))
    return out
  }

  /** Some revision has requests waiting (checked before a new connection is read for parking). */
  hasWaiting(): boolean {
    return this.#waiting.size > 0
  }

  demand(t: RevisionThrottler): void {
    this.onDemand?.(t.key)
  }

  now(): number {
    return this.clock()
  }

  ejected(t: RevisionThrottler, inst: UpstreamInstance): void {
    this.#ejecting.add(t)
    this.#scheduleReturn(inst.ejectedUntil)
    this.onEjected?.(t.key, inst.id, inst.ejections)
  }

  /** Return every instance whose ejection is over (run by a timer at the earliest end; public for tests). */
  returnEjected(): void {
    const now = this.clock()
    let next = 0
    for (const t of this.#ejecting) {
      const until = t.returnEjected(now)
      if (until === 0) this.#ejecting.delete(t)
      else if (next === 0 || until < next) next = until
    }
    if (this.#returnTimer !== null) clearTimeout(this.#returnTimer)
    this.#returnTimer = null
    this.#returnAt = 0
    if (next !== 0) this.#scheduleReturn(next)
  }

  #scheduleReturn(at: number): void {
    if (this.#returnTimer !== null && this.#returnAt <= at) return
    if (this.#returnTimer !== null) clearTimeout(this.#returnTimer)
    this.#returnAt = at
    this.#returnTimer = setTimeout(() => this.returnEjected(), Math.max(1, Math.ceil(at - this.clock())))
    this.#returnTimer.unref()
  }

  waiting(t: RevisionThrottler): void {
    this.#waiting.add(t)
    this.slots?.watch(this.#slotFreed, this.#pumpWaiting)
    if (this.#expiry === null) {
      this.#expiry = setInterval(() => this.#expire(), EXPIRY_INTERVAL_MS)
      this.#expiry.unref()
    }
  }

  /** Another worker released a shared slot: offer it to our waiting requests, and keep watching while some wait. */
  readonly #slotFreed = (): void => {
    if (this.#pumpWaiting()) this.slots?.watch(this.#slotFreed, this.#pumpWaiting)
  }

  /** Pump every throttler with waiting requests; true while some still wait. */
  readonly #pumpWaiting = (): boolean => {
    const now = performance.now()
    let still = false
    for (const t of this.#waiting) {
      t.pump(now)
      if (t.queue.size > 0) still = true
    }
    return still
  }

  #expire(): void {
    const now = performance.now()
    for (const t of this.#waiting) if (t.expire(now) === 0) this.#waiting.delete(t)
    if (this.#waiting.size === 0 && this.#expiry !== null) {
      clearInterval(this.#expiry)
      this.#expiry = null
    }
  }

  close(): void {
    if (this.#expiry !== null) clearInterval(this.#expiry)
    this.#expiry = null
    if (this.#returnTimer !== null) clearTimeout(this.#returnTimer)
    this.#returnTimer = null
    this.#ejecting.clear()
    for (const t of this.#throttlers.values()) {
      t.rejectAll(503, 'the gateway is shutting down\n')
      t.close()
    }
    this.#throttlers.clear()
    this.#waiting.clear()
    this.pools.close()
  }
}

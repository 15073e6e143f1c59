// Kubernetes leader election over a coordination.k8s.io/v1 Lease: a port of client-go's
// tools/leaderelection (leaderelection.go, resourcelock/leaselock.go). client-node has no helper.
//
// As in client-go, a candidate judges expiry by its OWN clock: the lease is expired when the record
// has not changed for leaseDuration since this process last saw it change (observedTime), never by
// comparing the remote renewTime with local time, so clock skew between replicas does not matter.
// Writes are guarded by the Lease's resourceVersion: a 409 means someone else wrote first.
// Safety needs retryPeriod + renewDeadline < leaseDuration: the leader gives up (onStoppedLeading,
// at once) before any other candidate can consider the lease expired.

import { V1MicroTime } from '@kubernetes/client-node'
import type { CoordinationV1Api, V1Lease, V1LeaseSpec } from '@kubernetes/client-node'

/** client-go's wait.JitterUntil factor for the acquire loop: waits are retryPeriod × [1, 2.2) */
const JITTER_FACTOR = 1.2

export type LeaseClient = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export interface LeaderElectionOptions {
  client: LeaseClient
  namespace: string
  name: string
  /** unique per replica (client-go uses hostname + a uuid) */
  identity: string
  leaseDurationMs?: number
  renewDeadlineMs?: number
  retryPeriodMs?: number
  /** on stop(), clear holderIdentity so another candidate takes over at once (client-go ReleaseOnCancel) */
  releaseOnCancel?: boolean
  onStartedLeading?: () => void
  /** called the moment leadership is lost or given up: stop writing now */
  onStoppedLeading?: () => void
  /** the observed holder changed ('' when the lease was released) */
  onNewLeader?: (identity: string) => void
  /** API errors other than the expected 404/409, for logging */
  onError?: (err: unknown) => void
  now?: () => number
  timers?: Timers
  random?: () => number
}

/** The fields of a Lease's spec that the election reads and writes (client-go's LeaderElectionRecord). */
export interface LeaderElectionRecord {
  holderIdentity: string
  leaseDurationSeconds: number
  /** epoch milliseconds; 0 when unset */
  acquireTime: number
  renewTime: number
  leaderTransitions: number
}

const emptyRecord = (): LeaderElectionRecord => ({ holderIdentity: '', leaseDurationSeconds: 0, acquireTime: 0, renewTime: 0, leaderTransitions: 0 })

function timeOf(v: unknown): number {
  if (v === undefined || v === null) return 0
  const t = v instanceof Date ? v.getTime() : Date.parse(String(v)) // reads return MicroTime as a string
  return Number.isNaN(t) ? 0 : t
}

export function leaseSpecToRecord(spec: V1LeaseSpec | undefined): LeaderElectionRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: timeOf(spec?.acquireTime),
    renewTime: timeOf(spec?.renewTime),
    leaderTransitions: spec?.leaseTransitions ?? 0,
  }
}

export function recordToLeaseSpec(r: LeaderElectionRecord): V1LeaseSpec {
  // MicroTime, not Date: a real server rejects millisecond precision for these fields
  return {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: new V1MicroTime(r.acquireTime),
    renewTime: new V1MicroTime(r.renewTime),
    leaseTransitions: r.leaderTransitions,
  }
}

function codeOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code
  return typeof c === 'number' ? c : undefined
}

export class LeaderElector {
  #o: Required<Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>> & LeaderElectionOptions
  #now: () => number
  #timers: Timers
  #random: () => number
  /** the Lease as last read or written: its resourceVersion guards the next update */
  #lease?: V1Lease
  #observed: LeaderElectionRecord = emptyRecord()
  #observedRaw = ''
  /** when, by our clock, the record was last seen to change */
  #observedTime = 0
  #reportedLeader = ''
  #leading = false
  #stopped = true
  #running?: Promise<void>
  #inflight?: Promise<boolean>
  /** pending sleeps, woken by stop() */
  #sleepers = new Set<() => void>()
  /** bumped when leadership is lost, so a renewal still in flight cannot count for the next term */
  #term = 0

  constructor(opts: LeaderElectionOptions) {
    const o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts }
    // the same checks as client-go's NewLeaderElector
    if (!o.identity) throw new Error('leader election: identity is empty; give each replica a unique identity (e.g. hostname + a random suffix)')
    if (!o.namespace || !o.name) throw new Error('leader election: the Lease namespace and name are required')
    if (o.leaseDurationMs <= o.renewDeadlineMs) throw new Error(`leader election: leaseDurationMs (${o.leaseDurationMs}) must be greater than renewDeadlineMs (${o.renewDeadlineMs})`)
    if (o.renewDeadlineMs <= JITTER_FACTOR * o.retryPeriodMs) throw new Error(`leader election: renewDeadlineMs (${o.renewDeadlineMs}) must be greater than ${JITTER_FACTOR} × retryPeriodMs (${o.retryPeriodMs})`)
    if (o.retryPeriodMs < 1) throw new Error('leader election: retryPeriodMs must be at least 1')
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#timers = o.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) }
    this.#random = o.random ?? Math.random
  }

  /** True between onStartedLeading and onStoppedLeading. */
  isLeader(): boolean { return this.#leading }

  /** The holder this candidate last observed ('' if none). */
  get leader(): string { return this.#observed.holderIdentity }

  /** The last observed record and when it was observed (for tests and status pages). */
  get observed(): { record: LeaderElectionRecord; at: number } { return { record: { ...this.#observed }, at: this.#observedTime } }

  /** Starts campaigning: acquire, then renew while leading; after losing, campaign again until stop(). */
  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.#running = this.#run()
  }

  /** Stops campaigning (and leading, calling onStoppedLeading at once). With `release` (or
   *  releaseOnCancel), clears holderIdentity so another candidate need not wait out the lease. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#loseLeadership()
    this.#wakeUp()
    // a call still in flight may hang: wait for it at most renewDeadline (client-go's release timeout)
    let timer: unknown
    const giveUp = new Promise<void>((r) => { timer = this.#timers.setTimeout(r, this.#o.renewDeadlineMs) })
    await Promise.race([Promise.all([this.#running, this.#inflight]), giveUp])
    this.#timers.clearTimeout(timer)
    if (opts.release ?? this.#o.releaseOnCancel) await this.release()
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      // acquire: retry with jitter until we hold the lease
      for (;;) {
        const ok = await this.#attempt()
        if (this.#stopped) return
        if (ok) break
        await this.#sleep(this.#o.retryPeriodMs * (1 + this.#random() * JITTER_FACTOR))
        if (this.#stopped) return
      }
      this.#leading = true
      const term = this.#term
      this.#o.onStartedLeading?.()
      // renew: every retryPeriod; a renewal that does not succeed within renewDeadline ends the term
      while (!this.#stopped && this.#term === term) {
        if (!(await this.#renewWithinDeadline(term))) break
        await this.#sleep(this.#o.retryPeriodMs)
      }
      if (this.#term === term) this.#loseLeadership()
    }
  }

  #loseLeadership(): void {
    this.#term++
    if (!this.#leading) return
    this.#leading = false
    this.#o.onStoppedLeading?.()
  }

  /** client-go's PollUntilContextTimeout(retryPeriod, renewDeadline, immediate): false when the deadline passes first. */
  async #renewWithinDeadline(term: number): Promise<boolean> {
    const start = this.#now()
    let expired = false
    let onExpire!: () => void
    const deadline = new Promise<false>((resolve) => {
      onExpire = () => {
        expired = true
        // at once, not after the renewal still in flight returns: the caller must stop writing now
        if (this.#term === term) this.#loseLeadership()
        resolve(false)
      }
    })
    const handle = this.#timers.setTimeout(onExpire, this.#o.renewDeadlineMs)
    const poll = async (): Promise<boolean> => {
      for (;;) {
        const ok = await this.#attempt()
        if (expired || this.#stopped || this.#term !== term) return false
        if (ok) return true
        if (this.#now() - start >= this.#o.renewDeadlineMs) return false
        await this.#sleep(this.#o.retryPeriodMs)
        if (expired || this.#stopped) return false
      }
    }
    try {
      return await Promise.race([poll(), deadline])
    } finally {
      this.#timers.clearTimeout(handle)
    }
  }

  async #attempt(): Promise<boolean> {
    const p = this.tryAcquireOrRenew()
    this.#inflight = p
    try {
      return await p
    } finally {
      if (this.#inflight === p) this.#inflight = undefined
      this.#reportTransition()
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#sleepers.delete(wake)
        this.#timers.clearTimeout(handle)
        resolve()
      }
      this.#sleepers.add(wake)
      const handle = this.#timers.setTimeout(wake, ms)
    })
  }

  #wakeUp(): void {
    for (const wake of [...this.#sleepers]) wake()
  }

  #reportTransition(): void {
    if (this.#observed.holderIdentity === this.#reportedLeader) return
    this.#reportedLeader = this.#observed.holderIdentity
    this.#o.onNewLeader?.(this.#reportedLeader)
  }

  #holds(): boolean { return this.#observed.holderIdentity === this.#o.identity }

  #leaseValid(now: number): boolean {
    return this.#observedTime + this.#observed.leaseDurationSeconds * 1000 > now
  }

  #setObserved(r: LeaderElectionRecord): void {
    this.#observed = { ...r }
    this.#observedTime = this.#now()
  }

  /** One round of client-go's tryAcquireOrRenew; true when this candidate holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#now()
    const record: LeaderElectionRecord = {
      holderIdentity: this.#o.identity,
      // whole seconds in the API; rounded up so a sub-second test duration is not 0 (always expired)
      leaseDurationSeconds: Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000)),
      acquireTime: now,
      renewTime: now,
      leaderTransitions: 0,
    }

    // fast path: we hold an unexpired lease, so update without reading first
    if (this.#holds() && this.#leaseValid(now) && this.#lease) {
      record.acquireTime = this.#observed.acquireTime
      record.leaderTransitions = this.#observed.leaderTransitions
      if (await this.#update(record)) {
        this.#setObserved(record)
        return true
      }
    }

    let current: V1Lease
    try {
      current = await this.#o.client.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace })
    } catch (err) {
      if (codeOf(err) !== 404) {
        this.#o.onError?.(err)
        return false
      }
      try {
        this.#lease = await this.#o.client.createNamespacedLease({
          namespace: this.#o.namespace,
          body: { metadata: { name: this.#o.name, namespace: this.#o.namespace }, spec: recordToLeaseSpec(record) },
        })
      } catch (err) {
        if (codeOf(err) !== 409) this.#o.onError?.(err) // 409: another candidate created it first
        return false
      }
      this.#setObserved(record)
      return true
    }
    this.#lease = current
    const old = leaseSpecToRecord(current.spec)
    const raw = JSON.stringify(old)
    if (raw !== this.#observedRaw) {
      this.#setObserved(old)
      this.#observedRaw = raw
    }
    if (old.holderIdentity !== '' && this.#leaseValid(now) && !this.#holds()) return false

    if (this.#holds()) {
      record.acquireTime = old.acquireTime
      record.leaderTransitions = old.leaderTransitions
    } else {
      record.leaderTransitions = old.leaderTransitions + 1
    }
    if (!(await this.#update(record))) return false
    this.#setObserved(record)
    return true
  }

  async #update(record: LeaderElectionRecord): Promise<boolean> {
    const lease = this.#lease
    if (!lease) return false
    try {
      this.#lease = await this.#o.client.replaceNamespacedLease({
        name: this.#o.name,
        namespace: this.#o.namespace,
        body: { ...lease, spec: recordToLeaseSpec(record) },
      })
      return true
    } catch (err) {
      if (codeOf(err) !== 409) this.#o.onError?.(err)
      return false
    }
  }

  /** client-go's tryRelease: if we hold the lease, empty holderIdentity (retrying on conflicts). */
  async release(): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let current: V1Lease
      try {
        current = await this.#o.client.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace })
      } catch (err) {
        if (codeOf(err) !== 404) this.#o.onError?.(err)
        return false
      }
      this.#lease = current
      if (!this.#holds()) return true
      const now = this.#now()
      const released: LeaderElectionRecord = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaderTransitions: leaseSpecToRecord(current.spec).leaderTransitions }
      try {
        this.#lease = await this.#o.client.replaceNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace, body: { ...current, spec: recordToLeaseSpec(released) } })
      } catch (err) {
        if (codeOf(err) === 409) continue
        this.#o.onError?.(err)
        return false
      }
      this.#setObserved(released)
      this.#reportTransition()
      return true
    }
    return false
  }
}

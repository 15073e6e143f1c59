// One upstream instance as the gateway sees it: the count of requests running on it, which is
// what containerConcurrency slots are made of, and the keep-alive pool it sends through, shared
// with every other instance of the same origin (upstream-pools.ts).
import type { Dispatcher } from 'undici'
import type { UpstreamTls } from '../upstream-tls.ts'
import type { SharedPool, UpstreamPools } from './upstream-pools.ts'
import type { OutlierState } from './outlier-detector.ts'
import type { SharedSlots } from '../worker/shared-slots.ts'
import type { LeanDispatcher } from '../fast-path/upstream-client.ts'

export interface InstanceRef {
  /** stable id, e.g. `hello-00001-3`, or the origin for fixed upstreams */
  readonly id: string
  /** `http://host:port`, or `https://` with `tls` */
  readonly origin: string
  readonly protocol: 'http1' | 'h2c'
  /** system-internal-tls settings for an `https://` origin */
  readonly tls?: UpstreamTls | null
  /** with --workers: the instance's counter in the workers' shared slots (the primary assigns it) */
  readonly slot?: number
}

export class UpstreamInstance implements OutlierState {
  readonly id: string
  readonly origin: string
  readonly protocol: 'http1' | 'h2c'
  readonly tls: UpstreamTls | null
  /** requests holding a slot on this instance (containerConcurrency counts these) */
  inflight = 0
  /** no new requests: it is being stopped, or it refused a connection */
  unroutable = false
  /** dropped from its revision; its pool reference goes once the last request is done */
  removed = false
  // outlier detection (outlier-detector.ts); ejectedUntil > 0 keeps the instance out of balancing
  consecutive5xx = 0
  consecutiveGateway = 0
  ejectedUntil = 0
  ejections = 0
  returnedAt = 0
  ejectionsTotal = 0
  readonly #pools: UpstreamPools
  #pool: SharedPool | null
  #drained: (() => void) | null = null
  /** with --workers: every worker's requests on this instance are counted here too */
  readonly #shared: SharedSlots | null
  readonly #slot: number

  constructor(ref: InstanceRef, pools: UpstreamPools, shared: SharedSlots | null = null) {
    this.id = ref.id
    this.origin = ref.origin
    this.protocol = ref.protocol
    this.tls = ref.tls ?? null
    this.#pools = pools
    this.#pool = pools.acquire({ origin: ref.origin, protocol: ref.protocol, tls: this.tls })
    this.#shared = ref.slot === undefined ? null : shared
    this.#slot = ref.slot ?? -1
  }

  /**
   * Take a slot if the instance has fewer than `cc` requests (0: no limit): this worker's own count,
   * or with --workers every worker's, claimed atomically (worker/shared-slots.ts).
   */
  claim(cc: number): boolean {
    const shared = this.#shared
    if (shared === null) {
      if (cc > 0 && this.inflight >= cc) return false
    } else if (!shared.claim(this.#slot, cc)) return false
    this.inflight++
    if (this.#pool !== null) this.#pool.active++
    return true
  }

  /** its counter in the workers' shared slots, or -1 */
  get slot(): number {
    return this.#shared === null ? -1 : this.#slot
  }

  /** The keep-alive pool to send a request on (made on first use, shared by origin). */
  get dispatcher(): Dispatcher {
    if (this.#pool === null) throw new Error(`upstream instance ${this.id} is closed`)
    return this.#pool.dispatcher()
  }

  /** The fast path's lean client for this origin (plain http:// HTTP/1.1 instances only). */
  get lean(): LeanDispatcher {
    if (this.#pool === null) throw new Error(`upstream instance ${this.id} is closed`)
    return this.#pool.lean()
  }

  /** A request takes a slot on this instance regardless of any limit (the throttler picked it). */
  take(): void {
    this.claim(0)
  }

  /** Resolves when no request runs on the instance any more, or after timeoutMs. */
  drain(timeoutMs: number): Promise<void> {
    this.unroutable = true
    if (this.inflight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs)
      timer.unref()
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      const previous = this.#drained
      this.#drained = previous === null ? done : () => { previous(); done() }
    })
  }

  /** A request on this instance finished. */
  done(): void {
    this.inflight--
    if (this.#shared !== null) this.#shared.release(this.#slot)
    if (this.#pool !== null) this.#pool.active--
    if (this.inflight === 0) {
      if (this.#drained !== null) {
        const d = this.#drained
        this.#drained = null
        d()
      }
      if (this.removed) this.close()
    }
  }

  /** Let go of the pool; the last instance of an origin closes it (gracefully). Idempotent. */
  close(): void {
    const p = this.#pool
    if (p === null) return
    this.#pool = null
    this.#pools.release(p)
  }
}

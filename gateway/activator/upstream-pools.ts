// Keep-alive pools shared by upstream origin: every instance (of any revision or Service port) that
// names the same origin with the same protocol and system-internal-tls settings sends through one
// undici Pool, as Envoy shares one connection pool per upstream host. Thousands of KIngresses
// whose EndpointSlices name a few pods (or the activator) thus hold a few pools, not one each.
// A Pool is made on the first request, closed once no instance names its origin any more, and
// closed when idle (no request for a sweep interval); the next request makes a new one.
//
// Limits are per pool, so per upstream process: `connections` caps what this gateway opens to one
// origin, whichever routes lead there (before, two Services on one pod had a cap each). Request
// timeouts are per request (revision settings), so sharing changes none of them.
import { Pool, type Dispatcher } from 'undici'
import type { UpstreamTls } from '../upstream-tls.ts'
import { UpstreamClient } from '../fast-path/upstream-client.ts'

const POOL_OPTIONS = {
  connections: 256,
  pipelining: 1,
  // Timeouts are per request (revision settings); the pool itself never times a request out.
  headersTimeout: 0,
  bodyTimeout: 0,
  keepAliveTimeout: 4_000,
  allowH2: false,
} as const

// h2c upstreams (a port named h2c/http2): a few multiplexed connections instead of one per request.
const H2C_OPTIONS = {
  connections: 4,
  pipelining: 100,
  headersTimeout: 0,
  bodyTimeout: 0,
  keepAliveTimeout: 4_000,
  allowH2: true,
  // undici's Pool reads useH2c at the top level for its connector (h2Options.useH2c is not enough).
  useH2c: true,
  h2Options: { useH2c: true, maxConcurrentStreams: 100 },
} as const

// HTTP/2 over TLS (system-internal-tls to an h2 backend): the same few multiplexed connections,
// with the protocol chosen by ALPN instead of assumed.
const H2_TLS_OPTIONS = {
  connections: 4,
  pipelining: 100,
  headersTimeout: 0,
  bodyTimeout: 0,
  keepAliveTimeout: 4_000,
  allowH2: true,
  h2Options: { maxConcurrentStreams: 100 },
} as const

/** How often pools are checked for idleness: one unused for a whole interval is closed. */
export const IDLE_SWEEP_MS = 10_000

/** What decides whether two instances can share connections. */
export interface PoolSpec {
  /** `http://host:port`, or `https://` with `tls` */
  readonly origin: string
  readonly protocol: 'http1' | 'h2c'
  readonly tls?: UpstreamTls | null
}

function poolOptions(spec: PoolSpec): Pool.Options {
  if (spec.tls == null) return spec.protocol === 'h2c' ? H2C_OPTIONS : POOL_OPTIONS
  return { ...(spec.protocol === 'h2c' ? H2_TLS_OPTIONS : POOL_OPTIONS), connect: spec.tls.connect }
}

/** Equal keys share a pool: same origin, protocol and TLS settings (trust chain, SAN, ALPN). */
export function poolKey(spec: PoolSpec): string {
  return spec.tls == null ? `${spec.protocol} ${spec.origin}` : `${spec.protocol} ${spec.origin} ${spec.tls.id}`
}

/** One origin's pool, made on first use; instances hold a reference while they exist. */
export class SharedPool {
  readonly key: string
  readonly #spec: PoolSpec
  readonly #owner: UpstreamPools
  #pool: Pool | null = null
  /** the fast path's lean client for the same origin (plain HTTP/1.1 origins), made on first use */
  #lean: UpstreamClient | null = null
  /** instances that name this pool */
  refs = 0
  /** requests holding a slot on one of those instances (picked, not yet over) */
  active = 0
  /** dispatches since the last sweep */
  #used = 0

  constructor(key: string, spec: PoolSpec, owner: UpstreamPools) {
    this.key = key
    this.#spec = spec
    this.#owner = owner
  }

  /** The undici pool for a request to send on (made now when there is none). */
  dispatcher(): Dispatcher {
    this.#used++
    if (this.#pool === null) {
      this.#pool = new Pool(this.#spec.origin, poolOptions(this.#spec))
      this.#owner.opened(this)
    }
    return this.#pool
  }

  /** The fast path's client for a request to send on (made now when there is none). */
  lean(): UpstreamClient {
    this.#used++
    if (this.#lean === null) {
      this.#lean = new UpstreamClient(this.#spec.origin)
      this.#owner.opened(this)
    }
    return this.#lean
  }

  get open(): boolean {
    return this.#pool !== null || this.#lean !== null
  }

  /** Close the pool if no request used it since the last sweep; true when it was closed. */
  closeIfIdle(): boolean {
    if (this.#pool === null && this.#lean === null) return true
    if (this.#used > 0 || this.active > 0) {
      this.#used = 0
      return false
    }
    this.close()
    return true
  }

  /** Close the undici pool; requests still running on it finish first (undici's close is graceful). */
  close(): void {
    const p = this.#pool
    this.#pool = null
    this.#used = 0
    if (p !== null) p.close().catch(() => {})
    this.#lean?.close()
    this.#lean = null
  }
}

/** The gateway's pools by key, and the sweep that closes idle ones. */
export class UpstreamPools {
  readonly #byKey = new Map<string, SharedPool>()
  /** pools with an undici Pool open: what the sweep visits */
  readonly #open = new Set<SharedPool>()
  readonly #sweepMs: number
  #sweep: NodeJS.Timeout | null = null

  constructor(opts: { idleSweepMs?: number } = {}) {
    this.#sweepMs = opts.idleSweepMs ?? IDLE_SWEEP_MS
  }

  /** The pool for an instance's origin; the instance holds it until release(). */
  acquire(spec: PoolSpec): SharedPool {
    const key = poolKey(spec)
    let p = this.#byKey.get(key)
    if (p === undefined) {
      p = new SharedPool(key, spec, this)
      this.#byKey.set(key, p)
    }
    p.refs++
    return p
  }

  /** An instance is gone: the last one to go closes the pool. */
  release(p: SharedPool): void {
    if (--p.refs > 0) return
    if (this.#byKey.get(p.key) === p) this.#byKey.delete(p.key)
    this.#open.delete(p)
    p.close()
  }

  /** Called by a SharedPool that made its undici Pool. */
  opened(p: SharedPool): void {
    this.#open.add(p)
    if (this.#sweep === null) {
      this.#sweep = setInterval(() => this.sweep(), this.#sweepMs)
      this.#sweep.unref()
    }
  }

  /** Close pools that served nothing since the last sweep (run by the timer; public for tests). */
  sweep(): void {
    for (const p of this.#open) if (p.closeIfIdle()) this.#open.delete(p)
    if (this.#open.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep)
      this.#sweep = null
    }
  }

  /** Pools known (named by some instance) and of those, how many have connections open or able to open. */
  stats(): { known: number; open: number } {
    return { known: this.#byKey.size, open: this.#open.size }
  }

  close(): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
    for (const p of this.#open) p.close()
    this.#open.clear()
  }
}

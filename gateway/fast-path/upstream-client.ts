// The fast path's lean HTTP/1.1 client for one upstream origin: pooled keep-alive connections
// (upstream-connection.ts), the most recently used first so that a few warm sockets carry the load,
// and a FIFO of requests past the connection cap. It offers undici's `dispatch(opts, handler)` so
// ProxyRequest sends through it exactly as it sends through undici (timeouts, retries, outlier
// outcomes and metrics stay in one place). Plain `http://` HTTP/1.1 origins only: TLS and h2c
// upstreams keep undici (the fast path falls back for routes that reach them).
import type { Dispatcher } from 'undici'
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.ts'

/** undici's Pool default for HTTP/1.1 origins (upstream-pools.ts POOL_OPTIONS.connections) */
const MAX_CONNECTIONS = 256
/** undici's keepAliveTimeout default, which Sluice's pools use too */
export const KEEP_ALIVE_MS = 4_000
/** how often connections are checked against their deadlines (timeouts end at most this late) */
const SWEEP_MS = 100

interface Pending {
  readonly opts: Dispatcher.DispatchOptions
  readonly handler: Dispatcher.DispatchHandler
}

export interface LeanDispatcher {
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
}

export class UpstreamClient implements ConnectionOwner, LeanDispatcher {
  readonly #host: string
  readonly #port: number
  readonly #idle: UpstreamConnection[] = []
  readonly #all = new Set<UpstreamConnection>()
  readonly #pending: Pending[] = []
  #closed = false
  #sweep: NodeJS.Timeout | null = null

  constructor(origin: string) {
    const u = new URL(origin)
    this.#host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    this.#port = u.port === '' ? 80 : Number(u.port)
  }

  /** connections open (idle or busy) */
  get size(): number {
    return this.#all.size
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const c = this.#take()
    if (c === null) this.#pending.push({ opts, handler })
    else c.start(opts, handler)
    return true
  }

  #take(): UpstreamConnection | null {
    for (let c = this.#idle.pop(); c !== undefined; c = this.#idle.pop()) if (!c.closed) return c
    if (this.#all.size >= MAX_CONNECTIONS && !this.#closed) return null
    return this.#open()
  }

  #open(): UpstreamConnection {
    const c = new UpstreamConnection(this.#host, this.#port, this)
    this.#all.add(c)
    if (this.#sweep === null) {
      this.#sweep = setInterval(this.#check, SWEEP_MS)
      this.#sweep.unref()
    }
    return c
  }

  readonly #check = (): void => {
    const now = performance.now()
    for (const c of this.#all) c.check(now)
  }

  reusable(c: UpstreamConnection): void {
    if (this.#closed) {
      c.destroy()
      return
    }
    const next = this.#pending.shift()
    if (next !== undefined) {
      c.start(next.opts, next.handler)
      return
    }
    c.idle(KEEP_ALIVE_MS)
    this.#idle.push(c)
  }

  gone(c: UpstreamConnection): void {
    this.#all.delete(c)
    const i = this.#idle.indexOf(c)
    if (i !== -1) this.#idle.splice(i, 1)
    // a request waiting for a connection gets a new one
    if (this.#pending.length > 0 && this.#all.size < MAX_CONNECTIONS) {
      const next = this.#pending.shift()!
      this.#open().start(next.opts, next.handler)
    }
    if (this.#all.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep)
      this.#sweep = null
    }
  }

  /** Close idle connections now; busy ones close when their exchange is over. */
  close(): void {
    this.#closed = true
    for (const c of this.#idle) c.destroy()
    this.#idle.length = 0
  }
}

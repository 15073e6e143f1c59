// One upstream instance as the gateway sees it: a keep-alive pool to its origin and the count of
// requests running on it, which is what containerConcurrency slots are made of.
import { Pool, type Dispatcher } from 'undici'
import type { UpstreamTls } from '../upstream-tls.ts'

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

export interface InstanceRef {
  /** stable id, e.g. `hello-00001-3`, or the origin for fixed upstreams */
  readonly id: string
  /** `http://host:port`, or `https://` with `tls` */
  readonly origin: string
  readonly protocol: 'http1' | 'h2c'
  /** system-internal-tls settings for an `https://` origin */
  readonly tls?: UpstreamTls | null
}

function poolOptions(ref: InstanceRef): Pool.Options {
  if (ref.tls == null) return ref.protocol === 'h2c' ? H2C_OPTIONS : POOL_OPTIONS
  return { ...(ref.protocol === 'h2c' ? H2_TLS_OPTIONS : POOL_OPTIONS), connect: ref.tls.connect }
}

export class UpstreamInstance {
  readonly id: string
  readonly origin: string
  readonly protocol: 'http1' | 'h2c'
  readonly tls: UpstreamTls | null
  readonly dispatcher: Dispatcher
  inflight = 0
  /** no new requests: it is being stopped, or it refused a connection */
  unroutable = false
  /** dropped from its revision; the pool closes once the last request is done */
  removed = false
  #drained: (() => void) | null = null

  constructor(ref: InstanceRef) {
    this.id = ref.id
    this.origin = ref.origin
    this.protocol = ref.protocol
    this.tls = ref.tls ?? null
    this.dispatcher = new Pool(ref.origin, poolOptions(ref))
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
    if (this.inflight === 0) {
      if (this.#drained !== null) {
        const d = this.#drained
        this.#drained = null
        d()
      }
      if (this.removed) this.close()
    }
  }

  close(): void {
    this.dispatcher.close().catch(() => {})
  }
}

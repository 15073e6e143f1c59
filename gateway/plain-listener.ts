// One cleartext port for HTTP/1.1 and HTTP/2 with prior knowledge (h2c), like Envoy's AUTO
// codec: the first bytes of a connection decide. HTTP/1.1 connections go to the fast path
// (fast-path/, llhttp on the raw socket), which hands what it does not serve to Node's http server
// at a message boundary (straight to Node's server when the fast path is off); h2c connections
// start with the preface "PRI * HTTP/2.0" and go to Node's http2 server, whose session feeds itself the bytes already buffered in the socket first
// (lib/internal/http2/core.js, nodejs/node#35475) before it reads the socket's handle natively.
// Every connection is tracked from accept (connections/connection-table.ts): a client that sends
// nothing, or stops inside the preface, is closed at the header deadline.
import http, { type IncomingMessage } from 'node:http'
import http2 from 'node:http2'
import net, { type AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { ConnectionTable } from './connections/connection-table.ts'
import type { DownstreamRequest, DownstreamResponse } from './downstream.ts'
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connections/connection-limits.ts'
import { H2_SESSION_OPTIONS } from './connections/h2-limits.ts'
import { readProxyHeader } from './connections/proxy-protocol.ts'
import { FastFront } from './fast-path/fast-front.ts'
import type { FastRequest } from './fast-path/fast-request.ts'
import type { FastResponse } from './fast-path/fast-response.ts'
import { MAX_HEADER_SIZE } from './fast-path/llhttp.ts'

export type RequestHandler = (req: DownstreamRequest, res: DownstreamResponse) => void
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void
export type ClientErrorHandler = (err: Error, socket: Duplex) => void
/** Offered each new HTTP/1.1 connection's first bytes; true when it keeps the socket for now (parked). */
export type ParkHandler = (socket: net.Socket, firstBytes: Buffer, listener: PlainListener) => boolean

export interface PlainListenerOptions {
  onRequest: RequestHandler
  /** HTTP/1.1 `Upgrade` requests; without it Node answers them as plain requests */
  onUpgrade?: UpgradeHandler | null
  /** malformed HTTP/1.1 input (and Node's own header timeout) */
  onClientError: ClientErrorHandler
  park?: ParkHandler | null
  /** header/idle deadlines and the connection cap; changed later with setLimits */
  limits?: ConnectionLimits
  /** config-sluice enable-proxy-protocol (public listeners only); changed later with the property */
  proxyProtocol?: boolean
  /** a connection closed for a bad or missing PROXY header (debug logs) */
  onProxyReject?: (reason: string, socket: net.Socket) => void
  /**
   * The HTTP/1.1 fast path (fast-path/): true when the gateway serves the request there; false
   * leaves it to Node's server from its first byte. Absent or null: every connection goes to Node.
   */
  fast?: { serve: (req: FastRequest, res: FastResponse) => boolean; counts: Float64Array; failed: (err: unknown) => void } | null
}

const HTTP1_OPTIONS = {
  // Uploads and long responses are bounded by revision timeouts, not by the server.
  requestTimeout: 0,
  maxHeaderSize: MAX_HEADER_SIZE,
  // How often Node checks its headersTimeout (default every 30 s, which would let a late head
  // of a keep-alive connection live up to twice the configured time).
  connectionsCheckingInterval: 1000,
} as const

function ignoreEarlyError(): void {}

/** The start of the HTTP/2 connection preface (RFC 9113 §3.4); no HTTP/1.1 method begins with it. */
const PRI = Buffer.from('PRI')

export class PlainListener {
  readonly tcp: net.Server
  readonly h1: http.Server
  readonly h2: http2.Http2Server
  readonly connections: ConnectionTable
  readonly #sessions = new Set<http2.ServerHttp2Session>()
  readonly #park: ParkHandler | null
  /** every connection must start with a PROXY protocol header (read per accept, so a reload applies to new connections) */
  proxyProtocol: boolean
  /** further addresses (listen-ip-addresses), same port */
  readonly #extra: net.Server[] = []
  readonly #onProxyReject: PlainListenerOptions['onProxyReject']
  /** the fast path's connections, or null when it is off */
  readonly fast: FastFront | null

  constructor(opts: PlainListenerOptions) {
    this.#park = opts.park ?? null
    this.proxyProtocol = opts.proxyProtocol ?? false
    this.#onProxyReject = opts.onProxyReject
    this.connections = new ConnectionTable(opts.limits ?? DEFAULT_CONNECTION_LIMITS)
    this.h1 = http.createServer(HTTP1_OPTIONS)
    this.connections.governHttp1(this.h1)
    this.connections.watchHttp1(this.h1)
    // This server never listens itself (connections are handed to it), so start the connection
    // tracking that listen() would start: header/request timeouts and closeAllConnections need it.
    this.h1.emit('listening')
    this.h1.on('request', opts.onRequest)
    this.h1.on('clientError', opts.onClientError)
    if (opts.onUpgrade != null) this.h1.on('upgrade', opts.onUpgrade)
    this.h2 = http2.createServer(H2_SESSION_OPTIONS)
    this.connections.watchHttp2(this.h2)
    this.h2.on('request', opts.onRequest)
    this.h2.on('session', (s: http2.ServerHttp2Session) => {
      this.#sessions.add(s)
      s.once('close', () => this.#sessions.delete(s))
    })
    this.tcp = net.createServer({ noDelay: true }, this.#onConnection)
    const fast = opts.fast ?? null
    this.fast = fast === null ? null : new FastFront({
      serve: fast.serve,
      counts: fast.counts,
      failed: fast.failed,
      toNode: (socket, bytes) => this.handOff(socket, bytes),
      clientError: opts.onClientError,
      connections: this.connections,
    })
  }

  readonly #onConnection = (socket: net.Socket): void => {
    // Until a server owns the socket, a reset (a client that connects and gives up) is ours to
    // swallow: an 'error' with no listener would crash the gateway.
    socket.on('error', ignoreEarlyError)
    this.connections.accept(socket)
    if (socket.destroyed) return // it was the one closed to stay under max-connections
    if (!this.proxyProtocol) {
      socket.once('data', (chunk: Buffer) => this.#dispatch(socket, chunk))
      return
    }
    // The header deadline (the connection waits in the table meanwhile) bounds the PROXY header too.
    readProxyHeader(socket, {
      timeoutMs: this.connections.limits.headerTimeoutMs,
      onHeader: (_address, rest) => {
        if (rest.length > 0) return this.#dispatch(socket, rest)
        socket.once('data', (chunk: Buffer) => this.#dispatch(socket, chunk))
        socket.resume()
      },
      onReject: this.#onProxyReject === undefined ? undefined : (reason) => this.#onProxyReject!(reason, socket),
    })
  }

  /** New limits: deadlines apply to every connection from the next check, the cap from the next accept. */
  setLimits(limits: ConnectionLimits): void {
    this.connections.setLimits(limits)
  }

  /** Hands the connection to the server its first bytes name; waits for more while they could be "PRI". */
  #dispatch(socket: net.Socket, chunk: Buffer): void {
    socket.pause()
    if (chunk.length < PRI.length && PRI.subarray(0, chunk.length).equals(chunk)) {
      socket.once('data', (more: Buffer) => this.#dispatch(socket, Buffer.concat([chunk, more])))
      socket.resume()
      return
    }
    if (chunk[0] === 0x50 && chunk[1] === 0x52 && chunk[2] === 0x49) {
      socket.removeListener('error', ignoreEarlyError)
      socket.unshift(chunk)
      // The session takes the socket's handle and replays what is buffered in the socket first.
      this.h2.emit('connection', socket)
    } else if (this.#park !== null && this.#park(socket, chunk, this)) {
      // Its request waits for a revision: not a stalled head, whatever the header deadline says.
      this.connections.hold(socket)
    } else if (this.fast !== null) {
      this.fast.accept(socket, chunk)
    } else {
      this.handOff(socket, chunk)
    }
  }

  /** Give an HTTP/1.1 connection to Node's server, with the bytes already read from it put back. */
  handOff(socket: net.Socket, bytes: Buffer): void {
    this.connections.release(socket)
    socket.removeListener('error', ignoreEarlyError)
    socket.unshift(bytes)
    this.h1.emit('connection', socket)
    socket.resume()
  }

  /**
   * Listen on `host`, or on each of several addresses (listen-ip-addresses) with one port; resolves
   * the port. `reusePort`: share the port with other workers' listeners (SO_REUSEPORT, --workers).
   */
  async listen(port: number, host: string | readonly string[], reusePort = false): Promise<number> {
    const hosts = typeof host === 'string' ? [host] : host
    const several = hosts.length > 1
    const bound = await listenOn(this.tcp, port, hosts[0] ?? '0.0.0.0', several, reusePort)
    for (const h of hosts.slice(1)) {
      const extra = net.createServer({ noDelay: true }, this.#onConnection)
      this.#extra.push(extra)
      await listenOn(extra, bound, h, several, reusePort)
    }
    return bound
  }

  /** Stop accepting; idle HTTP/1.1 connections close, h2 sessions get GOAWAY and finish their streams. */
  close(): void {
    this.tcp.close()
    for (const e of this.#extra) e.close()
    this.h1.closeIdleConnections()
    this.fast?.close()
    for (const s of this.#sessions) s.close()
  }

  closeAll(): void {
    this.tcp.close()
    for (const e of this.#extra) e.close()
    this.connections.stop()
    this.h1.closeAllConnections()
    this.fast?.closeAll()
    for (const s of this.#sessions) s.destroy()
  }
}

/** Shared with the TLS listener. `several`: one of a list of addresses, so `::` must not also take IPv4. */
export function listenOn(server: net.Server, port: number, host: string, several = false, reusePort = false): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    // A deep accept queue: bursts of thousands of new connections (a cold revision's first
    // wave) would otherwise overflow Node's default 511 and make clients retry for seconds.
    // ipv6Only: `0.0.0.0,::` (dual stack) binds the same port twice, once per family.
    server.listen({ port, host, backlog: 4096, ipv6Only: several && host.includes(':'), ...(reusePort ? { reusePort } : {}) }, () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

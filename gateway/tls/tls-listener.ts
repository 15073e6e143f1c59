// The public TLS listener: one port, certificates chosen by SNI from whatever CertTable
// `getTable()` returns at handshake time, ALPN h2 or http/1.1. Swapping the table affects only new
// handshakes; established connections keep the keys they negotiated, so rotation drops nothing.
// Connections are tracked from TCP accept (connections/connection-table.ts): header and idle
// deadlines and the connection cap hold for the handshake, HTTP/1.1 and h2 alike.
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type SecureServerOptions } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { SecureContext, TLSSocket } from 'node:tls'
import { contextFor, MIN_TLS_VERSION, type CertTable } from './cert-table.ts'
import net from 'node:net'
import { ConnectionTable } from '../connections/connection-table.ts'
import { H2_SESSION_OPTIONS } from '../connections/h2-limits.ts'
import { readProxyHeader, realPeer, ReplaySocket } from '../connections/proxy-protocol.ts'
import { listenOn } from '../plain-listener.ts'

/** h2 clients get the compat objects; ALPN http/1.1 (or no ALPN) clients get the http1 ones. */
export type TlsRequest = Http2ServerRequest | IncomingMessage
export type TlsResponse = Http2ServerResponse | ServerResponse

/** Fixed by the listener: Knative's contract (TLS ≥ 1.2, ALPN h2 + http/1.1) and our SNI lookup. */
type Owned = 'SNICallback' | 'ALPNProtocols' | 'ALPNCallback' | 'minVersion' | 'allowHTTP1' | 'key' | 'cert' | 'pfx'

/** headersTimeout and keepAliveTimeout come from the connection table's limits */
export interface Http1Limits {
  requestTimeout?: number
  maxHeaderSize?: number
}

export interface TlsListenerOptions {
  /** further http2.createSecureServer options: HTTP/2 settings, ciphers, handshakeTimeout… */
  server?: Omit<SecureServerOptions, Owned | 'http1Options'>
  /** for ALPN http/1.1 clients; defaults match the plain listener */
  http1?: Http1Limits
  /** failed handshakes (unknown SNI without a default certificate, bad clients); they never throw */
  onTlsError?: (err: Error, socket: TLSSocket) => void
  /** HTTP/1.1 `Upgrade` requests (websocket); without it Node answers them as plain requests */
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  /** tracks every connection (deadlines, cap); keep it to change the limits later. Default: a table with the default limits */
  connections?: ConnectionTable
}

// Same HTTP/1 limits as the plain listener: revision timeouts bound requests, not the server.
// Node checks its headersTimeout every connectionsCheckingInterval (default 30 s).
const HTTP1_DEFAULTS = { requestTimeout: 0, maxHeaderSize: 16 * 1024, connectionsCheckingInterval: 1000 }

export function createTlsServer(
  getTable: () => CertTable,
  onRequest: (req: TlsRequest, res: TlsResponse) => void,
  opts: TlsListenerOptions = {},
): Http2SecureServer {
  const base = opts.server ?? {}
  const server = http2.createSecureServer({
    ...H2_SESSION_OPTIONS,
    ...base,
    settings: { ...H2_SESSION_OPTIONS.settings, ...base.settings },
    // Node reads every http.createServer option from here; the types only list a few.
    http1Options: { ...HTTP1_DEFAULTS, ...opts.http1 } as SecureServerOptions['http1Options'],
    allowHTTP1: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    minVersion: MIN_TLS_VERSION,
    ...defaultCredentials(getTable()),
    SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
      // No match and no default: the server's own context has no certificate either, so OpenSSL
      // ends the handshake with an alert and 'tlsClientError' fires; nothing throws.
      cb(null, contextFor(getTable(), servername) ?? undefined)
    },
  })
  // Clients without SNI get the server's own context, which Node builds from PEM: refresh it
  // (before Node wraps the socket) whenever the table's key material changed. New server
  // contexts also come with fresh session-ticket keys, so no client resumes a session that
  // was authenticated with a certificate that is gone.
  let fingerprint = getTable().fingerprint
  server.prependListener('connection', () => {
    const table = getTable()
    if (table.fingerprint === fingerprint) return
    fingerprint = table.fingerprint
    try {
      server.setSecureContext({ ...base, minVersion: MIN_TLS_VERSION, ...defaultCredentials(table) })
    } catch (err) {
      // The control plane checked the pair, so this is a bug; a throw here would take the
      // process down, so no-SNI clients keep the previous default instead, and it is said.
      process.emitWarning(`TLS listener: cannot install the default certificate: ${(err as Error).message}`)
    }
  })

  const connections = opts.connections ?? new ConnectionTable()
  connections.watchTls(server)
  connections.governHttp1(server)
  connections.watchHttp1(server)
  connections.watchHttp2(server)
  // A PROXY-addressed connection: the TLS socket reports the client the header named (its own
  // address getter would ask the kernel, which knows only the balancer). Prepended after the
  // connection table's listener, so it runs first: over a ReplaySocket Node sets no `_parent`
  // (it does only for a net.Socket), and the table finds the connection through `_parent`. The
  // stream is found under the TLS handle's JS stream adapter (Node internals; without them the
  // address stays the balancer's, never someone else's). Node reads a TLS socket's `_parent`
  // only to walk socket timers, which a ReplaySocket does not have.
  server.prependListener('secureConnection', (tlsSocket: TLSSocket & { _parent?: object | null }) => {
    type Peer = { remoteAddress?: string; remotePort?: number; stream?: Peer }
    let parent = tlsSocket._parent as Peer | null | undefined
    if (parent == null) {
      const handle = (tlsSocket as unknown as { _handle?: { _parentWrap?: Peer } | null })._handle
      parent = handle?._parentWrap?.stream
      if (parent instanceof ReplaySocket) tlsSocket._parent = parent
    }
    if (parent == null || realPeer(parent) === undefined) return
    Object.defineProperty(tlsSocket, 'remoteAddress', { value: parent.remoteAddress, configurable: true })
    Object.defineProperty(tlsSocket, 'remotePort', { value: parent.remotePort, configurable: true })
  })
  server.once('close', () => connections.stop())

  server.on('request', onRequest as (req: Http2ServerRequest, res: Http2ServerResponse) => void)
  if (opts.onTlsError !== undefined) server.on('tlsClientError', opts.onTlsError)
  if (opts.onUpgrade !== undefined) server.on('upgrade', opts.onUpgrade)
  return server
}

function defaultCredentials(table: CertTable): { cert?: string; key?: string } {
  return table.fallbackPem === null ? {} : { cert: table.fallbackPem.cert, key: table.fallbackPem.key }
}

export interface TlsFrontOptions {
  port: number
  /** the public addresses (listen-ip-addresses, else --host) */
  hosts: readonly string[]
  /** config-sluice enable-proxy-protocol, read per accept */
  proxyProtocol: () => boolean
  /** the PROXY header's deadline (client-header-timeout), read per accept */
  headerTimeoutMs: () => number
  onProxyReject?: (reason: string) => void
}

/**
 * The TCP side of the TLS listener: one server per address, handing each connection to the TLS
 * server, after its PROXY header when enable-proxy-protocol is on (the header precedes the
 * ClientHello, as Envoy's proxy_protocol filter runs before its TLS inspector).
 */
export class TlsFront {
  readonly servers: net.Server[] = []
  readonly #secure: Http2SecureServer
  readonly #opts: TlsFrontOptions

  constructor(secure: Http2SecureServer, opts: TlsFrontOptions) {
    this.#secure = secure
    this.#opts = opts
  }

  readonly #onConnection = (socket: net.Socket): void => {
    if (!this.#opts.proxyProtocol()) {
      this.#secure.emit('connection', socket)
      return
    }
    socket.on('error', ignore) // a reset during the header is nobody's error
    readProxyHeader(socket, {
      timeoutMs: this.#opts.headerTimeoutMs(),
      onReject: this.#opts.onProxyReject,
      onHeader: (_address, rest) => {
        socket.removeListener('error', ignore)
        // Bytes read past the header (the ClientHello) must reach the TLS server first: Node's
        // TLS wraps a net.Socket's native handle and would skip them, so they go through a stream.
        if (rest.length === 0) {
          this.#secure.emit('connection', socket)
          socket.resume()
        } else {
          this.#secure.emit('connection', new ReplaySocket(socket, rest))
        }
      },
    })
  }

  /** Listen on every address with one port; resolves the port. */
  async listen(): Promise<number> {
    const { hosts } = this.#opts
    let port = this.#opts.port
    for (const h of hosts.length === 0 ? ['0.0.0.0'] : hosts) {
      const server = net.createServer({ noDelay: true }, this.#onConnection)
      this.servers.push(server)
      port = await listenOn(server, port, h, hosts.length > 1)
    }
    // The secure server never listens itself; Node starts its HTTP/1 connection checks on 'listening'.
    this.#secure.emit('listening')
    return port
  }

  /** Stop accepting (the TLS server is closed by its owner). */
  close(): void {
    for (const s of this.servers) s.close()
  }
}

function ignore(): void {}

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
import { ConnectionTable } from '../connections/connection-table.ts'
import { H2_SESSION_OPTIONS } from '../connections/h2-limits.ts'

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
  server.once('close', () => connections.stop())

  server.on('request', onRequest as (req: Http2ServerRequest, res: Http2ServerResponse) => void)
  if (opts.onTlsError !== undefined) server.on('tlsClientError', opts.onTlsError)
  if (opts.onUpgrade !== undefined) server.on('upgrade', opts.onUpgrade)
  return server
}

function defaultCredentials(table: CertTable): { cert?: string; key?: string } {
  return table.fallbackPem === null ? {} : { cert: table.fallbackPem.cert, key: table.fallbackPem.key }
}

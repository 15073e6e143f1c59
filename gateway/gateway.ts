// The data plane: listeners, route matching and proxying. It serves whatever RouteTable it was
// last given (swap), and knows nothing of where tables come from (control/ builds them).
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketTunnel, rejectUpgrade } from './websocket.ts'
import { emptyRouteTable, type HostTable, type PathRoute, type RouteTable, type Split } from './route-table.ts'
import { findHost, findPath, pickSplit } from './match.ts'
import { readRequestHead } from './request-head.ts'
import { ParkedRequest, claimParked, parkedSockets, refusedAfterRelease, type ParkingLot } from './activator/parked-request.ts'
import { upstreamHeaders } from './forward-headers.ts'
import { PlainListener } from './plain-listener.ts'
import type { AddressInfo } from 'node:net'
import type { Http2SecureServer } from 'node:http2'
import { emptyCertTable, hasCertificates, type CertTable } from './tls/cert-table.ts'
import { createTlsServer } from './tls/tls-listener.ts'
import { ConnectionTable } from './connections/connection-table.ts'
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connections/connection-limits.ts'
import { ProxyRequest } from './proxy-request.ts'
import { handleWithPlugins, type PluginHost } from './plugins/flow.ts'
import { createLogger, type Logger } from './log.ts'
import { localReply } from './local-reply.ts'
import { Activator } from './activator/activator.ts'
import { GatewayMetrics } from './metrics/gateway-metrics.ts'
import { ERR } from './metrics/route-slots.ts'

export interface ListenerOptions {
  port: number
  internalPort: number
  /** TLS (SNI) port, opened once a certificate is configured */
  tlsPort?: number
  host?: string
}

export class Gateway implements PluginHost {
  table: RouteTable = emptyRouteTable()
  readonly metrics = new GatewayMetrics()
  readonly activator = new Activator()
  draining = false
  inflight = 0
  log: Logger = createLogger()
  /** requests still running when the drain timeout closed their connections */
  cutByDrain = 0
  readonly #listeners: PlainListener[] = []
  readonly #websockets = new Set<WebSocketTunnel>()
  /** certificates by SNI host, swapped on reload; new handshakes use the new table */
  certs: CertTable = emptyCertTable()
  #tls: Http2SecureServer | null = null
  /** header/idle deadlines and the connection cap, per listener (config-sluice) */
  #limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS
  #tlsConnections: ConnectionTable | null = null
  #tlsPort = 8443
  #host = '0.0.0.0'
  /** the TLS port once listening (0 before) */
  tlsListeningPort = 0
  #idleWaiters: (() => void)[] = []

  /** Install a new table. Requests already running keep the objects of the table they matched. */
  swap(table: RouteTable): void {
    this.activator.adopt(table)
    this.table = table
    this.metrics.routeCount = table.routeCount
  }

  /** New connection limits for every listener: deadlines apply from their next check, the cap from the next accept. */
  setConnectionLimits(limits: ConnectionLimits): void {
    this.#limits = limits
    for (const l of this.#listeners) l.setLimits(limits)
    this.#tlsConnections?.setLimits(limits)
  }

  /** Install certificates; the TLS listener starts with the first one. */
  setCertificates(table: CertTable): void {
    this.certs = table
    if (this.#tls !== null || !hasCertificates(table) || this.#listeners.length === 0 || this.draining) return
    this.#tlsConnections = new ConnectionTable(this.#limits)
    const server = createTlsServer(() => this.certs, (req, res) => this.handle(req as IncomingMessage, res as ServerResponse, this.table.external, false, 'https'), {
      onTlsError: (err) => this.log.debug('TLS handshake failed', { err }),
      onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, false, 'https'),
      connections: this.#tlsConnections,
    })
    this.#tls = server
    server.once('error', (err) => this.log.error('cannot open the TLS listener', { port: this.#tlsPort, err }))
    server.listen(this.#tlsPort, this.#host, () => {
      this.tlsListeningPort = (server.address() as AddressInfo).port
      this.log.info('tls listening', { port: this.tlsListeningPort, hosts: this.certs.hosts.length })
    })
  }

  async listen(opts: ListenerOptions): Promise<{ port: number; internalPort: number }> {
    const host = opts.host ?? '0.0.0.0'
    this.#host = host
    this.#tlsPort = opts.tlsPort ?? 8443
    const external = new PlainListener({
      onRequest: (req, res) => this.handle(req, res, this.table.external, false),
      onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, false, 'http'),
      onClientError,
      park: (socket, bytes, lot) => this.#park(socket, bytes, lot, this.table.external, false),
      limits: this.#limits,
    })
    const internal = new PlainListener({
      onRequest: (req, res) => this.handle(req, res, this.table.internal, true),
      onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, true, 'http'),
      onClientError,
      park: (socket, bytes, lot) => this.#park(socket, bytes, lot, this.table.internal, true),
      limits: this.#limits,
    })
    this.#listeners.push(external, internal)
    const [port, internalPort] = await Promise.all([external.listen(opts.port, host), internal.listen(opts.internalPort, host)])
    this.setCertificates(this.certs)
    return { port, internalPort }
  }

  /**
   * A new HTTP/1.1 connection's first bytes, offered while some revision has requests waiting:
   * when every split its request could go to already has a queue, it waits parked (no HTTP state).
   */
  #park(socket: Socket, bytes: Buffer, lot: ParkingLot, hosts: HostTable, internal: boolean): boolean {
    if (!this.activator.hasWaiting() || this.draining) return false
    const head = readRequestHead(bytes)
    if (head === null) return false
    const vh = findHost(hosts, head.host)
    // Plugins run before any wait (a 401 never waits for a cold start); redirects need no revision.
    if (vh === null || vh.plugins !== null || (!internal && vh.redirectHttps)) return false
    const path = findPath(vh, head.url, head.headers)
    if (path === null) return false
    // Only when every split has requests waiting: then the pick below is final and unbiased (a
    // pick that could still go either way is left to handle(), which picks once).
    for (const s of path.splits) {
      const th = s.backend.throttler
      if (th === null || th.queue.size === 0 || (!th.managed && th.routable.length === 0)) return false
    }
    const split = pickSplit(path)
    if (split === null) return false
    const parked = new ParkedRequest(socket, bytes, split, performance.now(), lot, this)
    this.inflight++
    split.backend.throttler!.admit(parked, parked.arrived)
    return true
  }

  /** The first request Node parsed out of a parked connection: it gets what its wait ended with. */
  #resumeParked(p: ParkedRequest, req: IncomingMessage, res: ServerResponse, hosts: HostTable, internal: boolean, scheme: 'http' | 'https'): boolean {
    const url = req.url ?? '/'
    const vh = url.charCodeAt(0) === 0x2f && !duplicateHost(req.rawHeaders) ? findHost(hosts, req.headers.host ?? '') : null
    const path = vh === null || vh.plugins !== null || (!internal && vh.redirectHttps && scheme === 'http') ? null : findPath(vh, url, req.headers)
    const split = path === null ? null : sameBackend(path, p.split)
    if (split === null) {
      // Node's parse routes it elsewhere than the first bytes did (or the table changed while it
      // waited): it starts over, keeping its arrival time.
      p.giveBack()
      return false
    }
    // Counted in flight and in the revision's meter since it was parked.
    const exchange = new ProxyRequest(this, req, res, split, url, null, p.arrived, scheme)
    if (p.instance !== null) exchange.send(p.instance, performance.now())
    else exchange.reject(p.status as 503 | 504, p.body)
    return true
  }

  handle(req: IncomingMessage, res: ServerResponse, hosts: HostTable, internal: boolean, scheme: 'http' | 'https' = 'http'): void {
    let start = performance.now()
    if (parkedSockets() !== 0 && req.httpVersionMajor === 1) {
      const p = claimParked(req.socket)
      if (p !== undefined) {
        if (this.#resumeParked(p, req, res, hosts, internal, scheme)) return
        start = p.arrived
      }
    }
    let url = req.url ?? '/'
    if (url.charCodeAt(0) !== 0x2f /* '/' */) {
      const path = absoluteFormPath(req, url)
      if (path === null) {
        localReply(res, 400, `bad request target ${JSON.stringify(url)}\n`, true)
        return
      }
      url = path
    }
    if (duplicateHost(req.rawHeaders)) {
      // RFC 9112 §3.2: more than one Host is a bad request (proxies before us may have used either).
      localReply(res, 400, 'more than one Host header\n', true)
      return
    }
    // HTTP/2 requests carry the host as :authority.
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined) ?? ''
    const vh = findHost(hosts, host)
    if (vh === null) {
      this.metrics.unmatched[internal ? 1 : 0]++
      localReply(res, 404, `no route for host ${JSON.stringify(host)}\n`, this.draining)
      return
    }
    if (!internal && vh.redirectHttps && scheme === 'http') {
      this.metrics.unmatched[internal ? 1 : 0]++
      localReply(res, 301, '', this.draining, ['location', `https://${host.replace(/:\d+$/, '')}${url}`])
      return
    }
    const path = findPath(vh, url, req.headers)
    if (path !== null && vh.plugins !== null) {
      handleWithPlugins(this, req, res, vh, path, url, host, start, scheme)
      return
    }
    const split = path === null ? null : pickSplit(path)
    if (split === null) {
      this.metrics.unmatched[internal ? 1 : 0]++
      localReply(res, 404, `no route for ${JSON.stringify(host)} path ${JSON.stringify(url.split('?')[0])}\n`, this.draining)
      return
    }
    const backend = split.backend
    const throttler = backend.throttler!
    if (!throttler.managed && throttler.routable.length === 0) {
      // Fixed upstreams or endpoints with no ready address: nothing will come, answer now.
      split.slot.errors[ERR.no_endpoints]++
      split.slot.record(503, (performance.now() - start) / 1000)
      localReply(res, 503, `no ready instance for ${backend.revision}\n`, this.draining)
      return
    }
    // Upstream headers are built when the request is sent: a buffered request does not hold them.
    const exchange = new ProxyRequest(this, req, res, split, url, null, start, scheme)
    this.inflight++
    throttler.admit(exchange, start)
  }

  #closeTls(): void {
    if (this.#tls === null) return
    this.#tls.close()
    // Sessions and sockets still open after the drain are cut now.
    ;(this.#tls as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
  }

  /**
   * An HTTP/1.1 request with `Upgrade`. WebSockets are routed and tunnelled; any other upgrade
   * (such as h2c) is refused by answering the request as a plain HTTP/1.1 request.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, internal: boolean, scheme: 'http' | 'https'): void {
    const hosts = internal ? this.table.internal : this.table.external
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      const res = new ServerResponse(req)
      res.shouldKeepAlive = false
      res.assignSocket(socket as Socket)
      res.once('finish', () => socket.end())
      if (head.length > 0) socket.unshift(head)
      this.handle(req, res, hosts, internal, scheme)
      return
    }
    const start = performance.now()
    const host = req.headers.host ?? ''
    const vh = findHost(hosts, host)
    const url = req.url ?? '/'
    const path = vh === null ? null : findPath(vh, url, req.headers)
    if (vh === null || path === null) {
      this.metrics.unmatched[internal ? 1 : 0]++
      rejectUpgrade(socket, 404, `no route for host ${JSON.stringify(host)}\n`)
      return
    }
    if (!internal && vh.redirectHttps && scheme === 'http') {
      socket.end(`HTTP/1.1 301 Moved Permanently\r\nlocation: https://${host.replace(/:\d+$/, '')}${url}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
      return
    }
    if (this.draining) {
      rejectUpgrade(socket, 503, 'shutting down\n')
      return
    }
    if (vh.plugins !== null) {
      // onRequest/onUpstream run as for any request (authentication, ip-filter, rate limits and
      // header edits apply to WebSockets too); a local answer goes out through this response.
      const res = new ServerResponse(req)
      res.shouldKeepAlive = false
      res.assignSocket(socket as Socket)
      res.once('finish', () => socket.end())
      handleWithPlugins(this, req, res, vh, path, url, host, start, scheme, (chosen, headers, done) => {
        res.detachSocket(socket as Socket)
        this.#openTunnel(req, socket, head, chosen, url, headers, start, done)
      })
      return
    }
    const split = pickSplit(path)
    if (split === null) {
      this.metrics.unmatched[internal ? 1 : 0]++
      rejectUpgrade(socket, 404, `no route for host ${JSON.stringify(host)}\n`)
      return
    }
    this.#openTunnel(req, socket, head, split, url, upstreamHeaders(req, scheme, split.rewriteHost, split.setHeaders, split.setNames, false), start, null)
  }

  #openTunnel(req: IncomingMessage, socket: Duplex, head: Buffer, split: Split, url: string, headers: string[], start: number, done: ((status: number) => void) | null): void {
    if (socket.destroyed) { // the client left while asynchronous plugins ran
      split.slot.record(499, (performance.now() - start) / 1000)
      done?.(499)
      return
    }
    const throttler = split.backend.throttler!
    if (!throttler.managed && throttler.routable.length === 0) {
      rejectUpgrade(socket, 503, `no ready instance for ${split.backend.revision}\n`)
      done?.(503)
      return
    }
    throttler.admit(new WebSocketTunnel(req, socket, head, split, url, headers, start, this.#websockets, done), start)
  }

  localStart(): void {
    this.inflight++
  }

  localDone(): void {
    this.exchangeDone(null)
  }

  exchangeDone(_x: ProxyRequest | null): void {
    this.inflight--
    if (this.inflight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /**
   * Stop accepting connections, let in-flight requests finish (responses now ask clients to
   * close their connections), then close everything. Resolves true if all finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true
    for (const l of this.#listeners) l.close()
    this.#tls?.close()
    // WebSockets never finish by themselves: close them cleanly (1001 going away) right away.
    for (const ws of this.#websockets) ws.goingAway()
    let timer: NodeJS.Timeout | undefined
    const finished = this.inflight === 0 || await new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
      this.#idleWaiters.push(() => resolve(true))
    })
    clearTimeout(timer)
    // Counted before the connections close: closing finishes (and uncounts) every exchange.
    this.cutByDrain = this.inflight
    for (const l of this.#listeners) l.closeAll()
    this.#closeTls()
    this.activator.close()
    return finished
  }

  /** Close at once (tests). */
  async close(): Promise<void> {
    this.draining = true
    for (const l of this.#listeners) l.closeAll()
    for (const ws of this.#websockets) ws.close()
    this.#closeTls()
    this.activator.close()
  }
}

/**
 * RFC 9112 §3.2.2: a request with an absolute-form target (as sent to proxies) is routed by the
 * target's authority, which replaces Host, and only the origin-form path goes upstream. Returns
 * that path, or null for any other non-origin-form target (`*`, authority-form, junk).
 */
function absoluteFormPath(req: IncomingMessage, url: string): string | null {
  const m = /^https?:\/\/([^/?#@\s]+)([^#\s]*)$/i.exec(url)
  if (m === null) return null
  req.headers.host = m[1]!
  const rest = m[2]!
  return rest === '' ? '/' : rest.charCodeAt(0) === 0x2f ? rest : '/' + rest
}

/** The split of a path that sends to the same revision as `s` (the same one, unless the table changed). */
function sameBackend(path: PathRoute, s: Split): Split | null {
  const splits = path.splits
  for (let i = 0; i < splits.length; i++) if (splits[i] === s) return s
  for (let i = 0; i < splits.length; i++) if (splits[i].backend.throttler === s.backend.throttler) return splits[i]
  return null
}

function duplicateHost(raw: readonly string[]): boolean {
  let seen = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (seen) return true
      seen = true
    }
  }
  return false
}


// Malformed requests never reach a backend: answer 400/431/413 like Node would, but close cleanly.
function onClientError(err: Error & { code?: string }, socket: import('node:stream').Duplex): void {
  let status = '400 Bad Request'
  if (err.code === 'HPE_HEADER_OVERFLOW') status = '431 Request Header Fields Too Large'
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = '408 Request Timeout'
  else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' || err.code === 'HPE_INVALID_TRANSFER_ENCODING') status = '400 Bad Request'
  // A parked request released to Node that Node refused: free its slot now, not at the close.
  if (parkedSockets() !== 0) refusedAfterRelease(socket as Socket, Number(status.slice(0, 3)))
  if (!socket.writable || (socket as Socket).destroyed) return
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
  // Closed once the answer is written, also when the client never closes its side.
  ;(socket as Socket).destroySoon?.()
}

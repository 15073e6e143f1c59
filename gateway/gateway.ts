// The data plane: listeners, route matching and proxying. It serves whatever RouteTable it was
// last given (swap), and knows nothing of where tables come from (control/ builds them).
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Http2SecureServer } from 'node:http2'
import { WebSocketTunnel, rejectUpgrade } from './websocket.ts'
import { emptyRouteTable, type HostTable, type PathRoute, type RouteTable, type Split } from './route-table.ts'
import { pickSplit } from './match.ts'
import { decide, REFUSE, ROUTED, RoutingDecision, type RoutableRequest } from './routing.ts'
import { isHttp2, type DownstreamRequest, type DownstreamResponse } from './downstream.ts'
import { readRequestHead } from './request-head.ts'
import { ParkedRequest, claimParked, parkedSockets, refusedAfterRelease, type ParkingLot } from './activator/parked-request.ts'
import { noReadyInstance } from './activator/throttler.ts'
import { answerNetworkProbe } from './activator/network-probe.ts'
import { upstreamHeaders } from './forward-headers.ts'
import { PlainListener } from './plain-listener.ts'
import { emptyCertTable, hasCertificates, type CertTable } from './tls/cert-table.ts'
import { createTlsServer, TlsFront } from './tls/tls-listener.ts'
import { LazyTlsListener } from './tls/lazy-tls-listener.ts'
import { ConnectionTable } from './connections/connection-table.ts'
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connections/connection-limits.ts'
import { ProxyRequest } from './proxy-request.ts'
import { handleWithPlugins, type PluginHost } from './plugins/flow.ts'
import { createLogger, type Logger } from './log.ts'
import { localReply } from './local-reply.ts'
import { Activator } from './activator/activator.ts'
import { GatewayMetrics } from './metrics/gateway-metrics.ts'
import { ERR } from './metrics/route-slots.ts'
import { emptyEventingTable, type BrokerStats, type EventingTable } from './eventing/types.ts'
import { EventingPlane, describeEventing } from './eventing/eventing-plane.ts'
import { Tracing } from './tracing/tracing.ts'
import { startTrace } from './tracing/start-trace.ts'
import type { RequestTracer } from './tracing/request-trace.ts'
import type { TracingConfig } from './tracing/tracing-config.ts'
import { asDownstreamRequest, type FastRequest } from './fast-path/fast-request.ts'
import type { FastResponse } from './fast-path/fast-response.ts'
import { fastPathEnabled } from './fast-path/fast-path-setting.ts'

const NO_RAW_HEADERS: readonly string[] = Object.freeze([])

export interface ListenerOptions {
  port: number
  internalPort: number
  /** TLS (SNI) port, opened once a certificate is configured */
  tlsPort?: number
  /** cluster-local TLS port (Kourier's 8444), opened once a certificate for it is configured */
  internalTlsPort?: number
  host?: string
  /** the internal listener's address (cluster-local routes); default: `host` */
  internalHost?: string
  /** share the ports with other workers' listeners (SO_REUSEPORT; sluice serve --workers) */
  reusePort?: boolean
}

/** config-sluice keys of the public listeners (Kourier's names). */
export interface ListenerSettings {
  /** enable-proxy-protocol: a PROXY v1/v2 header before anything else; applies to new connections */
  readonly proxyProtocol: boolean
  /** listen-ip-addresses; null: the --host address. Read when the listeners open */
  readonly hosts: readonly string[] | null
  /** cipher-suites as Node's `ciphers` option; undefined: Node's. Read when the TLS listener opens */
  readonly ciphers: string | undefined
}
const DEFAULT_LISTENER_SETTINGS: ListenerSettings = Object.freeze({ proxyProtocol: false, hosts: null, ciphers: undefined })

/** Where a request came in: which table serves it and how it arrived. */
interface Entry {
  readonly internal: boolean
  readonly scheme: 'http' | 'https'
}
const PUBLIC_HTTP: Entry = Object.freeze({ internal: false, scheme: 'http' })
const PUBLIC_HTTPS: Entry = Object.freeze({ internal: false, scheme: 'https' })
const INTERNAL_HTTP: Entry = Object.freeze({ internal: true, scheme: 'http' })
const INTERNAL_HTTPS: Entry = Object.freeze({ internal: true, scheme: 'https' })

export class Gateway implements PluginHost {
  readonly metrics = new GatewayMetrics()
  readonly activator = new Activator()
  /** OpenTelemetry spans (config-observability tracing-*); off by default */
  readonly tracing = new Tracing(this.metrics.tracing)
  /** null while tracing is off: the request path's only cost then */
  #tracer: RequestTracer | null = null
  #table: RouteTable = emptyRouteTable()
  #draining = false
  #inflight = 0
  #log: Logger = createLogger()
  /** requests still running when the drain timeout closed their connections */
  #cutByDrain = 0
  /** the routing answer, refilled by each decision (see routing.ts) */
  readonly #decision = new RoutingDecision()
  readonly #listeners: PlainListener[] = []
  /** never takes the PROXY protocol: in-cluster callers reach it directly */
  #internal: PlainListener | null = null
  readonly #websockets = new Set<WebSocketTunnel>()
  /** certificates by SNI host, swapped on reload; new handshakes use the new table */
  #certs: CertTable = emptyCertTable()
  #tls: Http2SecureServer | null = null
  /** header/idle deadlines and the connection cap, per listener (config-sluice) */
  #limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS
  #tlsConnections: ConnectionTable | null = null
  #tlsFront: TlsFront | null = null
  #tlsPort = 8443
  #host = '0.0.0.0'
  /** cluster-local TLS (config-network cluster-local-domain-tls): every rule, like the internal listener */
  readonly #internalTls = new LazyTlsListener({
    name: 'cluster-local',
    onRequest: (req, res) => this.handle(req, res, INTERNAL_HTTPS),
    onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, INTERNAL_HTTPS),
    log: () => this.#log,
  })
  #internalTlsAt: { port: number; host: string } | null = null
  #listenerSettings: ListenerSettings = DEFAULT_LISTENER_SETTINGS
  /** what the open listeners were started with (null before listen) */
  #openedWith: { hosts: string; ciphers: string | undefined } | null = null
  #idleWaiters: (() => void)[] = []
  #eventing: EventingTable = emptyEventingTable()
  /** brokers' ingress, delivery and backings; null until a table with brokers arrives */
  #plane: EventingPlane | null = null

  get table(): RouteTable { return this.#table }
  /** shutting down: no new work, responses ask clients to close */
  get draining(): boolean { return this.#draining }
  /** requests being served or waiting, parked ones included */
  get inflight(): number { return this.#inflight }
  get cutByDrain(): number { return this.#cutByDrain }
  get log(): Logger { return this.#log }
  set log(log: Logger) { this.#log = log }

  /** Apply config-observability's tracing keys; the SDK is loaded only when they turn tracing on. */
  setTracing(config: TracingConfig): Promise<void> {
    return this.tracing.configure(config, this.#log, (t) => { this.#tracer = t })
  }

  /** Install a new table. Requests already running keep the objects of the table they matched. */
  swap(table: RouteTable): void {
    this.activator.adopt(table)
    this.#table = table
    this.metrics.routeCount = table.routeCount
  }

  /** Install new brokers and triggers (control/compile builds the table; gateway/eventing serves it). */
  swapEventing(table: EventingTable): Promise<void> {
    this.#eventing = table
    if (this.#plane === null) {
      if (table.brokers.size === 0) return Promise.resolve()
      this.#plane = new EventingPlane({ metrics: this.metrics.eventing, log: this.#log })
    }
    return this.#plane.install(table)
  }
  get eventing(): EventingTable { return this.#eventing }
  /** the eventing data plane, once a table with brokers was installed */
  get eventingPlane(): EventingPlane | null { return this.#plane }
  /** per-broker queue depths, retries and last errors for /debug/eventing */
  eventingStats(): readonly BrokerStats[] { return this.#plane?.stats() ?? [] }
  /** brokers, their triggers' resolved delivery and live counters, for /debug/eventing */
  describeEventing(): ReturnType<typeof describeEventing> { return describeEventing(this.#eventing, this.eventingStats()) }

  /** New connection limits for every listener: deadlines apply from their next check, the cap from the next accept. */
  setConnectionLimits(limits: ConnectionLimits): void {
    this.#limits = limits
    for (const l of this.#listeners) l.setLimits(limits)
    this.#tlsConnections?.setLimits(limits)
    this.#internalTls.setLimits(limits)
  }

  /** Certificates for cluster-local hosts; the internal TLS listener starts with the first one. */
  setInternalCertificates(table: CertTable): void {
    const at = this.#internalTlsAt
    this.#internalTls.set(table, at === null || this.#listeners.length === 0 || this.#draining ? null : { ...at, limits: this.#limits })
  }

  /**
   * New listener settings. The PROXY protocol switch applies to the next connection; addresses
   * and ciphers are read when the listeners open, so a later change is logged as needing a restart.
   */
  setListenerSettings(ls: ListenerSettings): void {
    this.#listenerSettings = ls
    for (const l of this.#listeners) if (l !== this.#internal) l.proxyProtocol = ls.proxyProtocol
    const opened = this.#openedWith
    if (opened === null) return
    if ((ls.hosts ?? [this.#host]).join(',') !== opened.hosts) {
      this.#log.warn('listen-ip-addresses changed; restart Sluice to listen on the new addresses', { listening: opened.hosts, configured: (ls.hosts ?? [this.#host]).join(',') })
    }
    if (this.#tls !== null && ls.ciphers !== opened.ciphers) {
      this.#log.warn('cipher-suites changed; restart Sluice to apply them to the TLS listener')
    }
  }

  /** Install certificates; the TLS listener starts with the first one. */
  setCertificates(table: CertTable): void {
    this.#certs = table
    if (this.#tls !== null || !hasCertificates(table) || this.#listeners.length === 0 || this.#draining) return
    this.#tlsConnections = new ConnectionTable(this.#limits)
    const tlsConnections = this.#tlsConnections
    const ciphers = this.#listenerSettings.ciphers
    if (this.#openedWith !== null) this.#openedWith.ciphers = ciphers
    const server = createTlsServer(() => this.#certs, (req, res) => this.handle(req, res, PUBLIC_HTTPS), {
      onTlsError: (err) => this.#log.debug('TLS handshake failed', { err }),
      onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, PUBLIC_HTTPS),
      connections: tlsConnections,
      server: ciphers === undefined ? undefined : { ciphers },
    })
    this.#tls = server
    const front = new TlsFront(server, {
      port: this.#tlsPort,
      hosts: this.#listenerSettings.hosts ?? [this.#host],
      proxyProtocol: () => this.#listenerSettings.proxyProtocol,
      headerTimeoutMs: () => tlsConnections.limits.headerTimeoutMs,
      onProxyReject: (reason) => this.#log.debug('PROXY protocol header refused', { reason }),
    })
    this.#tlsFront = front
    front.listen().then(
      (port) => this.#log.info('tls listening', { port, hosts: this.#certs.hosts.length }),
      (err: unknown) => this.#log.error('cannot open the TLS listener', { port: this.#tlsPort, err }),
    )
  }

  async listen(opts: ListenerOptions): Promise<{ port: number; internalPort: number }> {
    const host = opts.host ?? '0.0.0.0'
    this.#host = host
    this.#tlsPort = opts.tlsPort ?? 8443
    this.#internalTlsAt = { port: opts.internalTlsPort ?? 8444, host: opts.internalHost ?? host }
    const ls = this.#listenerSettings
    const hosts = ls.hosts ?? [host]
    this.#openedWith = { hosts: hosts.join(','), ciphers: ls.ciphers }
    const fast = fastPathEnabled()
    const external = new PlainListener({
      proxyProtocol: ls.proxyProtocol,
      onProxyReject: (reason) => this.#log.debug('PROXY protocol header refused', { reason }),
      onRequest: (req, res) => this.handle(req, res, PUBLIC_HTTP),
      onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, PUBLIC_HTTP),
      onClientError,
      park: (socket, bytes, lot) => this.#park(socket, bytes, lot, PUBLIC_HTTP),
      limits: this.#limits,
      fast: fast ? { serve: (req, res) => this.serveFast(req, res, PUBLIC_HTTP), counts: this.metrics.fastPath, failed: this.#fastFailed } : null,
    })
    const internal = new PlainListener({
      onRequest: (req, res) => this.handle(req, res, INTERNAL_HTTP),
      onUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, INTERNAL_HTTP),
      onClientError,
      park: (socket, bytes, lot) => this.#park(socket, bytes, lot, INTERNAL_HTTP),
      limits: this.#limits,
      fast: fast ? { serve: (req, res) => this.serveFast(req, res, INTERNAL_HTTP), counts: this.metrics.fastPath, failed: this.#fastFailed } : null,
    })
    this.#listeners.push(external, internal)
    this.#internal = internal
    const reuse = opts.reusePort ?? false
    const [port, internalPort] = await Promise.all([external.listen(opts.port, hosts, reuse), internal.listen(opts.internalPort, opts.internalHost ?? host, reuse)])
    this.setCertificates(this.#certs)
    this.setInternalCertificates(this.#internalTls.certs)
    return { port, internalPort }
  }

  #hosts(entry: Entry): HostTable {
    return entry.internal ? this.#table.internal : this.#table.external
  }

  /**
   * A new HTTP/1.1 connection's first bytes, offered while some revision has requests waiting:
   * when every split its request could go to already has a queue, it waits parked (no HTTP state).
   */
  #park(socket: Socket, bytes: Buffer, lot: ParkingLot, entry: Entry): boolean {
    if (!this.activator.hasWaiting() || this.#draining) return false
    const head = readRequestHead(bytes)
    if (head === null) return false
    const d = this.#decision
    const facts: RoutableRequest = { method: head.method, url: head.url, headers: head.headers, rawHeaders: NO_RAW_HEADERS, httpVersionMajor: 1 }
    // Plugins run before any wait (a 401 never waits for a cold start).
    if (decide(d, this.#hosts(entry), facts, entry.internal, entry.scheme) !== ROUTED || d.vh!.plugins !== null) return false
    // Only when every split has requests waiting: then the pick below is final and unbiased (a
    // pick that could still go either way is left to handle(), which picks once).
    const path = d.path!
    for (const s of path.splits) {
      const th = s.backend.throttler
      if (th === null || th.queue.size === 0 || noReadyInstance(th)) return false
    }
    const split = pickSplit(path)
    if (split === null) return false
    const parked = new ParkedRequest(socket, bytes, split, performance.now(), lot, this)
    this.#inflight++
    split.backend.throttler!.admit(parked, parked.arrived)
    return true
  }

  /** The first request Node parsed out of a parked connection: it gets what its wait ended with. */
  #resumeParked(p: ParkedRequest, req: DownstreamRequest, res: DownstreamResponse, entry: Entry): boolean {
    const d = this.#decision
    const routed = decide(d, this.#hosts(entry), req, entry.internal, entry.scheme) === ROUTED && d.vh!.plugins === null
    const split = routed ? sameBackend(d.path!, p.split) : null
    if (split === null) {
      // Node's parse routes it elsewhere than the first bytes did (or the table changed while it
      // waited): it starts over, keeping its arrival time.
      p.giveBack()
      return false
    }
    // Counted in flight and in the revision's meter since it was parked.
    const tracer = this.#tracer
    const trace = tracer === null ? null : startTrace(tracer, req, d.host, d.vh!.owner, split, p.arrived)
    const exchange = new ProxyRequest({ hooks: this, req, res, split, url: d.url, headers: null, arrived: p.arrived, scheme: entry.scheme, trace })
    trace?.queued()
    if (p.instance !== null) exchange.send(p.instance, performance.now())
    else exchange.reject(p.status as 503 | 504, p.body, p.retryAfter)
    return true
  }

  /** Every request, HTTP/1.1 or HTTP/2, plain or TLS, public or internal. */
  handle(req: DownstreamRequest, res: DownstreamResponse, entry: Entry): void {
    let start = performance.now()
    const accessLog = this.#table.accessLog
    if (accessLog != null) accessLog.watch(req, res, start)
    if (parkedSockets() !== 0 && !isHttp2(req)) {
      const p = claimParked(req.socket)
      if (p !== undefined) {
        if (this.#resumeParked(p, req, res, entry)) return
        start = p.arrived
      }
    }
    // Broker ingress hosts are answered by the eventing plane, not the route table.
    const plane = this.#plane
    if (plane !== null && plane.serves(EventingPlane.hostOf(req), entry.internal)) return plane.ingress.handle(req, res)
    const d = this.#decision
    if (decide(d, this.#hosts(entry), req, entry.internal, entry.scheme) === REFUSE) return this.#refuse(res, d, entry)
    const vh = d.vh!
    if (vh.plugins !== null) {
      handleWithPlugins({ host: this, req, res, vh, path: d.path!, url: d.url, hostName: d.host, start, scheme: entry.scheme, tunnel: null, tracer: this.#tracer })
      return
    }
    this.#proxy(req, res, d, entry, start)
  }

  /** A routed request without plugins: pick the split and send it (or buffer it) to an instance. */
  #proxy(req: DownstreamRequest, res: DownstreamResponse, d: RoutingDecision, entry: Entry, start: number): void {
    const split = pickSplit(d.path!)
    if (split === null) return this.#refuse(res, noSplit(d), entry)
    if (split.backend.managed && answerNetworkProbe(req, res, split)) return
    if (noReadyInstance(split.backend.throttler!)) return this.#noEndpoints(res, split, start)
    // Upstream headers are built when the request is sent: a buffered request does not hold them.
    const tracer = this.#tracer
    const trace = tracer === null ? null : startTrace(tracer, req, d.host, d.vh!.owner, split, start)
    const exchange = new ProxyRequest({ hooks: this, req, res, split, url: d.url, headers: null, arrived: start, scheme: entry.scheme, trace })
    this.#inflight++
    split.backend.throttler!.admit(exchange, start)
    if (trace !== null && !exchange.sent) trace.queued()
  }

  /**
   * A request read by the fast path (fast-path/): served the way handle() serves it, with the same
   * routing decision, unless it needs what only the node:http path has (tracing, plugins, the
   * eventing plane, TLS or h2c upstreams). False: nothing was written; Node's server gets it.
   */
  serveFast(fastReq: FastRequest, fastRes: FastResponse, entry: Entry): boolean {
    if (this.#tracer !== null) return false
    const req = asDownstreamRequest(fastReq)
    const plane = this.#plane
    if (plane !== null && plane.serves(EventingPlane.hostOf(req), entry.internal)) return false
    const start = performance.now()
    const d = this.#decision
    const routed = decide(d, this.#hosts(entry), req, entry.internal, entry.scheme) === ROUTED
    if (routed && (d.vh!.plugins !== null || !leanUpstreams(d.path!))) return false
    const res: DownstreamResponse = fastRes
    const accessLog = this.#table.accessLog
    if (accessLog != null) accessLog.watch(req, res, start)
    if (!routed) this.#refuse(res, d, entry)
    else this.#proxy(req, res, d, entry, start)
    return true
  }

  readonly #fastFailed = (err: unknown): void => {
    this.#log.error('fast path: serving a request failed; its connection was closed', { err })
  }

  /** Answer a refused routing decision. */
  #refuse(res: DownstreamResponse, d: RoutingDecision, entry: Entry): void {
    if (d.miss) this.metrics.unmatched[entry.internal ? 1 : 0]++
    // A request we could not read right (bad target, version, Host) leaves no connection state
    // worth keeping.
    const close = this.#draining || (d.status !== 301 && d.status !== 404 && d.status !== 405 && d.unavailable === null)
    localReply(res, d.status, d.body, close, d.status === 301 ? ['location', d.location] : undefined)
  }

  /** Fixed upstreams or endpoints with no ready address: nothing will come, answer now. */
  #noEndpoints(res: DownstreamResponse, split: Split, start: number): void {
    split.slot.errors[ERR.no_endpoints]++
    split.slot.record(503, (performance.now() - start) / 1000)
    localReply(res, 503, split.backend.throttler!.noInstanceAnswer(), this.#draining)
  }

  #closeTls(): void {
    this.#internalTls.closeAll()
    if (this.#tls === null) return
    this.#tlsFront?.close()
    this.#tls.close()
    // Sessions and sockets still open after the drain are cut now (Node's http2 secure server
    // has no closeAllConnections; the connection table knows every TLS connection).
    this.#tlsConnections?.closeAll()
  }

  /**
   * An HTTP/1.1 request with `Upgrade`. WebSockets are routed and tunnelled; any other upgrade
   * (such as h2c) is refused by answering the request as a plain HTTP/1.1 request.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, entry: Entry): void {
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      if (head.length > 0) socket.unshift(head)
      this.handle(req, upgradeResponse(req, socket), entry)
      return
    }
    const start = performance.now()
    const d = this.#decision
    if (decide(d, this.#hosts(entry), req, entry.internal, entry.scheme) === REFUSE) return this.#refuse(upgradeResponse(req, socket), d, entry)
    if (this.#draining) {
      rejectUpgrade(socket, 503, 'shutting down\n')
      return
    }
    const vh = d.vh!
    const url = d.url
    if (vh.plugins !== null) {
      // onRequest/onUpstream run as for any request (authentication, ip-filter, rate limits and
      // header edits apply to WebSockets too); a local answer goes out through this response.
      const res = upgradeResponse(req, socket)
      handleWithPlugins({
        host: this, req, res, vh, path: d.path!, url, hostName: d.host, start, scheme: entry.scheme, tracer: null,
        tunnel: (chosen, headers, done) => {
          res.detachSocket(socket as Socket)
          this.#openTunnel(req, socket, head, chosen, url, headers, start, done)
        },
      })
      return
    }
    const split = pickSplit(d.path!)
    if (split === null) return this.#refuse(upgradeResponse(req, socket), noSplit(d), entry)
    this.#openTunnel(req, socket, head, split, url, upstreamHeaders(req, entry.scheme, split, false, this.#table.trustedProxies), start, null)
  }

  #openTunnel(req: IncomingMessage, socket: Duplex, head: Buffer, split: Split, url: string, headers: string[], start: number, done: ((status: number) => void) | null): void {
    if (socket.destroyed) { // the client left while asynchronous plugins ran
      split.slot.record(499, (performance.now() - start) / 1000)
      done?.(499)
      return
    }
    const throttler = split.backend.throttler!
    if (noReadyInstance(throttler)) {
      split.slot.errors[ERR.no_endpoints]++
      split.slot.record(503, (performance.now() - start) / 1000)
      rejectUpgrade(socket, 503, throttler.noInstanceAnswer())
      done?.(503)
      return
    }
    new WebSocketTunnel({ req, client: socket, head, split, url, headers, arrived: start, open: this.#websockets, onDone: done, log: this.log }).admit(start)
  }

  localStart(): void {
    this.#inflight++
  }

  localDone(): void {
    this.exchangeDone()
  }

  exchangeDone(): void {
    this.#inflight--
    if (this.#inflight === 0 && this.#idleWaiters.length > 0) {
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
    this.#draining = true
    for (const l of this.#listeners) l.close()
    this.#tlsFront?.close()
    this.#tls?.close()
    this.#internalTls.stopAccepting()
    // WebSockets never finish by themselves: close them cleanly (1001 going away) right away.
    for (const ws of this.#websockets) ws.goingAway()
    let timer: NodeJS.Timeout | undefined
    const finished = this.#inflight === 0 || await new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
      this.#idleWaiters.push(() => resolve(true))
    })
    clearTimeout(timer)
    // Counted before the connections close: closing finishes (and uncounts) every exchange.
    this.#cutByDrain = this.#inflight
    for (const l of this.#listeners) l.closeAll()
    this.#closeTls()
    this.activator.close()
    // In-memory events not yet delivered are lost here (docs/eventing.md); JetStream keeps its own.
    await this.#plane?.close()
    // Spans still queued are exported before the process exits.
    await this.tracing.close().catch((err: unknown) => this.#log.warn('tracing: the last export failed', { err }))
    return finished
  }

  /** Close at once (tests). */
  async close(): Promise<void> {
    this.#draining = true
    for (const l of this.#listeners) l.closeAll()
    for (const ws of this.#websockets) ws.close()
    this.#closeTls()
    this.activator.close()
    await this.#plane?.close()
    await this.tracing.close().catch(() => {})
  }
}

/** The split of a path that sends to the same revision as `s` (the same one, unless the table changed). */
function sameBackend(path: PathRoute, s: Split): Split | null {
  const splits = path.splits
  for (let i = 0; i < splits.length; i++) if (splits[i] === s) return s
  for (let i = 0; i < splits.length; i++) if (splits[i].backend.throttler === s.backend.throttler) return splits[i]
  return null
}

/** Every split of the path goes to plain-HTTP/1.1 instances, which the fast path's client serves. */
function leanUpstreams(path: PathRoute): boolean {
  for (const s of path.splits) if (s.backend.protocol !== 'http1' || s.backend.tls != null) return false
  return true
}

/** A path whose splits are all 0%: nothing to send to. */
function noSplit(d: RoutingDecision): RoutingDecision {
  d.status = 404
  d.body = `no route for ${JSON.stringify(d.host)} path ${JSON.stringify(d.url.split('?')[0])}\n`
  d.miss = true
  return d
}

/**
 * A response written on an upgrade request's raw socket: local answers (refusals, plugins'
 * short-circuits) go through the same writer as every other request's.
 */
function upgradeResponse(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket as Socket)
  res.once('finish', () => socket.end())
  return res
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

// Every client connection of one listener, from TCP accept to close, with the two deadlines and
// the cap that keep stalled clients from exhausting file descriptors (issue 10: 2 × 9,990 sockets
// that never sent a byte took the process down, admin port included).
//
// A connection is in one of three places:
//   waiting  accepted, its first request head not complete yet (HTTP/2: preface + first HEADERS)
//   idle     between requests: an HTTP/1.1 keep-alive connection or HTTP/2 session with nothing in flight
//   busy     a request or stream in flight (or parked, or upgraded to a tunnel): never timed out here
// Both lists are ordered by when the connection entered them, so the oldest is at the head: a
// deadline check looks at the heads only, and "the longest-idle connection" that max-connections
// evicts is one of the two heads. Every event is O(1); nothing scans per request.
//
// Why our own timers next to Node's: Node has nothing for a socket before it is handed to an HTTP
// server (the plain port sniffs the first bytes, the TLS port handshakes first), http2 session
// timeouts count inactivity even while streams wait for an upstream (a long poll would be cut),
// and Node keeps no order of idle connections to evict from. Where Node does have the mechanism
// it is kept in step (governHttp1): headersTimeout covers the later heads of a keep-alive
// connection, whose first byte only Node's parser sees, and keepAliveTimeout is what Node
// advertises in `Keep-Alive: timeout=`.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { EventEmitter } from 'node:events'
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limits.ts'

const kConn = Symbol('sluice.connection')

/** Anything a connection can be found from: its sockets (raw and TLS) and its HTTP/2 session. */
interface Tagged { [kConn]?: Conn }

function connOf(o: object | null | undefined): Conn | undefined {
  return o == null ? undefined : (o as Tagged)[kConn]
}

function tag(o: object, c: Conn): void {
  (o as Tagged)[kConn] = c
}

class ConnList {
  head: Conn | null = null
  tail: Conn | null = null

  push(c: Conn): void {
    c.prev = this.tail
    c.next = null
    if (this.tail === null) this.head = c
    else this.tail.next = c
    this.tail = c
    c.list = this
  }

  remove(c: Conn): void {
    if (c.prev === null) this.head = c.next
    else c.prev.next = c.next
    if (c.next === null) this.tail = c.prev
    else c.next.prev = c.prev
    c.prev = null
    c.next = null
    c.list = null
  }
}

/** One client connection. */
export class Conn {
  /** what closing destroys: the TCP socket, then the TLS socket once the handshake is done */
  socket: Socket
  session: ServerHttp2Session | null = null
  /** requests/streams in flight (a parked or upgraded connection counts one) */
  inflight = 0
  /** when it entered its list (ms, performance.now) */
  since: number
  prev: Conn | null = null
  next: Conn | null = null
  list: ConnList | null = null
  /** false once closed by the table or by its socket */
  open = true
  /** its first request waits parked, before any HTTP server owns the socket */
  held = false
  /** a request in flight ended: bound once per connection, so no closure per request */
  readonly done: () => void
  readonly #table: ConnectionTable

  constructor(table: ConnectionTable, socket: Socket, now: number) {
    this.#table = table
    this.socket = socket
    this.since = now
    this.done = () => table.end(this)
  }

  get table(): ConnectionTable {
    return this.#table
  }
}

export class ConnectionTable {
  #limits: ConnectionLimits
  #count = 0
  readonly #waiting = new ConnList()
  readonly #idle = new ConnList()
  #timer: NodeJS.Timeout | null = null
  #timerAt = Infinity
  readonly #http1: object[] = []
  /** every open connection, busy ones included: what closeAll() cuts */
  readonly #open = new Set<Conn>()
  /** closed for a late head, for idleness, and to make room (tests, metrics) */
  headerTimeouts = 0
  idleTimeouts = 0
  evictions = 0

  constructor(limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS) {
    this.#limits = limits
  }

  get limits(): ConnectionLimits {
    return this.#limits
  }

  /** open connections */
  get size(): number {
    return this.#count
  }

  /** New limits: timeouts apply to every connection from the next check, the cap from the next accept. */
  setLimits(limits: ConnectionLimits): void {
    this.#limits = limits
    for (const s of this.#http1) applyHttp1(s, limits)
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#timerAt = Infinity
    this.#arm(performance.now())
  }

  /**
   * Keep a Node HTTP/1 server's own header and keep-alive timers equal to ours: an http.Server, or
   * an http2 secure server with allowHTTP1, which reads them as its own properties too (Node's
   * storeHTTPOptions) although its type does not declare them.
   */
  governHttp1(server: object): void {
    this.#http1.push(server)
    applyHttp1(server, this.#limits)
  }

  /** A TCP connection was accepted; past the cap, the longest-idle connection makes room. */
  accept(socket: Socket): Conn {
    const now = performance.now()
    const c = new Conn(this, socket, now)
    tag(socket, c)
    socket.on('close', onSocketClose)
    this.#open.add(c)
    this.#count++
    this.#waiting.push(c)
    this.#arm(now)
    if (this.#count > this.#limits.maxConnections) {
      // Busy connections are never evicted; when all the others are busy the newcomer itself goes.
      const w = this.#waiting.head
      const i = this.#idle.head
      const victim = w === null ? i : i === null || w.since <= i.since ? w : i
      if (victim !== null) {
        this.evictions++
        this.#close(victim)
      }
    }
    return c
  }

  /**
   * Track a TLS server's connections from TCP accept, so a client that never finishes (or never
   * starts) its handshake is on the header deadline too; Node's own handshakeTimeout is 120 s.
   */
  watchTls(server: EventEmitter): void {
    server.prependListener('connection', (socket: Socket) => this.accept(socket))
    server.prependListener('secureConnection', onSecureConnection)
  }

  /** The socket's first request waits parked (no HTTP server counts it yet): busy, never timed out. */
  hold(socket: Socket): void {
    const c = connOf(socket)
    if (c === undefined || c.held) return
    c.held = true
    this.start(c)
  }

  /** A parked socket goes to an HTTP server, whose request counts itself from now on. */
  release(socket: Socket): void {
    const c = connOf(socket)
    if (c === undefined || !c.held) return
    c.held = false
    this.end(c)
  }

  /** A request (or HTTP/2 stream) began on the connection. */
  start(c: Conn): void {
    if (c.inflight++ === 0 && c.list !== null) c.list.remove(c)
  }

  /** A request ended; with nothing left in flight the connection turns idle. */
  end(c: Conn): void {
    if (c.inflight > 0) c.inflight--
    if (c.inflight > 0 || !c.open || c.list !== null) return
    const now = performance.now()
    c.since = now
    this.#idle.push(c)
    this.#arm(now)
  }

  /**
   * The fast path's requests (fast-path/fast-front.ts), which no Node server emits: a head began on
   * the socket (an idle keep-alive connection is on the header deadline again, as Node's
   * headersTimeout puts it), a request started, its response ended.
   */
  heading(socket: Socket): void {
    const c = connOf(socket)
    if (c === undefined || c.list !== this.#idle) return
    this.#idle.remove(c)
    const now = performance.now()
    c.since = now
    this.#waiting.push(c)
    this.#arm(now)
  }

  startOn(socket: Socket): void {
    const c = connOf(socket)
    if (c !== undefined) this.start(c)
  }

  endOn(socket: Socket): void {
    const c = connOf(socket)
    if (c !== undefined) this.end(c)
  }

  /**
   * Watch an HTTP/1 server's requests (and upgrades) on tracked sockets. Node's TLS server emits
   * HTTP/2 compat requests as 'request' too; those are counted per stream by watchHttp2.
   */
  watchHttp1(server: EventEmitter): void {
    server.prependListener('request', onHttp1Request)
    server.prependListener('upgrade', onUpgrade)
  }

  /** Watch an HTTP/2 server's sessions: every stream is a request in flight. */
  watchHttp2(server: EventEmitter): void {
    server.prependListener('session', onSession)
    server.prependListener('stream', onStream)
  }

  /** Stop the deadline timer (the listener is closing). */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#timerAt = Infinity
  }

  /** Cut every connection still open, busy ones too (the end of a drain). */
  closeAll(): void {
    for (const c of [...this.#open]) this.#close(c)
  }

  /** Close a connection the table gave up on: HTTP/2 says GOAWAY first, anything else is cut. */
  #close(c: Conn): void {
    this.forget(c)
    if (c.session !== null && !c.session.destroyed) c.session.destroy()
    else c.socket.destroy()
  }

  /** The connection is gone (closed by us or by its socket): uncount it once. */
  forget(c: Conn): void {
    if (!c.open) return
    c.open = false
    c.list?.remove(c)
    this.#open.delete(c)
    this.#count--
  }

  readonly #sweep = (): void => {
    this.#timer = null
    this.#timerAt = Infinity
    const now = performance.now()
    const { headerTimeoutMs, idleTimeoutMs } = this.#limits
    for (let c = this.#waiting.head; c !== null && now - c.since >= headerTimeoutMs; c = this.#waiting.head) {
      this.headerTimeouts++
      this.#close(c)
    }
    for (let c = this.#idle.head; c !== null && now - c.since >= idleTimeoutMs; c = this.#idle.head) {
      this.idleTimeouts++
      this.#close(c)
    }
    this.#arm(now)
  }

  /** One timer per listener, aimed at the earliest deadline of the two list heads. */
  #arm(now: number): void {
    let at = Infinity
    const w = this.#waiting.head
    if (w !== null) at = w.since + this.#limits.headerTimeoutMs
    const i = this.#idle.head
    if (i !== null) at = Math.min(at, i.since + this.#limits.idleTimeoutMs)
    if (at >= this.#timerAt) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(this.#sweep, Math.max(0, at - now) + 1)
    this.#timer.unref()
  }
}

function applyHttp1(server: object, l: ConnectionLimits): void {
  Object.assign(server, { headersTimeout: l.headerTimeoutMs, keepAliveTimeout: l.idleTimeoutMs })
}

function onSocketClose(this: Socket): void {
  const c = connOf(this)
  if (c !== undefined) c.table.forget(c)
}

function onSecureConnection(tlsSocket: Socket & { _parent?: Socket | null }): void {
  // Node's tls.Server keeps the TCP socket it wrapped as `_parent`; from here on the connection
  // is found from, and closed through, the TLS socket.
  const c = connOf(tlsSocket._parent)
  if (c === undefined) return
  tag(tlsSocket, c)
  c.socket = tlsSocket
}

function onHttp1Request(req: IncomingMessage, res: ServerResponse): void {
  // HTTP/2 compat requests arrive here too on the TLS server; their streams are counted instead.
  if (req.httpVersionMajor !== 1) return
  const c = connOf(req.socket)
  if (c === undefined) return
  c.table.start(c)
  res.on('close', c.done)
}

function onUpgrade(req: IncomingMessage, _socket: Duplex): void {
  // The socket leaves HTTP for a tunnel: busy until it closes.
  const c = connOf(req.socket)
  if (c !== undefined) c.table.start(c)
}

function onSession(session: ServerHttp2Session): void {
  // session.socket is Node's proxy; reading a property passes through to the socket.
  const c = connOf(session.socket)
  if (c === undefined) return
  c.session = session
  tag(session, c)
}

function onStream(stream: ServerHttp2Stream): void {
  const c = connOf(stream.session)
  if (c === undefined) return
  c.table.start(c)
  stream.on('close', c.done)
}

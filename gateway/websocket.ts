// WebSockets (HTTP/1.1 Upgrade) through routing, splits and the activator. A connection is routed
// like a request, waits in the revision's throttler like a request (so a WebSocket to a revision
// at zero waits for an instance, and holds a containerConcurrency slot while open), then becomes
// two piped sockets. Node's HTTP client writes the upstream upgrade request (and validates its
// head: plugins edit these headers, and a CR/LF in one must never become a line of its own) and
// llhttp reads the answer: only a real 101 upgrade turns into a tunnel; any other answer (a 403
// from the app, say) is an ordinary HTTP response that is relayed, recorded with its own status,
// and closes the connection.
import net from 'node:net'
import tls from 'node:tls'
import http, { ServerResponse, STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Split } from './route-table.ts'
import type { Waiter, RevisionThrottler } from './activator/throttler.ts'
import type { UpstreamInstance } from './activator/upstream-instance.ts'
import type { Logger } from './log.ts'
import { RESPONSE_HOP_BY_HOP } from './forward-headers.ts'
import { ERR } from './metrics/route-slots.ts'

/**
 * Write a small HTTP/1.1 answer on a raw socket (the upgrade was refused) and close it. A 503
 * carries Retry-After as local-reply.ts writes it: the caller's (a breaker's), else 1 second.
 */
export function rejectUpgrade(socket: Duplex, status: number, body: string, retryAfter?: string): void {
  if (socket.destroyed) return
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}${status === 503 ? `\r\nretry-after: ${retryAfter ?? '1'}` : ''}\r\n\r\n${body}`)
}

// A close frame from the server side: FIN + opcode 8, unmasked, status 1001 "going away".
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])

// Could not connect at all (as proxy-request.ts classifies them); an HPE_* code is llhttp refusing
// the answer; anything else happened on an established connection.
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])

// The two headers that make the request an upgrade; written by the tunnel, never taken from the list.
const UPGRADE_HEADERS = ['connection', 'Upgrade', 'upgrade', 'websocket'] as const

export interface WebSocketTunnelOptions {
  /** the client's upgrade request (method; relayed non-101 answers are written for it) */
  req: IncomingMessage
  /** the client's connection, taken over from Node's HTTP server */
  client: Duplex
  /** bytes the client sent after its request head (Node's `upgrade` event `head`) */
  head: Buffer
  split: Split
  /** origin-form target sent upstream */
  url: string
  /** upstream request headers, flat [name, value, …]: upstreamHeaders() as plugins left them */
  headers: string[]
  /** performance.now() when the request arrived */
  arrived: number
  /** the gateway's open tunnels (closed on drain); the tunnel adds and removes itself */
  open: Set<WebSocketTunnel>
  /** plugins' onComplete, with the status the exchange ended with (101 once upgraded) */
  onDone?: ((status: number) => void) | null
  log: Logger
}

export class WebSocketTunnel implements Waiter {
  // Waiter (read by the throttler)
  done = false
  readonly arrived: number
  /** timeoutSeconds bounds the wait for an instance and for the upstream's answer, as for requests */
  readonly deadline: number

  readonly #req: IncomingMessage
  readonly #client: Duplex
  readonly #head: Buffer
  readonly #split: Split
  readonly #throttler: RevisionThrottler
  readonly #url: string
  readonly #headers: string[]
  readonly #open: Set<WebSocketTunnel>
  readonly #onDone: ((status: number) => void) | null
  readonly #log: Logger
  #admitted = false
  #instance: UpstreamInstance | null = null
  #request: http.ClientRequest | null = null
  #upstream: net.Socket | null = null
  #timer: NodeJS.Timeout | null = null
  /** what close() records: 499 until the upstream answers, then 101 or the relayed status */
  #status = 499
  #upgraded = false

  constructor(o: WebSocketTunnelOptions) {
    this.#req = o.req
    this.#client = o.client
    this.#head = o.head
    this.#split = o.split
    this.#throttler = o.split.backend.throttler!
    this.#url = o.url
    this.#headers = o.headers
    this.arrived = o.arrived
    this.#open = o.open
    this.#onDone = o.onDone ?? null
    this.#log = o.log
    this.deadline = o.split.backend.firstByteMs > 0 ? o.arrived + o.split.backend.firstByteMs : Infinity
    o.open.add(this)
    o.client.on('error', () => this.close())
    o.client.on('close', () => this.close())
  }

  /**
   * Hand the tunnel to its revision's throttler, unless its upstream request could not be sent:
   * a header that is not a token or a value with CR/LF/NUL (a plugin's edit) is refused here
   * with a 500, before it can wait for (or wake) an instance. 500, not 502: the upstream did
   * nothing wrong, the gateway built a request it must not send.
   */
  admit(now: number): void {
    const bad = invalidHeader(this.#headers)
    if (bad !== null) {
      this.#split.slot.errors[ERR.other]++
      this.#log.error('websocket upgrade refused: invalid upstream request header (check the plugins and header edits of this route)',
        { revision: this.#split.backend.revision, header: bad.name, err: bad.err })
      this.fail(500, `invalid upstream request header ${JSON.stringify(bad.name)}\n`, -1)
      return
    }
    this.#admitted = true
    this.#throttler.admit(this, now)
  }

  send(instance: UpstreamInstance, _now: number): void {
    this.#instance = instance
    const u = new URL(instance.origin)
    const headers: string[] = []
    for (let i = 0; i < this.#headers.length; i += 2) {
      const name = this.#headers[i]!.toLowerCase()
      if (name !== 'connection' && name !== 'upgrade') headers.push(this.#headers[i]!, this.#headers[i + 1]!)
    }
    headers.push(...UPGRADE_HEADERS)
    let request: http.ClientRequest
    try {
      // No agent: one fresh connection per WebSocket, which becomes the tunnel.
      request = http.request({
        method: this.#req.method ?? 'GET',
        path: this.#url,
        headers,
        createConnection: () => (this.#upstream = instance.tls === null
          ? net.connect({ host: u.hostname, port: Number(u.port || 80), noDelay: true })
          // system-internal-tls: the Upgrade goes over HTTP/1.1 inside TLS
          : tls.connect({ ...instance.tls.connect, ALPNProtocols: ['http/1.1'], host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 443) })),
      })
    } catch (err) {
      // admit() checked the headers; this is the path or method (llhttp let them in, so unlikely)
      this.#split.slot.errors[ERR.other]++
      this.#log.error('websocket upgrade refused: invalid upstream request', { revision: this.#split.backend.revision, err })
      return this.fail(500, 'invalid upstream request\n', -1)
    }
    this.#request = request
    if (this.deadline !== Infinity) {
      this.#timer = setTimeout(() => this.fail(504, 'request timeout\n', ERR.response_start_timeout), Math.max(1, this.deadline - performance.now()))
      this.#timer.unref()
    }
    request.on('upgrade', (res: IncomingMessage, socket: net.Socket, rest: Buffer) => this.#tunnel(res, socket, rest))
    request.on('response', (res: IncomingMessage) => this.#relay(res))
    request.on('error', (err: Error & { code?: string }) => this.#requestFailed(err))
    request.end(this.#head.length > 0 ? this.#head : undefined)
  }

  /** The upstream switched protocols: its 101 goes to the client as it came, then bytes flow both ways. */
  #tunnel(res: IncomingMessage, socket: net.Socket, rest: Buffer): void {
    this.#clearTimer()
    if (this.done) return void socket.destroy()
    this.#upgraded = true
    this.#status = 101
    this.#upstream = socket
    // The head as the upstream sent it (names, order and values; llhttp has checked them), so
    // the client sees its Sec-WebSocket-Accept, -Protocol and -Extensions.
    const raw = res.rawHeaders
    let head = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\n`
    for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`
    const client = this.#client
    client.write(head + '\r\n', 'latin1') // llhttp read the bytes as latin1: write the same bytes back
    if (rest.length > 0) client.write(rest)
    socket.on('error', () => this.close())
    socket.on('close', () => this.close())
    socket.pipe(client)
    client.pipe(socket)
    this.#idleTimeout()
  }

  /**
   * Any other answer (a 403, a 426, a 101 without a valid Upgrade): an ordinary HTTP response.
   * Status, headers (hop-by-hop removed) and body go to the client, then the connection closes.
   */
  #relay(res: IncomingMessage): void {
    this.#clearTimer()
    if (this.done) return void res.destroy()
    const status = res.statusCode ?? 0
    if (status < 200 || status > 599) {
      res.destroy()
      return this.fail(502, `upstream answered the upgrade with status ${status}\n`, ERR.protocol)
    }
    const raw = res.rawHeaders
    const named = res.headers.connection
    const headers: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase()
      if (RESPONSE_HOP_BY_HOP.has(name) || (named !== undefined && listed(named, name))) continue
      headers.push(raw[i]!, raw[i + 1]!)
    }
    const out = new ServerResponse(this.#req)
    out.shouldKeepAlive = false
    out.assignSocket(this.#client as net.Socket)
    try {
      out.writeHead(status, res.statusMessage, headers)
    } catch {
      out.detachSocket(this.#client as net.Socket)
      res.destroy()
      return this.fail(502, 'upstream answered the upgrade with an invalid response head\n', ERR.protocol)
    }
    this.#status = status
    // Cut short (the upstream went away mid-body): the client sees the cut, as with a request.
    res.on('close', () => { if (!res.complete) this.close() })
    out.once('finish', () => {
      if (this.done) return
      this.#client.end()
      this.#upstream?.destroy()
      this.#finish(status)
    })
    res.pipe(out)
    this.#idleTimeout()
  }

  #requestFailed(err: Error & { code?: string }): void {
    this.#clearTimer()
    if (this.done) return
    if (this.#status !== 499) return this.close() // the relayed response broke off
    const code = err.code ?? err.name
    const kind = CONNECT_ERRORS.has(code) ? ERR.connect : code.startsWith('HPE_') ? ERR.protocol : ERR.reset
    this.fail(502, kind === ERR.protocol ? 'upstream answered the upgrade with an invalid response\n' : `upstream failed: ${code}\n`, kind)
  }

  // idleTimeoutSeconds: no byte either way for that long closes it. Every byte crosses the
  // client socket (read one way, written the other), so its inactivity timer covers both.
  #idleTimeout(): void {
    const idleMs = this.#split.backend.idleMs
    const client = this.#client as net.Socket
    if (idleMs > 0 && typeof client.setTimeout === 'function') {
      client.setTimeout(idleMs, () => {
        this.#split.slot.errors[ERR.idle_timeout]++
        if (this.#upgraded) this.goingAway()
        else this.close()
      })
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Refused by the throttler (queue full, a circuit breaker, waited too long), as a request would be. */
  reject(status: 503 | 504, body: string, retryAfter?: string): void {
    this.fail(status, body, status === 504 ? ERR.response_start_timeout : -1, retryAfter)
  }

  /** Refuse the upgrade with a local answer (nothing was relayed yet) and let the upstream go. */
  fail(status: number, body: string, errorKind: number, retryAfter?: string): void {
    if (this.done) return
    if (errorKind >= 0) this.#split.slot.errors[errorKind]++
    rejectUpgrade(this.#client, status, body, retryAfter)
    this.#request?.destroy()
    this.#upstream?.destroy()
    this.#finish(status)
  }

  /** Either side closed: close the other, give the slot back. */
  close(): void {
    if (this.done) return
    this.#client.destroy()
    this.#request?.destroy()
    this.#upstream?.destroy()
    this.#finish(this.#status)
  }

  /** Graceful shutdown: tell the client the server is going away, then close both sides. */
  goingAway(): void {
    if (this.done) return
    if (this.#upgraded) {
      if (!this.#client.destroyed) this.#client.end(GOING_AWAY)
      this.#upstream?.end()
    }
    setTimeout(() => this.close(), 1000).unref()
  }

  #finish(status: number): void {
    this.done = true
    this.#clearTimer()
    this.#open.delete(this)
    this.#split.slot.record(status, (performance.now() - this.arrived) / 1000)
    if (this.#admitted) this.#throttler.leave(performance.now(), this.#instance)
    this.#instance = null
    this.#onDone?.(status)
  }
}

/** The first header Node's HTTP client would refuse to write, or null when all can be sent. */
function invalidHeader(flat: readonly string[]): { name: string; err: unknown } | null {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!
    try {
      validateHeaderName(name)
      validateHeaderValue(name, flat[i + 1])
    } catch (err) {
      return { name, err }
    }
  }
  return null
}

function listed(connectionValue: string, name: string): boolean {
  for (const t of connectionValue.split(',')) if (t.trim().toLowerCase() === name) return true
  return false
}

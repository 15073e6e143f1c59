// One keep-alive HTTP/1.1 connection to an upstream instance, for the fast path's lean client
// (upstream-client.ts): the request head goes out as one latin1 write, as undici's writeH1 builds
// it (host first, `connection: keep-alive`, the headers in order, content-length last), and the
// response is parsed by Node's llhttp binding in RESPONSE mode. Framing is llhttp's: this file only
// forwards what it reports (head, body chunks, completion, keep-alive) to the exchange's handler,
// through undici's dispatch-handler interface so that ProxyRequest drives it unchanged.
//
// Callbacks run inside parser.execute(); anything that could reuse this connection (the end of an
// exchange frees a slot, and the throttler may send the next request at once) waits until execute
// has returned. Listeners and parser callbacks are made once per connection, not per request.
import net from 'node:net'
import type { Dispatcher } from 'undici'
import {
  HTTPParser, RESPONSE, STRICT, PROCEED, SKIP_BODY, isParseError,
  kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, type HttpParser,
} from './llhttp.ts'
import type { BodySource } from './request-body.ts'
import type { FastRequest } from './fast-request.ts'

type Handler = Dispatcher.DispatchHandler
type Headers = Record<string, string | string[] | undefined>

/** what an UpstreamConnection needs of its pool */
export interface ConnectionOwner {
  /** the exchange on `c` is over and the connection may carry another request */
  reusable(c: UpstreamConnection): void
  /** `c` closed (or will): forget it */
  gone(c: UpstreamConnection): void
}

/** An upstream failure with the code ProxyRequest's classify() reads (undici's codes where undici has one). */
export class UpstreamError extends Error {
  readonly code: string
  constructor(message: string, code: string) {
    super(message)
    this.code = code
  }
}

const NO_TRAILERS: Headers = Object.freeze({}) as Headers
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])

/** One request/response on a connection; it is the controller its handler holds. */
export class UpstreamExchange implements Dispatcher.DispatchController {
  readonly handler: Handler
  readonly conn: UpstreamConnection
  aborted = false
  paused = false
  reason: Error | null = null
  /** the response head (status ≥ 200) was given to the handler */
  started = false
  /** the handler has been told the end (onResponseEnd or onResponseError) */
  over = false
  readonly head: boolean

  constructor(conn: UpstreamConnection, handler: Handler, head: boolean) {
    this.conn = conn
    this.handler = handler
    this.head = head
  }

  abort(reason: Error): void {
    if (this.aborted || this.over) return
    this.aborted = true
    this.reason = reason
    this.over = true
    this.conn.aborted(this)
  }

  pause(): void {
    this.paused = true
    this.conn.socket.pause()
  }

  resume(): void {
    this.paused = false
    if (this.conn.exchange === this) this.conn.socket.resume()
  }
}

export class UpstreamConnection {
  readonly socket: net.Socket
  readonly #owner: ConnectionOwner
  readonly #parser: HttpParser
  exchange: UpstreamExchange | null = null
  /** header fields llhttp handed over before the head was complete (more than 32), or trailers */
  #fields: string[] | null = null
  /** the current message is a 1xx: its completion is not the response's */
  #interim = false
  /** llhttp says the connection may carry another message after this response */
  #keepAlive = false
  /** the request asked for the connection to close after it (HEAD, as undici does) */
  #closeAfter = false
  /** the response completed inside the parser pass now running */
  #completed = false
  #trailers: Headers = NO_TRAILERS
  #bodyMs = 0
  /**
   * performance.now() past which the connection has waited too long (0: no limit): for the first
   * response byte, between body bytes, or idle in the pool. The pool's sweep (upstream-client.ts)
   * checks it every SWEEP_MS, so no timer is armed or moved per request.
   */
  #until = 0
  /** the request body is still being written */
  #body: BodySource | null = null
  closed = false

  constructor(host: string, port: number, owner: ConnectionOwner) {
    this.#owner = owner
    this.socket = net.connect({ host, port, noDelay: true })
    const parser = new HTTPParser()
    parser.initialize(RESPONSE, {}, 0, STRICT)
    parser[kOnHeaders] = (fields: string[]) => { this.#addFields(fields) }
    parser[kOnHeadersComplete] = (_maj: number, _min: number, fields: string[] | undefined, _m: unknown, _u: unknown, status: number, message: string, _up: boolean, keepAlive: boolean) =>
      this.#onHead(fields, status, message, keepAlive)
    parser[kOnBody] = (chunk: Buffer) => { this.#onBody(chunk) }
    parser[kOnMessageComplete] = () => { this.#onComplete() }
    this.#parser = parser
    const s = this.socket
    s.on('data', (chunk: Buffer) => this.#onData(chunk))
    s.on('end', () => this.#onEnd())
    s.on('error', (err: Error) => this.#fail(err))
    s.on('close', () => this.#onClose())
    s.on('drain', () => this.#body?.resume())
  }

  /** Send a request on this (idle or connecting) connection. */
  start(opts: Dispatcher.DispatchOptions, handler: Handler): void {
    const method = opts.method
    const x = new UpstreamExchange(this, handler, method === 'HEAD')
    this.exchange = x
    this.#keepAlive = false
    this.#completed = false
    this.#interim = false
    this.#trailers = NO_TRAILERS
    this.#closeAfter = method === 'HEAD'
    this.#bodyMs = opts.bodyTimeout ?? 0
    handler.onRequestStart?.(x, {})
    if (x.aborted) return
    const flat = opts.headers as string[]
    let host = ''
    let length: string | null = null
    let head = method + ' ' + opts.path + ' HTTP/1.1\r\n'
    let rest = ''
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!
      if (name === 'host') host = flat[i + 1]!
      else if (name === 'content-length') length = flat[i + 1]!
      else rest += name + ': ' + flat[i + 1] + '\r\n'
    }
    head += 'host: ' + host + (this.#closeAfter ? '\r\nconnection: close\r\n' : '\r\nconnection: keep-alive\r\n') + rest
    // ProxyRequest passes the request itself as the body when it has one; its bytes are in `body`.
    const body = opts.body == null ? null : (opts.body as unknown as FastRequest).body
    const s = this.socket
    const firstByte = opts.headersTimeout ?? 0
    this.#until = firstByte > 0 ? performance.now() + firstByte : 0
    if (body === null || body === undefined) {
      // undici: no content-length without a body unless the method expects one (then 0)
      s.write(EXPECTS_PAYLOAD.has(method) ? head + 'content-length: 0\r\n\r\n' : head + '\r\n', 'latin1')
      return
    }
    this.#body = body
    s.cork()
    // undici writes the length it parsed (parseInt), so `00005` goes upstream as `5`
    s.write(head + (length !== null ? 'content-length: ' + parseInt(length, 10) + '\r\n\r\n' : 'transfer-encoding: chunked\r\n\r\n'), 'latin1')
    body.pipeTo(this, length === null)
    process.nextTick(uncork, s)
  }

  /** A request body chunk; false when the socket wants the source to wait for 'drain'. */
  writeBody(chunk: Buffer): boolean {
    return this.socket.write(chunk)
  }

  /** The request body is complete. */
  endBody(): void {
    this.#body = null
  }

  /** The request body could not be read to its end (the client left): the exchange cannot go on. */
  bodyFailed(err: Error): void {
    this.#body = null
    this.#fail(err)
  }

  #addFields(fields: string[]): void {
    if (this.#fields === null) this.#fields = []
    for (let i = 0; i < fields.length; i++) this.#fields.push(fields[i]!)
  }

  #onHead(fields: string[] | undefined, status: number, message: string, keepAlive: boolean): number {
    const x = this.exchange
    if (fields === undefined) {
      fields = this.#fields ?? []
    } else if (this.#fields !== null) {
      this.#addFields(fields)
      fields = this.#fields
    }
    this.#fields = null
    if (x === null || x.over) return SKIP_BODY
    if (status < 200 && status >= 100) {
      if (status === 101) {
        this.#fail(new UpstreamError('unexpected 101 Switching Protocols', 'HPE_UNEXPECTED_UPGRADE'))
        return SKIP_BODY
      }
      // 1xx are not forwarded (as on the node:http path); the final response follows.
      this.#interim = true
      return SKIP_BODY
    }
    this.#interim = false
    this.#keepAlive = keepAlive
    x.started = true
    this.#until = this.#bodyMs > 0 ? performance.now() + this.#bodyMs : 0
    const headers: Headers = {}
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!.toLowerCase()
      const value = fields[i + 1]!
      const had = headers[name]
      if (had === undefined) headers[name] = value
      else if (typeof had === 'string') headers[name] = [had, value]
      else had.push(value)
    }
    x.handler.onResponseStart?.(x, status, headers, message)
    return x.head ? SKIP_BODY : PROCEED
  }

  #onBody(chunk: Buffer): void {
    const x = this.exchange
    if (x === null || x.over) return
    x.handler.onResponseData?.(x, chunk)
  }

  #onComplete(): void {
    if (this.#interim) {
      this.#interim = false
      return
    }
    if (this.#fields !== null) {
      this.#trailers = trailersOf(this.#fields)
      this.#fields = null
    }
    this.#completed = true
  }

  #onData(chunk: Buffer): void {
    // bytes between body bytes: idleTimeoutSeconds counts from the last one
    if (this.#bodyMs > 0 && this.exchange?.started === true) this.#until = performance.now() + this.#bodyMs
    let r: number | Error
    try {
      r = this.#parser.execute(chunk)
    } catch (err) {
      // a handler threw inside a parser callback: the exchange fails, the process goes on
      r = err instanceof Error ? err : new Error(String(err))
    }
    if (typeof r !== 'number') {
      this.#fail(r)
      return
    }
    if (this.#completed) this.#afterComplete(r < chunk.length)
  }

  /** The response ended (inside the last parser pass); `extra`: bytes came after it. */
  #afterComplete(extra: boolean): void {
    this.#completed = false
    const x = this.exchange
    if (x === null) return
    this.exchange = null
    x.over = true
    const trailers = this.#trailers
    this.#trailers = NO_TRAILERS
    // Reuse only a connection llhttp keeps alive, whose request is fully written, with nothing
    // after the response (an upstream that answers twice is not trusted with another request).
    if (this.#keepAlive && !this.#closeAfter && this.#body === null && !extra && !this.closed) {
      if (x.paused) this.socket.resume()
      this.#until = 0
      this.#owner.reusable(this)
    } else {
      if (this.#body !== null) {
        // answered before the request body's end: the rest is read from the client and dropped
        this.#body.unpipe()
        this.#body = null
      }
      this.destroy()
    }
    x.handler.onResponseEnd?.(x, trailers)
  }

  #onEnd(): void {
    // A close-delimited body ends here: llhttp completes the message on finish(). Any other end
    // before the response's is undici's "other side closed" (a reset, as ProxyRequest counts it).
    const r = this.#parser.finish()
    if (!isParseError(r) && this.#completed) this.#afterComplete(false)
    if (this.exchange !== null) this.#fail(new UpstreamError('other side closed', 'UND_ERR_SOCKET'))
    this.destroy()
  }

  #onClose(): void {
    this.closed = true
    if (this.exchange !== null) this.#fail(new UpstreamError('other side closed', 'UND_ERR_SOCKET'))
    this.#owner.gone(this)
    this.#parser.free()
  }

  #onTimeout(): void {
    const x = this.exchange
    if (x === null) {
      this.destroy() // idle keep-alive timeout
      return
    }
    this.#fail(x.started
      ? new UpstreamError('body timeout', 'UND_ERR_BODY_TIMEOUT')
      : new UpstreamError('headers timeout', 'UND_ERR_HEADERS_TIMEOUT'))
  }

  /** The exchange fails: its handler hears it once, and the connection is not reused. */
  #fail(err: Error): void {
    const x = this.exchange
    this.destroy()
    if (x === null) return
    this.exchange = null
    if (this.#body !== null) {
      this.#body.unpipe()
      this.#body = null
    }
    if (x.over) return
    x.over = true
    x.handler.onResponseError?.(x, err)
  }

  /** The handler aborted its exchange: the connection is cut (a response may be half read). */
  aborted(x: UpstreamExchange): void {
    if (this.exchange !== x) return
    this.exchange = null
    if (this.#body !== null) {
      this.#body.unpipe()
      this.#body = null
    }
    this.destroy()
    x.handler.onResponseError?.(x, x.reason ?? new UpstreamError('aborted', 'UND_ERR_ABORTED'))
  }

  /** Idle in the pool for `ms`, then closed (0: no limit). */
  idle(ms: number): void {
    this.#until = ms > 0 ? performance.now() + ms : 0
  }

  /** The sweep: a wait that outlived its limit ends here. */
  check(now: number): void {
    if (this.#until !== 0 && now >= this.#until && !this.closed) {
      this.#until = 0
      this.#onTimeout()
    }
  }

  destroy(): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
  }
}

function uncork(s: net.Socket): void {
  s.uncork()
}

function trailersOf(fields: string[]): Headers {
  const t: Headers = {}
  for (let i = 0; i < fields.length; i += 2) t[fields[i]!.toLowerCase()] = fields[i + 1]!
  return t
}

// A fast-path response: written straight to the client socket as node:http's ServerResponse would
// write it for an HTTP/1.1 request (status line with the reason phrase given or Node's, the headers
// as given, then what _storeHeader adds: Date, Connection/Keep-Alive, and chunked framing when
// there is no Content-Length and the status may carry a body), the head and the first bytes in one
// corked write. It offers the methods the gateway calls on a response (downstream.ts), so
// ProxyRequest, localReply and the access log use it as they use ServerResponse.
import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import { asDownstreamRequest, type FastRequest } from './fast-request.ts'
import type { DownstreamRequest, DownstreamResponse } from '../downstream.ts'

/** what a response tells the connection it belongs to */
export interface ResponseOwner {
  /** the response was written completely; `last`: the connection closes after it */
  responseDone(res: FastResponse, last: boolean): void
}

const CRLF = '\r\n'
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1')
const CONNECTION_CLOSE = /(?:^|\W)close(?:$|\W)/i

// Node's utcDate(): the Date value, rebuilt at most once a second
let dateCache = ''
let dateSecond = -1
function utcDate(): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateCache = new Date(now).toUTCString()
  }
  return dateCache
}

type Listener = () => void

function emitClose(res: FastResponse): void {
  res.closed()
}

export class FastResponse implements DownstreamResponse {
  readonly request: FastRequest
  readonly #socket: Socket
  readonly #owner: ResponseOwner
  /** Keep-Alive: timeout= (the listener's idle timeout, as node:http advertises its keepAliveTimeout) */
  readonly #keepAliveSeconds: number
  statusCode = 200
  headersSent = false
  destroyed = false
  finished = false
  /** the head, built and not yet written */
  #head: string | null = null
  #chunked = false
  /** no body may follow the head (HEAD, 204, 304) */
  #bodyless = false
  /** the connection closes after this response */
  #last: boolean
  #set: string[] | null = null
  #trailers = ''
  #close: Listener[] | null = null
  #drain: Listener | null = null
  #finish: Listener | null = null

  constructor(req: FastRequest, socket: Socket, owner: ResponseOwner, keepAlive: boolean, keepAliveSeconds: number) {
    this.request = req
    this.#socket = socket
    this.#owner = owner
    this.#last = !keepAlive
    this.#keepAliveSeconds = keepAliveSeconds
  }

  /** the request, as localReply and the access log read it (res.req) */
  get req(): DownstreamRequest {
    return asDownstreamRequest(this.request)
  }

  writeHead(statusCode: number, reasonOrHeaders?: string | string[], maybeHeaders?: string[]): this {
    if (this.headersSent) return this
    let reason: string | undefined
    let headers: string[] | undefined
    if (typeof reasonOrHeaders === 'string') {
      reason = reasonOrHeaders
      headers = maybeHeaders
    } else {
      headers = reasonOrHeaders
    }
    this.statusCode = statusCode
    this.#head = this.#build(statusCode, reason, headers ?? [], -1)
    this.headersSent = true
    return this
  }

  setHeader(name: string, value: string | string[]): this {
    const set = (this.#set ??= [])
    if (typeof value === 'string') set.push(name, value)
    else for (const v of value) set.push(name, v)
    return this
  }

  #build(status: number, reason: string | undefined, flat: readonly string[], impliedLength: number): string {
    let head = 'HTTP/1.1 ' + status + ' ' + (reason || STATUS_CODES[status] || 'unknown') + CRLF
    let length = false, coding = false, connection = false, date = false
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!
      const value = flat[i + 1]!
      switch (name.length) {
        case 4: if (name.toLowerCase() === 'date') date = true; break
        case 10:
          if (name.toLowerCase() === 'connection') {
            connection = true
            if (CONNECTION_CLOSE.test(value)) this.#last = true
          }
          break
        case 14: if (name.toLowerCase() === 'content-length') length = true; break
        case 17: if (name.toLowerCase() === 'transfer-encoding') coding = true; break
      }
      head += name + ': ' + value + CRLF
    }
    if (!date) head += 'Date: ' + utcDate() + CRLF
    if (!connection) {
      head += this.#last ? 'Connection: close\r\n' : 'Connection: keep-alive\r\nKeep-Alive: timeout=' + this.#keepAliveSeconds + CRLF
    }
    this.#bodyless = this.request.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)
    if (!length && !coding && !this.#bodyless) {
      if (impliedLength >= 0) head += 'Content-Length: ' + impliedLength + CRLF
      else {
        this.#chunked = true
        head += 'Transfer-Encoding: chunked\r\n'
      }
    }
    return head + CRLF
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.finished || this.destroyed) return true
    if (!this.headersSent) this.writeHead(this.statusCode, this.#set ?? [])
    const s = this.#socket
    const head = this.#head
    if (this.#bodyless) {
      if (head !== null) this.#flushHead()
      return true
    }
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
    if (size === 0) {
      if (head !== null) this.#flushHead()
      return true
    }
    s.cork()
    if (head !== null) {
      this.#head = null
      s.write(head, 'latin1')
    }
    let ok: boolean
    if (this.#chunked) {
      s.write(size.toString(16) + CRLF, 'latin1')
      s.write(chunk)
      ok = s.write(CRLF, 'latin1')
    } else {
      ok = s.write(chunk)
    }
    s.uncork()
    return ok
  }

  end(chunk?: Uint8Array | string): this {
    if (this.finished || this.destroyed) return this
    if (!this.headersSent) {
      // end() without writeHead: Node computes Content-Length from the one chunk (0 for none)
      const size = chunk === undefined ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      this.#head = this.#build(this.statusCode, undefined, this.#set ?? [], size)
      this.headersSent = true
    }
    const s = this.#socket
    s.cork()
    if (chunk !== undefined && (typeof chunk === 'string' ? chunk.length : chunk.length) > 0) this.write(chunk)
    else if (this.#head !== null) this.#flushHead()
    if (this.#chunked) {
      if (this.#trailers === '') s.write(LAST_CHUNK)
      else s.write('0\r\n' + this.#trailers + CRLF, 'latin1')
    }
    s.uncork()
    this.finished = true
    this.#finish?.()
    this.#finish = null
    this.#owner.responseDone(this, this.#last)
    // 'close' after the caller is done with end(), as Node emits it (ProxyRequest ends the response
    // before it finishes the exchange; a 'close' in between would read as the client leaving)
    if (this.#close !== null) process.nextTick(emitClose, this)
    return this
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    for (const name in trailers) {
      const v = trailers[name]
      if (v === undefined) continue
      if (Array.isArray(v)) for (const one of v) this.#trailers += name + ': ' + one + CRLF
      else this.#trailers += name + ': ' + String(v) + CRLF
    }
  }

  /** Write the head now (streams show their headers before a body byte). */
  flushHeaders(): void {
    if (this.#head !== null && !this.destroyed) this.#flushHead()
  }

  #flushHead(): void {
    const head = this.#head!
    this.#head = null
    this.#socket.write(head, 'latin1')
  }

  /** Cut the response: the client sees the connection close (Node's res.destroy does the same). */
  destroy(_err?: Error): this {
    if (this.destroyed) return this
    // a head built and not sent yet goes first: the client sees the status, then the cut
    if (this.#head !== null && !this.#socket.destroyed) this.#flushHead()
    this.#socket.destroy()
    this.aborted()
    return this
  }

  /** The connection closed (or was cut) before the response's end. */
  aborted(): void {
    if (this.destroyed) return
    this.destroyed = true
    if (!this.finished) this.#emitClose()
  }

  on(event: 'close', listener: Listener): this {
    (this.#close ??= []).push(listener)
    return this
  }

  once(event: 'close' | 'drain' | 'finish', listener: Listener): this {
    if (event === 'close') (this.#close ??= []).push(listener)
    else if (event === 'drain') this.#drain = listener
    else this.#finish = listener
    return this
  }

  /** the client socket drained */
  drained(): void {
    const d = this.#drain
    if (d === null) return
    this.#drain = null
    d.call(this)
  }

  /** the deferred 'close' of a finished response */
  closed(): void {
    this.#emitClose()
  }

  #emitClose(): void {
    const listeners = this.#close
    if (listeners === null) return
    this.#close = null
    for (const l of listeners) l.call(this)
  }
}

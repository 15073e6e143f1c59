// A fast-path response: written straight to the client socket as node:http's ServerResponse would
// write it for an HTTP/1.1 request (status line with the reason phrase given or Node's, the headers
// as given, then what _storeHeader adds: Date, Connection/Keep-Alive, and chunked framing when
// there is no Content-Length and the status may carry a body). What is written in one tick goes out
// as one buffer: a small answer (head, body, last chunk) costs one write system call. It offers the
// methods the gateway calls on a response (downstream.ts), so ProxyRequest, localReply and the
// access log use it as they use ServerResponse.
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
const LAST_CHUNK_TEXT = '0\r\n\r\n'
/** gathered bytes past which they are written at once (and one buffer's worth for the copy) */
const GATHER_MAX = 64 * 1024
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

function flushOut(res: FastResponse): void {
  res.flushGathered()
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
  /** bytes gathered for one write (see #queue) */
  #out: (string | Uint8Array)[] | null = null
  #outBytes = 0
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
    const head = this.#head
    if (head !== null) {
      this.#head = null
      this.#queue(head)
    }
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
    if (this.#bodyless || size === 0) return this.#flushSoon()
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    if (this.#chunked) {
      this.#queue(size.toString(16) + CRLF)
      this.#queue(bytes)
      this.#queue(CRLF)
    } else {
      this.#queue(bytes)
    }
    return this.#flushSoon()
  }

  end(chunk?: Uint8Array | string): this {
    if (this.finished || this.destroyed) return this
    if (!this.headersSent) {
      // end() without writeHead: Node computes Content-Length from the one chunk (0 for none)
      const size = chunk === undefined ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      this.#head = this.#build(this.statusCode, undefined, this.#set ?? [], size)
      this.headersSent = true
    }
    if (chunk !== undefined && chunk.length > 0) this.write(chunk)
    else if (this.#head !== null) {
      this.#queue(this.#head)
      this.#head = null
    }
    if (this.#chunked) this.#queue(this.#trailers === '' ? LAST_CHUNK_TEXT : '0\r\n' + this.#trailers + CRLF)
    this.#flush()
    this.finished = true
    this.#finish?.()
    this.#finish = null
    this.#owner.responseDone(this, this.#last)
    // 'close' after the caller is done with end(), as Node emits it (ProxyRequest ends the response
    // before it finishes the exchange; a 'close' in between would read as the client leaving)
    if (this.#close !== null) process.nextTick(emitClose, this)
    return this
  }

  /**
   * Bytes are gathered until the end of the current tick (or the response's end) and written as
   * one buffer: a small answer's head, body and last chunk cost one write system call.
   */
  #queue(part: string | Uint8Array): void {
    if (this.#out === null) {
      this.#out = []
      process.nextTick(flushOut, this)
    }
    this.#out.push(part)
    this.#outBytes += part.length
  }

  /** true while the client can take more (the gathered bytes are few, the socket not full) */
  #flushSoon(): boolean {
    if (this.#outBytes >= GATHER_MAX) return this.#flush()
    return !this.#socket.writableNeedDrain
  }

  /** Write what was gathered; false when the socket asks the writer to wait for 'drain'. */
  #flush(): boolean {
    const parts = this.#out
    if (parts === null) return true
    this.#out = null
    const total = this.#outBytes
    this.#outBytes = 0
    const s = this.#socket
    if (s.destroyed || parts.length === 0) return true
    if (parts.length === 1) {
      const p = parts[0]!
      return typeof p === 'string' ? s.write(p, 'latin1') : s.write(p)
    }
    if (total <= GATHER_MAX) {
      const one = Buffer.allocUnsafe(total)
      let at = 0
      for (const p of parts) {
        if (typeof p === 'string') at += one.write(p, at, 'latin1')
        else {
          one.set(p, at)
          at += p.length
        }
      }
      return s.write(one)
    }
    s.cork()
    let ok = true
    for (const p of parts) ok = typeof p === 'string' ? s.write(p, 'latin1') : s.write(p)
    s.uncork()
    return ok
  }

  /** the end of the tick: what was gathered goes out */
  flushGathered(): void {
    if (this.#out !== null) this.#flush()
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
    this.#queue(head)
    this.#flush()
  }

  /** Cut the response: the client sees the connection close (Node's res.destroy does the same). */
  destroy(_err?: Error): this {
    if (this.destroyed) return this
    // a head built and not sent yet, and bytes gathered, go first: the client sees them, then the cut
    if (!this.#socket.destroyed) {
      if (this.#head !== null) this.#flushHead()
      else this.#flush()
    }
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

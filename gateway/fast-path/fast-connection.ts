// One client connection served by the fast path: its bytes are parsed by Node's llhttp binding with
// the options of Sluice's node:http server (insecureHTTPParser off, the same header size limit), one
// request at a time and in order. A head pauses the parser where it ends (llhttp.ts PAUSE) unless
// it is alone in its read (#onHead), so the first byte of every message is known from llhttp; a
// request the fast path does not serve (see fallbackReason) goes to Node's server from that byte,
// with the socket, at a message boundary. llhttp's refusals go there too, so Node's server answers
// malformed input exactly as it always has.
import type { Socket } from 'node:net'
import {
  type ParseError, HTTPParser, REQUEST, STRICT, MAX_HEADER_SIZE, MAX_HEADER_PAIRS, PAUSE, PAUSED, PROCEED, METHODS, isParseError,
  kOnMessageBegin, kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, type HttpParser,
} from './llhttp.ts'
import { FastRequest } from './fast-request.ts'
import { FastResponse, type ResponseOwner } from './fast-response.ts'
import { RequestBody, type BodyReader } from './request-body.ts'

/** What the listener gives a fast connection. */
export interface FastHost {
  /** Serve this request (true), or leave it to Node's server (false: nothing was written). */
  serve(req: FastRequest, res: FastResponse): boolean
  /** Hand the socket to Node's server with `bytes` (a message's first byte on) put back. */
  fallBack(socket: Socket, bytes: Buffer): void
  /** llhttp refused the input at the end of the stream: the listener's clientError answer */
  clientError(err: Error, socket: Socket): void
  /** a request head began on the connection / a request started / its response ended */
  heading(socket: Socket): void
  started(socket: Socket): void
  ended(socket: Socket): void
  /** Keep-Alive: timeout= in seconds */
  keepAliveSeconds(): number
  /** the connection is gone */
  forget(c: FastConnection): void
  /** a bug: serving a request threw; the connection is cut */
  failed(err: unknown, socket: Socket): void
}

/** A head llhttp completed, not yet acted on. */
interface Head {
  readonly method: string
  readonly url: string
  readonly fields: string[]
  readonly versionMajor: number
  readonly versionMinor: number
  readonly upgrade: boolean
  readonly keepAlive: boolean
  /** llhttp has not completed the message at its head's end: a body follows */
  body: boolean
  /** a head let through without a pause: its message's bytes (the others' are in #since) */
  raw: Buffer | null
}

/**
 * Why a request goes to Node's server instead, or null when the fast path can serve it. Everything
 * here is what llhttp reported; the gateway adds its own reasons (plugins, tracing, upstreams).
 */
export function fallbackReason(h: Head, req: FastRequest): string | null {
  if (h.method === '') return 'method'
  if (h.versionMajor !== 1 || h.versionMinor !== 1) return 'version'
  if (h.upgrade || h.method === 'CONNECT') return 'upgrade'
  if (h.url.charCodeAt(0) !== 0x2f) return 'target' // absolute-form, `*`, authority-form
  const headers = req.headers
  // Node's server answers an HTTP/1.1 request without Host itself (requireHostHeader): 400, close.
  if (headers.host === undefined) return 'no-host'
  if (headers.upgrade !== undefined || headers['http2-settings'] !== undefined) return 'upgrade'
  if (headers.expect !== undefined) return 'expect'
  if (headers['transfer-encoding'] !== undefined) return 'chunked'
  return null
}

const EMPTY = Buffer.alloc(0)
/** Node's parserOnHeaders keeps maxHeaderPairs entries at most (the binding refuses more first) */
const MAX_HEADER_ENTRIES = MAX_HEADER_PAIRS

export class FastConnection implements ResponseOwner, BodyReader {
  readonly socket: Socket
  readonly #host: FastHost
  readonly #parser: HttpParser
  /** received and not parsed yet (waiting for the response before it, or for a head to be acted on) */
  #input: Buffer | null
  /** the bytes of the current message before `#input`, from its first byte (for a fallback) */
  #since: Buffer[] = []
  /** a head llhttp completed, waiting for the response before it; and one more read with it */
  #head: Head | null = null
  #head2: Head | null = null
  /** stream offset of the buffer being executed */
  #execAt = 0
  /** a head in this execute() was let through without a pause (see #onHead) */
  #proceeded = false
  /** and a message began after it in the same execute(): its first byte is not known yet */
  #lost = false
  /**
   * Header fields and target the binding flushed before the head completed (more than 32 fields,
   * or a head that spans reads): Node's parserOnHeaders collects them the same way.
   */
  #fields: string[] | null = null
  #url = ''
  /** the response being written */
  #res: FastResponse | null = null
  /** the request whose body is being read */
  #body: RequestBody | null = null
  #pumping = false
  #done = false
  /** draining: close once the response in flight is written */
  #closing = false
  /** a head was read and llhttp has not completed its message yet: a body follows */
  #inMessage = false
  #pausedForBody = false
  /** bytes llhttp refused while a response was in flight: Node's server gets them after it */
  #refused: Buffer | null = null
  #refusedError: Error | null = null
  /** stream offsets: of #input's first byte, of the current message's first byte, of the last head's end */
  #abs = 0
  #start = 0
  #headEnd = 0
  /** body bytes llhttp gave of the current message */
  #bodyBytes = 0

  constructor(socket: Socket, first: Buffer, host: FastHost) {
    this.socket = socket
    this.#host = host
    this.#input = first
    const p = new HTTPParser()
    p.initialize(REQUEST, {}, MAX_HEADER_SIZE, STRICT)
    p.maxHeaderPairs = MAX_HEADER_PAIRS
    p[kOnMessageBegin] = () => {
      if (this.#proceeded) this.#lost = true
    }
    p[kOnHeaders] = (fields: string[], url: string) => {
      this.#addFields(fields)
      this.#url += url
    }
    p[kOnHeadersComplete] = (maj: number, min: number, fields: string[] | undefined, method: number, url: string | undefined, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean) =>
      this.#onHead(maj, min, fields, method, url, upgrade, keepAlive)
    p[kOnBody] = (chunk: Buffer) => {
      this.#bodyBytes += chunk.length
      this.#body?.push(chunk)
    }
    p[kOnMessageComplete] = () => { this.#onComplete() }
    this.#parser = p
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onClose)
    socket.on('drain', this.#onDrain)
    this.#pump()
  }

  /** handed to Node's server, or closed: the fast path is done with the socket */
  get detached(): boolean {
    return this.#done
  }

  /** idle: nothing in flight and no message begun (what Node's closeIdleConnections closes) */
  get idle(): boolean {
    return this.#res === null && this.#head === null && this.#body === null && this.#abs <= this.#start
  }

  readonly #onData = (chunk: Buffer): void => {
    // the first bytes after an answer: the next head is on the header deadline (kept-alive connections)
    if (this.#res === null && this.#body === null && this.#abs <= this.#start) this.#host.heading(this.socket)
    if (this.#refused !== null) {
      this.#refused = Buffer.concat([this.#refused, chunk])
      return
    }
    this.#input = this.#input === null ? chunk : Buffer.concat([this.#input, chunk])
    this.#pump()
  }

  readonly #onDrain = (): void => {
    this.#res?.drained()
  }

  readonly #onEnd = (): void => {
    if (this.#done) return
    if (this.#input !== null && !this.#pumping) this.#pump()
    if (this.#done) return
    // Node's socketOnEnd: llhttp's verdict on the end of the stream, then our side ends too.
    const r = this.#parser.finish()
    if (isParseError(r)) {
      this.#detach()
      this.#host.clientError(r, this.socket)
      return
    }
    this.#body?.fail(new Error('client closed the connection'))
    this.#res?.aborted()
    this.socket.end()
  }

  readonly #onClose = (): void => {
    this.#body?.fail(new Error('client closed the connection'))
    this.#res?.aborted()
    this.#detach()
  }

  #addFields(fields: string[]): void {
    if (this.#fields === null) this.#fields = []
    // Node keeps the first maxHeaderPairs entries and drops the rest (parserOnHeaders)
    const room = MAX_HEADER_ENTRIES - this.#fields.length
    for (let i = 0; i < fields.length && i < room; i++) this.#fields.push(fields[i]!)
  }

  #onHead(maj: number, min: number, fields: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    if (fields === undefined) fields = this.#fields ?? []
    else if (fields.length > MAX_HEADER_ENTRIES) fields = fields.slice(0, MAX_HEADER_ENTRIES)
    if (url === undefined) url = this.#url
    this.#fields = null
    this.#url = ''
    const head: Head = { method: METHODS[method] ?? '', url, fields, versionMajor: maj, versionMinor: min, upgrade, keepAlive, body: false, raw: null }
    // The common case goes through without a pause: the only head of this read so far, of a message
    // that began at the read's first byte, with no Content-Length or Transfer-Encoding (llhttp gives
    // such a request no body), with nothing in flight before it. Its message then ends in this read;
    // where, only matters when more follows it, and then #pump asks llhttp again (#reparse).
    if (this.#head === null && this.#res === null && !this.#proceeded && this.#start === this.#execAt && !framed(fields)) {
      this.#head = head
      this.#proceeded = true
      this.#inMessage = true // until llhttp completes it, in this same read
      return PROCEED
    }
    if (this.#head === null) this.#head = head
    else this.#head2 = head
    return PAUSE
  }

  #onComplete(): void {
    this.#inMessage = false
    // The next message starts after this one's body (Content-Length bodies only: llhttp's byte
    // count is the message's; chunked requests never get here, they fall back at their head).
    this.#start = this.#headEnd + this.#bodyBytes
    this.#bodyBytes = 0
    const body = this.#body
    if (body !== null) {
      this.#body = null
      body.end()
    }
  }

  /** Parse what was received and act on each head, one request at a time. */
  #pump(): void {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (!this.#done) {
        if (this.#head !== null) {
          if (this.#res !== null) break // the response before it first
          const head = this.#head
          this.#head = this.#head2
          this.#head2 = null
          if (!this.#act(head)) return
          continue
        }
        const buf = this.#input
        if (buf === null) break
        this.#input = null
        const abs = this.#abs
        this.#execAt = abs
        this.#proceeded = false
        this.#lost = false
        const r = this.#execute(buf)
        if (r === null) return
        // A head let through without a pause (see #onHead) began at abs and its message ended in
        // this read: where, llhttp says again when anything followed it.
        let after = -1
        if (this.#proceeded) {
          this.#proceeded = false
          if (this.#inMessage) {
            // llhttp read a body after all: the head's names said none. Not expected to happen;
            // the connection is cut rather than its bytes guessed at.
            this.#host.failed(new Error('a request without length or coding has a body'), this.socket)
            this.destroy()
            return
          }
          if (!isParseError(r) && !this.#lost) after = buf.length
          else if ((after = this.#reparse(buf)) < 0) return
          this.#head!.raw = buf.subarray(0, after)
          this.#start = this.#headEnd = abs + after
          this.#bodyBytes = 0
          this.#since.length = 0
        }
        if (!isParseError(r)) {
          this.#abs = abs + buf.length
          // A head not complete yet keeps its bytes (from its first byte) for a fallback.
          if (this.#body === null && this.#abs > this.#start) this.#since.push(this.#start > abs ? buf.subarray(this.#start - abs) : buf)
          else this.#since.length = 0
          continue
        }
        if (r.code !== PAUSED) {
          // llhttp refused it: Node's server reads the same bytes and answers as it always does,
          // once the answer to the request before it is written
          const tail = this.#start > abs ? buf.subarray(this.#start - abs) : buf
          if (this.#res === null && this.#head === null) {
            this.#fallBack(tail)
            return
          }
          this.#since.push(tail)
          this.#refused = Buffer.concat(this.#since)
          this.#refusedError = r
          this.#since = []
          if (this.#head !== null) continue // the request before them is acted on first
          break
        }
        // The head ends at bytesParsed; what follows waits until the head is acted on.
        const end = r.bytesParsed
        const paused = this.#head2 ?? this.#head!
        this.#headEnd = this.#abs = abs + end
        this.#inMessage = true
        this.#since.push(buf.subarray(this.#start > abs ? this.#start - abs : 0, end))
        this.#input = end < buf.length ? buf.subarray(end) : null
        this.#parser.resume()
        // Without input llhttp completes a message that has no body, and only such a message.
        if (this.#execute(EMPTY) === null) return
        paused.body = this.#inMessage
      }
    } finally {
      this.#pumping = false
    }
    if (this.#done) return
    // Pipelined bytes wait for the response before them; the socket waits with them.
    if (this.#input !== null || this.#pausedForBody || this.#refused !== null) this.socket.pause()
    else this.socket.resume()
  }

  /**
   * Where the first message of `buf` (a head let through without a pause, whose message has no
   * body) ends: asked of a second llhttp parser with the same options, which stops at that head's
   * end. Only for reads that hold more than that message (pipelining). -1: the connection is cut.
   */
  #reparse(buf: Buffer): number {
    const p = new HTTPParser()
    p.initialize(REQUEST, {}, MAX_HEADER_SIZE, STRICT)
    p.maxHeaderPairs = MAX_HEADER_PAIRS
    p[kOnHeaders] = noop
    p[kOnHeadersComplete] = pauseHere
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    let r: number | ParseError
    try {
      r = p.execute(buf)
    } finally {
      Error.stackTraceLimit = limit
      p.free()
    }
    if (isParseError(r) && r.code === PAUSED) return r.bytesParsed
    this.#host.failed(new Error('llhttp read a head twice differently'), this.socket)
    this.destroy()
    return -1
  }

  /**
   * parser.execute. Each head ends in an HPE_PAUSED Error (llhttp.ts PAUSE), made by the binding:
   * without a stack trace it costs a few property writes, with one it was a tenth of the request's
   * CPU. A callback that threw cuts the connection (null), not the process.
   */
  #execute(buf: Buffer): number | ParseError | null {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      return this.#parser.execute(buf)
    } catch (err) {
      this.#host.failed(err, this.socket)
      this.destroy()
      return null
    } finally {
      Error.stackTraceLimit = limit
    }
  }

  /** Serve a head or hand the connection over from its first byte; false when the connection left. */
  #act(h: Head): boolean {
    const body = h.body ? new RequestBody(this) : null
    const req = new FastRequest(h.method, h.url, h.fields, this.socket, body)
    if (this.#closing || fallbackReason(h, req) !== null) return this.#actFallBack(h)
    const res = new FastResponse(req, this.socket, this, h.keepAlive, this.#host.keepAliveSeconds())
    this.#res = res
    this.#body = body
    this.#host.started(this.socket)
    if (!this.#host.serve(req, res)) {
      this.#res = null
      this.#body = null
      this.#host.ended(this.socket)
      return this.#actFallBack(h)
    }
    // its bytes are no longer needed (a head let through kept them apart; #since is the next one's)
    if (h.raw === null) this.#since.length = 0
    return true
  }

  /** llhttp's refusal of what was read after the last request, if it refuses it. */
  #refusal(): Error | null {
    if (this.#refusedError !== null) return this.#refusedError
    const rest = this.#input
    if (rest === null || this.#head !== null) return null
    this.#input = null
    const r = this.#execute(rest)
    return r !== null && isParseError(r) && r.code !== PAUSED ? r : null
  }

  /** The head goes to Node's server: its message's bytes, then everything after them. */
  #actFallBack(h: Head): false {
    if (h.raw !== null) this.#since.unshift(h.raw)
    this.#fallBack(EMPTY)
    return false
  }

  /** Give the socket to Node's server with the current message's bytes from its first byte. */
  #fallBack(tail: Buffer): void {
    const parts = this.#since
    if (tail.length > 0) parts.push(tail)
    if (this.#input !== null) parts.push(this.#input)
    if (this.#refused !== null) parts.push(this.#refused)
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    this.#since = []
    this.#input = null
    this.#refused = null
    this.#detach()
    this.#host.fallBack(this.socket, bytes)
  }

  responseDone(res: FastResponse, last: boolean): void {
    if (res !== this.#res) return
    this.#res = null
    this.#host.ended(this.socket)
    // Answered before the request body's end: the rest is read and dropped (Node's req._dump).
    this.#body?.unpipe()
    if (last || this.#closing) {
      // Node's resOnFinish with res._last: the connection closes once the answer is written. Bytes
      // the client sent after a request that closes the connection are refused by llhttp
      // (HPE_CLOSED_CONNECTION); Node's server, having read them, answers that refusal too.
      this.#body?.fail(new Error('connection closed after the response'))
      const refusal = last ? this.#refusal() : null
      this.#detach()
      if (refusal !== null) this.#host.clientError(refusal, this.socket)
      else this.socket.destroySoon()
      return
    }
    if (this.#refused !== null) {
      const tail = this.#refused
      this.#refused = null
      this.#fallBack(tail)
      return
    }
    if (this.#input !== null || this.#head !== null) {
      process.nextTick(pumpLater, this)
    }
  }

  /** the pump, from outside a response's end() */
  resumePump(): void {
    this.#pump()
  }

  pauseReading(): void {
    this.#pausedForBody = true
    this.socket.pause()
  }

  resumeReading(): void {
    this.#pausedForBody = false
    if (this.#input === null && !this.#done) this.socket.resume()
  }

  /** Draining: close now when idle, else once the response in flight is written. */
  close(): void {
    this.#closing = true
    if (this.idle) {
      this.#detach()
      this.socket.destroy()
    }
  }

  destroy(): void {
    this.#detach()
    this.socket.destroy()
  }

  #detach(): void {
    if (this.#done) return
    this.#done = true
    const s = this.socket
    s.removeListener('data', this.#onData)
    s.removeListener('end', this.#onEnd)
    s.removeListener('close', this.#onClose)
    s.removeListener('drain', this.#onDrain)
    this.#parser.free()
    this.#host.forget(this)
  }
}

function noop(): void {}

function pauseHere(): number {
  return PAUSE
}

/** The head names a body length or coding (then llhttp may read a body, and the head pauses). */
function framed(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    const n = fields[i]!
    if ((n.length === 14 || n.length === 17) && (n.toLowerCase() === 'content-length' || n.toLowerCase() === 'transfer-encoding')) return true
  }
  return false
}

function pumpLater(c: FastConnection): void {
  c.resumePump()
}

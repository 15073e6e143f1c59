// A fast-path request's body on its way upstream: llhttp hands the downstream connection the body
// bytes (never the framing), which are queued here until the request has an upstream connection,
// then written through with backpressure both ways (the client is paused while the upstream
// socket is full, or while too much waits queued for a slot).

/** where body bytes go: an upstream connection */
export interface BodySink {
  /** false: wait for resume() */
  writeBody(chunk: Buffer): boolean
  endBody(): void
  bodyFailed(err: Error): void
}

/** what an upstream connection asks of a body */
export interface BodySource {
  /** start writing into `sink`; `chunked`: frame the bytes as chunks (the client sent them chunked) */
  pipeTo(sink: BodySink, chunked: boolean): void
  /** the upstream exchange is over early: stop writing (the rest is read and dropped) */
  unpipe(): void
  /** the upstream socket drained */
  resume(): void
}

/** the downstream side: pause and resume reading the client */
export interface BodyReader {
  pauseReading(): void
  resumeReading(): void
}

/** queued bytes past which the client is paused until the request is sent */
const MAX_QUEUED = 64 * 1024
const CRLF = Buffer.from('\r\n')
const LAST_CHUNK = Buffer.from('0\r\n\r\n')

export class RequestBody implements BodySource {
  readonly #reader: BodyReader
  #queued: Buffer[] = []
  #queuedBytes = 0
  #sink: BodySink | null = null
  #chunked = false
  /** the message is complete (llhttp's kOnMessageComplete) */
  ended = false
  /** some byte went upstream: a failed exchange cannot be sent again */
  didRead = false
  /** the client went away before the body's end */
  #failed: Error | null = null
  #pausedClient = false

  constructor(reader: BodyReader) {
    this.#reader = reader
  }

  /** a body chunk from llhttp */
  push(chunk: Buffer): void {
    const sink = this.#sink
    if (sink === null) {
      if (this.didRead) return // unpiped: dropped
      this.#queued.push(chunk)
      this.#queuedBytes += chunk.length
      if (this.#queuedBytes > MAX_QUEUED) this.#pause()
      return
    }
    if (!this.#write(sink, chunk)) this.#pause()
  }

  /** the body's end, from llhttp */
  end(): void {
    this.ended = true
    const sink = this.#sink
    if (sink === null) return
    this.#finish(sink)
  }

  /** the client left before the end */
  fail(err: Error): void {
    if (this.ended) return
    this.#failed = err
    const sink = this.#sink
    this.#sink = null
    sink?.bodyFailed(err)
  }

  pipeTo(sink: BodySink, chunked: boolean): void {
    this.#sink = sink
    this.#chunked = chunked
    if (this.#failed !== null) {
      this.#sink = null
      sink.bodyFailed(this.#failed)
      return
    }
    const queued = this.#queued
    this.#queued = []
    this.#queuedBytes = 0
    let ok = true
    for (const chunk of queued) ok = this.#write(sink, chunk)
    if (this.ended) this.#finish(sink)
    else if (ok) this.#unpause()
  }

  unpipe(): void {
    this.#sink = null
    this.#queued = []
    this.#queuedBytes = 0
    this.didRead = true
    this.#unpause()
  }

  resume(): void {
    this.#unpause()
  }

  #write(sink: BodySink, chunk: Buffer): boolean {
    this.didRead = true
    if (!this.#chunked) return sink.writeBody(chunk)
    sink.writeBody(Buffer.from(chunk.length.toString(16) + '\r\n', 'latin1'))
    sink.writeBody(chunk)
    return sink.writeBody(CRLF)
  }

  #finish(sink: BodySink): void {
    this.#sink = null
    if (this.#chunked) sink.writeBody(LAST_CHUNK)
    sink.endBody()
    this.#unpause()
  }

  #pause(): void {
    if (this.#pausedClient) return
    this.#pausedClient = true
    this.#reader.pauseReading()
  }

  #unpause(): void {
    if (!this.#pausedClient) return
    this.#pausedClient = false
    this.#reader.resumeReading()
  }
}

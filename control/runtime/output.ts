// Turns a child's stdout/stderr byte stream into whole lines for the log. Partial lines are
// flushed when the stream ends, so the last words of a crashing process are never lost.
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'

/** Longest line kept in memory; a process writing without newlines is logged in pieces this big. */
export const MAX_LINE = 16 * 1024

export class LineSplitter {
  readonly #emit: (line: string) => void
  readonly #maxLine: number
  readonly #decoder = new StringDecoder('utf8')
  #buffer = ''
  #ended = false

  constructor(emit: (line: string) => void, maxLine = MAX_LINE) {
    this.#emit = emit
    this.#maxLine = maxLine
  }

  push(chunk: Buffer | string): void {
    if (this.#ended) return
    this.#buffer += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk)
    let newline: number
    while ((newline = this.#buffer.indexOf('\n')) !== -1) {
      this.#line(this.#buffer.slice(0, newline))
      this.#buffer = this.#buffer.slice(newline + 1)
    }
    while (this.#buffer.length > this.#maxLine) {
      this.#line(this.#buffer.slice(0, this.#maxLine))
      this.#buffer = this.#buffer.slice(this.#maxLine)
    }
  }

  /** Flushes the partial last line; idempotent. */
  end(): void {
    if (this.#ended) return
    this.#buffer += this.#decoder.end()
    this.#ended = true
    if (this.#buffer.length > 0) this.#line(this.#buffer)
    this.#buffer = ''
  }

  #line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.length > 0) this.#emit(line)
  }
}

/** Feeds `stream` into a LineSplitter; `end` and `close` both flush, whichever comes first. */
export function readLines(stream: Readable, onLine: (line: string) => void): LineSplitter {
  const splitter = new LineSplitter(onLine)
  stream.on('data', (chunk: Buffer) => splitter.push(chunk))
  stream.once('end', () => splitter.end())
  stream.once('close', () => splitter.end())
  stream.on('error', () => splitter.end())
  return splitter
}

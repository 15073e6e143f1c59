// Turns a child's stdout/stderr byte stream into log records: whole lines, and a stack trace as
// one record (its error line, the indented `    at …` frames, Node's `file:line` / source / `^`
// prelude), so `sluice logs`, /debug/logs and Sluice's own log show a crash as one entry instead of
// a dozen INFO lines. Partial lines are flushed when the stream ends, so the last words of a
// crashing process are never lost.
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

/** Most lines in one record; a longer trace goes on in the next record. */
export const MAX_RECORD_LINES = 100
/** Most characters in one record (continuation lines beyond it start the next record). */
export const MAX_RECORD_CHARS = 16 * 1024
/** How long a record waits for its next continuation line before it is emitted. */
export const RECORD_FLUSH_MS = 25

/** When to emit a pending record that may go on in the next write: `arm` (re-arms); firing calls flush. */
export interface FlushTimer {
  arm(): void
  cancel(): void
}
export type FlushTimerFactory = (flush: () => void) => FlushTimer

/** One reused, unref'd Timeout per stream: no allocation per record. */
export function flushAfter(ms: number): FlushTimerFactory {
  return (flush) => {
    let timer: NodeJS.Timeout | undefined
    return {
      arm() {
        if (timer === undefined) timer = setTimeout(flush, ms).unref()
        else timer.refresh()
      },
      cancel() { clearTimeout(timer); timer = undefined },
    }
  }
}

/**
 * The first line of an error report: `Error: …`, `TypeError [ERR_X]: …`, `Uncaught …Error: …`,
 * Python's `ValueError: …`, Java's `Exception in thread "main" …`, Go's `panic: …`.
 */
export const ERROR_LINE = /^(?:Uncaught )?(?:(?:[A-Za-z_$][\w$.]*)?(?:Error|Exception)\b.*:|Exception in thread |panic: |fatal error: )/
/** `/app/server.js:12`, `file:///app/a.mjs:3`, `node:internal/modules/cjs/loader:1228`, `[eval]:1`: the first line of Node's error prelude */
const LOCATION = /^(?:\/|file:\/\/|node:|[A-Za-z]:[\\/]|\[(?:eval|stdin)\]).*:\d+$/
const CARET = /^\s*\^+\s*$/

/** a line that belongs to the record before it */
function continues(line: string, last: string): boolean {
  const c = line.charCodeAt(0)
  if (c === 32 || c === 9) return true // indented: `    at f (a.js:1:2)`, `  code: 'X',`, `\tat java…`
  if (line === '}') return true // end of the properties block Node prints after the frames
  // Node's MODULE_NOT_FOUND message: `Require stack:` then `- /path` lines, before the frames
  return line === 'Require stack:' || (line.startsWith('- ') && (last === 'Require stack:' || last.startsWith('- ')))
}

/** 0: an ordinary record · 1: a `file:line` line that may open Node's prelude · 2: and its source line · 3: caret seen, the error line comes next */
type PreludeState = 0 | 1 | 2 | 3

/**
 * Groups lines into records: a line that does not continue the pending record (see `continues`)
 * emits it and starts the next. When a write of the app ends (`chunkEnd`), an ordinary record is
 * complete and goes out at once, so plain output is neither delayed nor reordered; one that may go
 * on in the next write (an error line, Node's prelude, a traceback, or frames already) waits up to
 * `RECORD_FLUSH_MS` for it. A record also ends at MAX_RECORD_LINES / MAX_RECORD_CHARS and at end of
 * stream. Python's `Traceback …:` record takes the unindented exception line that closes it.
 */
export class RecordGrouper {
  readonly #emit: (record: string) => void
  readonly #timer: FlushTimer
  #lines: string[] = []
  #chars = 0
  #prelude: PreludeState = 0
  #traceback = false
  #ended = false

  constructor(emit: (record: string) => void, timer: FlushTimerFactory = flushAfter(RECORD_FLUSH_MS)) {
    this.#emit = emit
    this.#timer = timer(() => this.flush())
  }

  line(line: string): void {
    if (this.#ended) return
    const lines = this.#lines
    if (lines.length === 0) return this.#start(line)
    if (this.#prelude === 1) return this.#add(line, 2)
    if (this.#prelude === 2) {
      if (CARET.test(line)) return this.#add(line, 3)
      // Not a prelude after all: `listening on :8080` then two ordinary lines.
      const [first, source] = lines as [string, string]
      this.#reset()
      this.#emit(first)
      this.#start(source)
      return this.line(line)
    }
    if (this.#prelude === 3) return this.#add(line, 0)
    const fits = lines.length < MAX_RECORD_LINES && this.#chars + line.length < MAX_RECORD_CHARS
    if (fits && continues(line, lines[lines.length - 1]!)) return this.#add(line, 0)
    if (fits && this.#traceback) {
      this.#traceback = false
      return this.#add(line, 0)
    }
    this.flush()
    this.#start(line)
  }

  /** The app's write ended: emit the pending record, or wait a little if it may go on. */
  chunkEnd(): void {
    const lines = this.#lines
    if (lines.length === 0) return
    if (this.#prelude !== 0 || this.#traceback || lines.length > 1 || ERROR_LINE.test(lines[0]!)) this.#timer.arm()
    else this.flush()
  }

  /** Emits the pending record (an unconfirmed prelude goes out line by line). */
  flush(): void {
    const lines = this.#lines
    if (lines.length === 0) return
    const tentative = this.#prelude === 1 || this.#prelude === 2
    this.#reset()
    if (tentative) for (const l of lines) this.#emit(l)
    else this.#emit(lines.length === 1 ? lines[0]! : lines.join('\n'))
  }

  /** Flushes and stops; idempotent. */
  end(): void {
    if (this.#ended) return
    this.flush()
    this.#ended = true
    this.#timer.cancel()
  }

  #start(line: string): void {
    this.#lines.push(line)
    this.#chars = line.length
    this.#prelude = LOCATION.test(line) ? 1 : 0
    this.#traceback = line === 'Traceback (most recent call last):'
  }

  #add(line: string, prelude: PreludeState): void {
    this.#lines.push(line)
    this.#chars += line.length + 1
    this.#prelude = prelude
  }

  #reset(): void {
    this.#lines = []
    this.#chars = 0
    this.#prelude = 0
    this.#traceback = false
  }
}

/**
 * Feeds `stream` into a LineSplitter and a RecordGrouper: `onRecord` gets single lines and
 * multi-line records (lines joined with \n). `end` and `close` both flush, whichever comes first.
 */
export function readRecords(stream: Readable, onRecord: (record: string) => void): RecordGrouper {
  const grouper = new RecordGrouper(onRecord)
  const splitter = new LineSplitter((line) => grouper.line(line))
  const end = (): void => { splitter.end(); grouper.end() }
  stream.on('data', (chunk: Buffer) => { splitter.push(chunk); grouper.chunkEnd() })
  stream.once('end', end)
  stream.once('close', end)
  stream.on('error', end)
  return grouper
}

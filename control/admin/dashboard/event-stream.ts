// Server-sent events for the dashboard, bounded: at most maxClients open streams (more get 503
// with Retry-After), each ended after maxLifetimeMs (the browser's EventSource reconnects on its
// own after `retry`), and a client that stops reading is dropped once maxBufferedBytes are queued
// for it, so a stuck tab cannot make the admin process buffer without end.
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface EventStreamOptions {
  maxClients?: number
  maxLifetimeMs?: number
  maxBufferedBytes?: number
  /** the reconnection delay the browser is told */
  retryMs?: number
}

export const EVENT_STREAM_DEFAULTS = {
  maxClients: 16,
  maxLifetimeMs: 10 * 60_000,
  maxBufferedBytes: 1 << 20,
  retryMs: 2_000,
} as const

export class EventStream {
  readonly #opts: Required<EventStreamOptions>
  readonly #clients = new Map<ServerResponse, NodeJS.Timeout>()

  constructor(opts: EventStreamOptions = {}) {
    this.#opts = { ...EVENT_STREAM_DEFAULTS, ...opts }
  }

  get size(): number {
    return this.#clients.size
  }

  /** Opens a stream and sends `first`; false (nothing written) when the stream limit is reached. */
  open(_req: IncomingMessage, res: ServerResponse, first: string): boolean {
    if (this.#clients.size >= this.#opts.maxClients) return false
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // a proxy in front must not buffer the stream
      'x-accel-buffering': 'no',
    })
    res.write(`retry: ${this.#opts.retryMs}\n\n`)
    const timer = setTimeout(() => res.end(), this.#opts.maxLifetimeMs)
    timer.unref()
    this.#clients.set(res, timer)
    res.once('close', () => this.#forget(res))
    this.#send(res, first)
    return true
  }

  broadcast(data: string): void {
    for (const res of this.#clients.keys()) this.#send(res, data)
  }

  close(): void {
    for (const res of [...this.#clients.keys()]) {
      this.#forget(res)
      res.end()
    }
  }

  #send(res: ServerResponse, data: string): void {
    if (res.writableLength > this.#opts.maxBufferedBytes) {
      // Not reading: let it go (its EventSource reconnects if it was only slow).
      this.#forget(res)
      res.destroy()
      return
    }
    // One `data:` line: JSON.stringify output has no raw newline.
    res.write(`data: ${data}\n\n`)
  }

  #forget(res: ServerResponse): void {
    const timer = this.#clients.get(res)
    if (timer !== undefined) clearTimeout(timer)
    this.#clients.delete(res)
  }
}

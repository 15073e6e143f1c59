// Test helpers for event sources: a fake clock for the scheduler and a real HTTP event sink on 127.0.0.1.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Clock } from '../../../control/eventing-sources/ping-scheduler.ts'

export class FakeClock implements Clock {
  #now: number
  #seq = 0
  readonly timers = new Map<number, { at: number; fn: () => void }>()
  constructor(start: number) { this.#now = start }
  now(): number { return this.#now }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.timers.set(id, { at: this.#now + ms, fn })
    return id
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as number) }
  /** moves time forward to `to`, running due timers in order */
  advanceTo(to: number): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined
      for (const e of this.timers) if (e[1].at <= to && (next === undefined || e[1].at < next[1].at)) next = e
      if (next === undefined) break
      this.timers.delete(next[0])
      this.#now = Math.max(this.#now, next[1].at)
      next[1].fn()
    }
    this.#now = to
  }
}

export interface ReceivedEvent { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }

export interface EventSink {
  url: string
  origin: string
  events: ReceivedEvent[]
  /** statuses to answer in turn; 202 once they run out */
  statuses: number[]
  close(): Promise<void>
}

export async function startEventSink(): Promise<EventSink> {
  const events: ReceivedEvent[] = []
  const statuses: number[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      events.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) })
      res.writeHead(statuses.shift() ?? 202)
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: `${origin}/events`, origin, events, statuses,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }),
  }
}

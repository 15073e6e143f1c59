// WebSockets (HTTP/1.1 Upgrade) through routing, splits and the activator. A connection is routed
// like a request, waits in the revision's throttler like a request (so a WebSocket to a revision
// at zero waits for an instance, and holds a containerConcurrency slot while open), then becomes
// two piped sockets: the upstream answers the upgrade itself and the bytes pass through as they are.
import net from 'node:net'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Split } from './route-table.ts'
import type { Waiter, RevisionThrottler } from './activator/throttler.ts'
import type { UpstreamInstance } from './activator/upstream-instance.ts'
import { ERR } from './metrics/route-slots.ts'

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }

/** Write a small HTTP/1.1 answer on a raw socket (the upgrade was refused) and close it. */
export function rejectUpgrade(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}${status === 503 ? '\r\nretry-after: 1' : ''}\r\n\r\n${body}`)
}

// A close frame from the server side: FIN + opcode 8, unmasked, status 1001 "going away".
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])

export class WebSocketTunnel implements Waiter {
  readonly req: IncomingMessage
  readonly client: Duplex
  readonly head: Buffer
  readonly split: Split
  readonly throttler: RevisionThrottler
  readonly headers: string[]
  readonly url: string
  readonly arrived: number
  readonly deadline: number
  readonly #open: Set<WebSocketTunnel>
  /** plugins' onComplete, with the status the tunnel ended with (101 once upgraded) */
  readonly #onDone: ((status: number) => void) | null
  done = false
  instance: UpstreamInstance | null = null
  upstream: net.Socket | null = null
  upgraded = false

  constructor(req: IncomingMessage, client: Duplex, head: Buffer, split: Split, url: string, headers: string[], arrived: number, open: Set<WebSocketTunnel>, onDone: ((status: number) => void) | null = null) {
    this.req = req
    this.client = client
    this.head = head
    this.split = split
    this.throttler = split.backend.throttler!
    this.url = url
    this.headers = headers
    this.arrived = arrived
    this.#open = open
    this.#onDone = onDone
    // timeoutSeconds bounds the wait for an instance and for the upgrade answer, as for requests.
    this.deadline = split.backend.firstByteMs > 0 ? arrived + split.backend.firstByteMs : Infinity
    open.add(this)
    client.on('error', () => this.close())
    client.on('close', () => this.close())
  }

  send(instance: UpstreamInstance, _now: number): void {
    this.instance = instance
    const u = new URL(instance.origin)
    const upstream = net.connect({ host: u.hostname, port: Number(u.port || 80), noDelay: true })
    this.upstream = upstream
    const timer = this.deadline === Infinity ? null : setTimeout(() => {
      if (!this.upgraded) this.fail(504, 'request timeout\n', ERR.response_start_timeout)
    }, Math.max(1, this.deadline - performance.now()))
    timer?.unref()
    upstream.once('connect', () => {
      let head = `${this.req.method ?? 'GET'} ${this.url} HTTP/1.1\r\n`
      for (let i = 0; i < this.headers.length; i += 2) head += `${this.headers[i]}: ${this.headers[i + 1]}\r\n`
      head += 'connection: Upgrade\r\nupgrade: websocket\r\n\r\n'
      upstream.write(head)
      if (this.head.length > 0) upstream.write(this.head)
      upstream.once('data', (first: Buffer) => {
        if (timer !== null) clearTimeout(timer)
        this.upgraded = true
        this.client.write(first)
        upstream.pipe(this.client)
        this.client.pipe(upstream)
        // idleTimeoutSeconds: no byte either way for that long closes it. Every byte crosses the
        // client socket (read one way, written the other), so its inactivity timer covers both.
        const idleMs = this.split.backend.idleMs
        if (idleMs > 0 && typeof (this.client as net.Socket).setTimeout === 'function') {
          (this.client as net.Socket).setTimeout(idleMs, () => {
            this.split.slot.errors[ERR.idle_timeout]++
            this.goingAway()
          })
        }
      })
    })
    upstream.on('error', (err: Error & { code?: string }) => {
      if (timer !== null) clearTimeout(timer)
      if (this.upgraded) return this.close()
      this.fail(502, `upstream failed: ${err.code ?? err.name}\n`, err.code === 'ECONNREFUSED' ? ERR.connect : ERR.reset)
    })
    upstream.on('close', () => this.close())
  }

  reject(status: 503 | 504, body: string): void {
    this.fail(status, body, status === 504 ? ERR.response_start_timeout : -1)
  }

  fail(status: number, body: string, errorKind: number): void {
    if (this.done) return
    if (errorKind >= 0) this.split.slot.errors[errorKind]++
    rejectUpgrade(this.client, status, body)
    this.split.slot.record(status, (performance.now() - this.arrived) / 1000)
    this.#finish(status)
  }

  /** Either side closed: close the other, give the slot back. */
  close(): void {
    if (this.done) return
    this.client.destroy()
    this.upstream?.destroy()
    const status = this.upgraded ? 101 : 499
    this.split.slot.record(status, (performance.now() - this.arrived) / 1000)
    this.#finish(status)
  }

  /** Graceful shutdown: tell the client the server is going away, then close both sides. */
  goingAway(): void {
    if (this.done) return
    if (this.upgraded && !this.client.destroyed) this.client.end(GOING_AWAY)
    this.upstream?.end()
    setTimeout(() => this.close(), 1000).unref()
  }

  #finish(status: number): void {
    this.done = true
    this.#open.delete(this)
    this.throttler.leave(performance.now(), this.instance)
    this.instance = null
    this.#onDone?.(status)
  }
}

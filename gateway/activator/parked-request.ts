// A new HTTP/1.1 connection whose first request is for a revision that already has requests
// waiting waits too, but parked: as the socket and the bytes it sent, with no HTTP state at all.
// Node's HTTP server holds about 4.4 KB of heap for a connection carrying a request (parser,
// IncomingMessage, ServerResponse, nine bound listeners); a parked request holds the socket alone.
// Buffered requests are where Knative's activator ran out of memory (serving#13583).
//
// When a slot frees for it, or its wait ends (503 queue full, 504 timeout, revision gone), its
// bytes go back into the socket and the socket to Node's HTTP server. The request Node parses
// out of it then claims what the parked request got: the slot it holds, or the answer it must
// give. Node's parser stays the only authority on what was asked: the gateway routes the request
// again and uses the slot only if it lands on the same revision.
import type { Socket } from 'node:net'
import type { Split } from '../route-table.ts'
import type { Waiter } from './throttler.ts'
import type { UpstreamInstance } from './upstream-instance.ts'

/** Where a parked socket goes when it is released: the listener's HTTP/1.1 server. */
export interface ParkingLot {
  handOff(socket: Socket, bytes: Buffer): void
}

export interface ParkHooks {
  /** called once when a parked request ends without reaching the gateway's request handler */
  exchangeDone(): void
}

/** Bytes read while parked beyond this stop the reading (a large body waits in the kernel). */
const MAX_PARKED_BYTES = 64 * 1024

/** Parked and released-but-unclaimed requests by socket; listeners find theirs here. */
const bySocket = new Map<Socket, ParkedRequest>()

export class ParkedRequest implements Waiter {
  done = false
  readonly socket: Socket
  /** the first bytes read; later reads (a body on its way) collect in `more` */
  bytes: Buffer
  more: Buffer[] | null = null
  length: number
  readonly split: Split
  readonly arrived: number
  readonly deadline: number
  readonly lot: ParkingLot
  readonly hooks: ParkHooks
  /** once released: the instance whose slot this request holds (null when refused) */
  instance: UpstreamInstance | null = null
  /** once refused: the status and body the request is to be answered with */
  status = 0
  body = ''
  /** once refused by a circuit breaker: the Retry-After to answer with */
  retryAfter: string | undefined = undefined

  constructor(socket: Socket, bytes: Buffer, split: Split, arrived: number, lot: ParkingLot, hooks: ParkHooks) {
    this.socket = socket
    this.bytes = bytes
    this.length = bytes.length
    this.split = split
    this.arrived = arrived
    this.deadline = split.backend.firstByteMs > 0 ? arrived + split.backend.firstByteMs : Infinity
    this.lot = lot
    this.hooks = hooks
    bySocket.set(socket, this)
    split.backend.throttler!.parked++
    // Keep reading: that is how a client that gives up is noticed while its request waits (up
    // to MAX_PARKED_BYTES; past that, as for any buffered upload, only when the wait ends).
    socket.on('data', onParkedData)
    socket.on('close', onParkedClose)
    socket.resume()
  }

  send(instance: UpstreamInstance, _now: number): void {
    this.instance = instance
    this.#release()
  }

  reject(status: 503 | 504, body: string, retryAfter?: string): void {
    this.status = status
    this.body = body
    this.retryAfter = retryAfter
    this.#release()
  }

  #release(): void {
    this.done = true
    this.split.backend.throttler!.parked--
    const socket = this.socket
    socket.removeListener('data', onParkedData)
    socket.pause()
    const bytes = this.more === null ? this.bytes : Buffer.concat([this.bytes, ...this.more], this.length)
    this.bytes = EMPTY
    this.more = null
    if (!socket.destroyed) this.lot.handOff(socket, bytes)
  }

  /**
   * The request ends without reaching the gateway's handler: the client left while parked (the
   * queue skips it) or after release, or Node's parser refused the bytes (`status` 400/431).
   */
  abandon(status = 499): void {
    const parked = !this.done
    this.done = true
    if (parked) this.split.backend.throttler!.parked--
    const now = performance.now()
    this.split.slot.record(status, (now - this.arrived) / 1000)
    this.split.backend.throttler!.leave(now, this.instance)
    this.hooks.exchangeDone()
  }

  /** Node's parse routed the request elsewhere: give back the slot (or the refusal) it held. */
  giveBack(): void {
    this.split.backend.throttler!.leave(performance.now(), this.instance)
    this.hooks.exchangeDone()
  }
}

const EMPTY = Buffer.alloc(0)

/** The parked or released request that a socket's first request is to claim, if any. */
export function claimParked(socket: Socket): ParkedRequest | undefined {
  const p = bySocket.get(socket)
  if (p === undefined || !p.done) return undefined
  bySocket.delete(socket)
  socket.removeListener('close', onParkedClose)
  return p
}

/** Node's server refused what a released socket sent: its request will never come, free its slot now. */
export function refusedAfterRelease(socket: Socket, status: number): void {
  const p = claimParked(socket)
  if (p !== undefined) p.abandon(status)
}

/** How many sockets are parked or released and not yet claimed (a cheap "any?" for the hot path). */
export function parkedSockets(): number {
  return bySocket.size
}

function onParkedData(this: Socket, chunk: Buffer): void {
  const p = bySocket.get(this)!
  ;(p.more ??= []).push(chunk)
  p.length += chunk.length
  if (p.length > MAX_PARKED_BYTES) this.pause()
}

function onParkedClose(this: Socket): void {
  const p = bySocket.get(this)
  if (p === undefined) return
  bySocket.delete(this)
  p.abandon()
}

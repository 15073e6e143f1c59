// The fast path's side of a plain listener: the HTTP/1.1 connections it serves itself (each a
// FastConnection), and the way back to Node's server for what it leaves. It keeps the listener's
// connection table told of heads, requests and idleness as Node's server does through its events,
// and closes its connections when the listener drains or stops.
import type { Socket } from 'node:net'
import type { ConnectionTable } from '../connections/connection-table.ts'
import { FastConnection, type FastHost } from './fast-connection.ts'
import type { FastRequest } from './fast-request.ts'
import type { FastResponse } from './fast-response.ts'

export interface FastFrontOptions {
  /** the gateway's answer: true when it serves the request on the fast path */
  readonly serve: (req: FastRequest, res: FastResponse) => boolean
  /** Node's server takes the connection (plain-listener.ts handOff) */
  readonly toNode: (socket: Socket, bytes: Buffer) => void
  /** the listener's clientError handler (for llhttp's verdict at the end of the stream) */
  readonly clientError: (err: Error, socket: Socket) => void
  readonly connections: ConnectionTable
  /** [requests served here, messages handed to Node's server] */
  readonly counts: Float64Array
  /** serving threw (a bug): logged, and the connection is cut */
  readonly failed: (err: unknown) => void
}

export class FastFront implements FastHost {
  readonly #o: FastFrontOptions
  readonly #open = new Set<FastConnection>()

  constructor(o: FastFrontOptions) {
    this.#o = o
  }

  /** A new HTTP/1.1 connection and its first bytes. */
  accept(socket: Socket, first: Buffer): void {
    const c = new FastConnection(socket, first, this)
    // its first bytes may already have sent it to Node's server
    if (!c.detached) this.#open.add(c)
  }

  serve(req: FastRequest, res: FastResponse): boolean {
    if (!this.#o.serve(req, res)) return false
    this.#o.counts[0]++
    return true
  }

  fallBack(socket: Socket, bytes: Buffer): void {
    this.#o.counts[1]++
    this.#o.toNode(socket, bytes)
  }

  clientError(err: Error, socket: Socket): void {
    this.#o.clientError(err, socket)
  }

  heading(socket: Socket): void {
    this.#o.connections.heading(socket)
  }

  started(socket: Socket): void {
    this.#o.connections.startOn(socket)
  }

  ended(socket: Socket): void {
    this.#o.connections.endOn(socket)
  }

  keepAliveSeconds(): number {
    return Math.floor(this.#o.connections.limits.idleTimeoutMs / 1000)
  }

  failed(err: unknown): void {
    this.#o.failed(err)
  }

  forget(c: FastConnection): void {
    this.#open.delete(c)
  }

  /** connections served here now */
  get size(): number {
    return this.#open.size
  }

  /** Draining: idle connections close now, busy ones after their response. */
  close(): void {
    for (const c of [...this.#open]) c.close()
  }

  closeAll(): void {
    for (const c of [...this.#open]) c.destroy()
    this.#open.clear()
  }
}

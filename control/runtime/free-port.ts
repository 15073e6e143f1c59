// A free TCP port on 127.0.0.1, found by binding port 0 and letting the kernel choose.
import net from 'node:net'

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}

/** A free port not in `taken`: the kernel may hand a port back once its probe socket closed. */
export async function freePortExcept(taken: (port: number) => boolean, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort(host)
    if (!taken(port)) return port
  }
  throw new Error('could not find a free port not already given to an instance')
}

/**
 * One port picked ahead of need and held open (listening, accepting nothing) until taken, so the
 * next instance start does not wait for a listen/close round trip, and nobody else can claim the
 * port meanwhile. take() closes the holder and hands the port over.
 */
export class ReservedPort {
  readonly #host: string
  #server: net.Server | null = null
  #port = 0
  #closed = false

  constructor(host = '127.0.0.1') {
    this.#host = host
  }

  /** the port held now, 0 when none */
  get port(): number {
    return this.#port
  }

  /** Reserve one now if none is held (asynchronous; take() may find none yet). */
  fill(): void {
    if (this.#closed || this.#server !== null) return
    const server = net.createServer((socket) => socket.destroy())
    server.unref()
    server.on('error', () => { if (this.#server === server) this.#server = null })
    this.#server = server
    server.listen({ port: 0, host: this.#host, backlog: 1 }, () => {
      const address = server.address()
      if (this.#server === server && typeof address === 'object' && address !== null) this.#port = address.port
    })
  }

  /** The held port, released for the caller to bind, or 0 when none is ready. */
  take(): number {
    const port = this.#port
    if (port === 0) return 0
    const server = this.#server!
    this.#server = null
    this.#port = 0
    server.close()
    return port
  }

  close(): void {
    this.#closed = true
    this.#server?.close()
    this.#server = null
    this.#port = 0
  }
}

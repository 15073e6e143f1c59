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

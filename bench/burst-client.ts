// Load generator for the activator's 10k-burst benchmark: opens N connections to 127.0.0.1:PORT
// (in batches, so the listen backlog never drops a SYN), sends one `GET /` with `Connection: close`
// on each, and reports on stdout:
//   connected <n>          once every request has been written
//   done <json>            when every connection has closed: {"statuses":{"200":n,…},"ms":…}
// With MODE=idle it only opens the connections (no request) and waits to be killed: the baseline
// cost of an idle HTTP/1.1 connection in the gateway.
// Usage: node bench/burst-client.ts PORT HOST N [BATCH] [MODE]
import net from 'node:net'

const [portArg, host, nArg, batchArg, mode] = process.argv.slice(2)
const idle = mode === 'idle'
const port = Number(portArg)
const n = Number(nArg)
const batch = Number(batchArg ?? 250)
if (!port || !host || !n) {
  process.stderr.write('usage: burst-client.ts PORT HOST N [BATCH]\n')
  process.exit(2)
}
const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
const statuses: Record<string, number> = {}
let closed = 0
const t0 = performance.now()

function open(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    let head = ''
    let status = ''
    let error = ''
    s.once('connect', () => {
      if (!idle) s.write(request)
      resolve()
    })
    s.on('data', (chunk: Buffer) => {
      if (status !== '') return
      head += chunk.toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head)
      if (m !== null) status = m[1]!
      else if (head.length > 64) status = 'garbled'
    })
    s.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message
      resolve()
    })
    s.once('close', () => {
      const k = status !== '' ? status : `no-response${error ? `:${error}` : ''}`
      statuses[k] = (statuses[k] ?? 0) + 1
      if (++closed === n) {
        process.stdout.write(`done ${JSON.stringify({ statuses, ms: Math.round(performance.now() - t0) })}\n`)
        process.exit(0)
      }
    })
  })
}

for (let sent = 0; sent < n; sent += batch) {
  const wave: Promise<void>[] = []
  for (let i = sent; i < Math.min(n, sent + batch); i++) wave.push(open())
  await Promise.all(wave)
}
process.stdout.write(`connected ${n} ${Math.round(performance.now() - t0)}\n`)
if (idle) setInterval(() => {}, 60_000)

// The burst benchmark's yardstick: a bare node:http server that holds every request it gets (no
// response) until told to answer, so the V8 heap per held request is what Node's HTTP server needs
// for one connection carrying one request, measured with the same client in the same run. Sluice
// parks waiting connections before Node's server sees them (gateway/activator/parked-request.ts).
//   stdout: `port <n>` once listening; `heap <bytes used after a full GC> held <n>` on SIGUSR2.
//   SIGUSR1: answer every held request (and every later one) with 200.
// Run with --expose-gc.
import http from 'node:http'

const held = []
let open = false
const body = Buffer.from('hello world\n')
const answer = (res) => res.writeHead(200, { 'content-length': body.length }).end(body)
const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (_req, res) => {
  if (open) answer(res)
  else held.push(res)
})
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`port ${server.address().port}\n`))
process.on('SIGUSR2', () => {
  globalThis.gc()
  globalThis.gc()
  process.stdout.write(`heap ${process.memoryUsage().heapUsed} held ${held.length}\n`)
})
process.on('SIGUSR1', () => {
  open = true
  for (const res of held.splice(0)) answer(res)
})

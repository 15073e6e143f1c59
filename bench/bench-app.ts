// The app the activator benchmarks run as a local revision (Knative's runtime contract: it listens
// on $PORT). It stamps the wall-clock moment its listen callback fired on stderr, which the gateway
// relays into its log, so a benchmark can take the app's own readiness time out of a cold start:
//   bench-app listening wall=<epoch ms, µs precision> boot=<ms since this process's time origin>
// BENCH_GATE=<file>: do not listen until that file exists (holds requests in the activator's queue).
import http from 'node:http'
import { existsSync } from 'node:fs'

const port = Number(process.env.PORT ?? 8080)
const gate = process.env.BENCH_GATE
const body = Buffer.from('hello world\n')

let first = true
let accepted = 0
const wall = () => performance.timeOrigin + performance.now()

const server = http.createServer((_req, res) => {
  if (first) {
    first = false
    res.once('finish', () => process.stderr.write(`bench-app first-request wall=${accepted.toFixed(3)} ms=${(wall() - accepted).toFixed(3)}\n`))
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 65_000
server.once('connection', () => { accepted = wall() })

function listen() {
  server.listen(port, '127.0.0.1', () => {
    const now = performance.now()
    process.stderr.write(`bench-app listening wall=${(performance.timeOrigin + now).toFixed(3)} boot=${now.toFixed(3)}\n`)
  })
}

if (gate === undefined || gate === '') listen()
else {
  const timer = setInterval(() => {
    if (!existsSync(gate)) return
    clearInterval(timer)
    listen()
  }, 20)
}
process.once('SIGTERM', () => process.exit(0))

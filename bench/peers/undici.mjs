// Peer: a bare reverse proxy on undici's Pool.stream, the fastest plain Node approach (no routing,
// no forwarded headers, no metrics). node bench/peers/undici.mjs PORT UPSTREAM_PORT
import http from 'node:http'
import { Pool } from 'undici'

const [port, upstream] = process.argv.slice(2).map(Number)
const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 128, pipelining: 1 })
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host'])

http.createServer((req, res) => {
  const headers = {}
  for (const k in req.headers) if (!HOP.has(k)) headers[k] = req.headers[k]
  pool.stream(
    { path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    ({ statusCode, headers: h }) => {
      for (const k in h) if (HOP.has(k)) delete h[k]
      res.writeHead(statusCode, h)
      return res
    },
    (err) => {
      if (err && !res.headersSent) { res.statusCode = 502; res.end() }
    },
  )
}).listen(port, '127.0.0.1')
// A clean exit on SIGTERM, so that --cpu-prof (BENCH_PROFILE) writes its profile.
process.on('SIGTERM', () => process.exit(0))

// Not a proxy: a node:http server that answers by itself. Its CPU per request is the cost of Node's
// server half alone, a floor under any proxy built on node:http (a proxy also pays a client half).
// node bench/peers/node-floor.mjs PORT
import http from 'node:http'

const body = Buffer.from('hello world\n')
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': body.length })
  res.end(body)
}).listen(Number(process.argv[2]), '127.0.0.1')
// A clean exit on SIGTERM, so that --cpu-prof (BENCH_PROFILE) writes its profile.
process.on('SIGTERM', () => process.exit(0))

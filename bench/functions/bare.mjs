// The peer of the function runtime in bench/functions.ts: the minimal function's answer written as a
// plain node:http app, the way config/examples/app/hello.mjs is (the query read as the runtime
// reads it, the same headers and bytes).
import http from 'node:http'

http.createServer((req, res) => {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const query = q === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1)))
  const body = `Hello ${query.name}\n`
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}).listen(Number(process.env.PORT ?? 8080), '127.0.0.1')
process.once('SIGTERM', () => process.exit(0)) // so that --cpu-prof writes its profile

// The peer of the function runtime in bench/functions.ts: the minimal function's answer written as a
// plain node:http app (the query read the same way, the same headers and bytes).
import http from 'node:http'

const HEADERS = { 'content-type': 'text/plain; charset=utf-8' }
http.createServer((req, res) => {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const name = new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('name')
  const body = Buffer.from(`Hello ${name}\n`)
  res.writeHead(200, { ...HEADERS, 'content-length': body.length })
  res.end(body)
}).listen(Number(process.env.PORT ?? 8080), '127.0.0.1')

// The example app: answers every request with its revision's message, like Knative's helloworld.
// Follows the runtime contract: listens on $PORT, names itself from $K_REVISION.
import http from 'node:http'

const port = Number(process.env.PORT ?? 8080)
const message = process.env.MESSAGE ?? 'Hello'
const revision = process.env.K_REVISION ?? 'unknown'

http.createServer((req, res) => {
  const body = `${message} from ${revision} (${req.method} ${req.url})\n`
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}).listen(port, '127.0.0.1', () => {
  process.stderr.write(`hello app ${revision} listening on 127.0.0.1:${port}\n`)
})

// The example app: answers every request with its greeting and the revision that served it, like
// Knative's helloworld, so a traffic split is visible in curl's output:
//   Hello v1 from hello-v1 (GET /)
// Follows the runtime contract: listens on $PORT and names itself from $K_REVISION, which Sluice
// sets as Knative does; the greeting is $GREETING (default "Hello").
import http from 'node:http'

const port = Number(process.env.PORT ?? 8080)
const greeting = process.env.GREETING ?? 'Hello'
const revision = process.env.K_REVISION ?? 'unknown'

http.createServer((req, res) => {
  const body = `${greeting} from ${revision} (${req.method} ${req.url})\n`
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}).listen(port, '127.0.0.1', () => {
  process.stderr.write(`hello app ${revision} listening on 127.0.0.1:${port}\n`)
})

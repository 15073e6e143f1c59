// The eventing example's subscriber, like Knative's event-display: logs every CloudEvent it receives
// (binary mode: the ce-* headers and the body; structured mode: the JSON body) and acknowledges it.
// Follows the runtime contract: listens on $PORT.
import http from 'node:http'

const port = Number(process.env.PORT ?? 8080)
const MAX_BODY = 64 * 1024

http.createServer((req, res) => {
  const chunks = []
  let size = 0
  req.on('data', (c) => { size += c.length; if (size <= MAX_BODY) chunks.push(c) })
  req.on('end', () => {
    const lines = ['☁️  cloudevents.Event']
    for (const [name, value] of Object.entries(req.headers)) {
      if (name.startsWith('ce-')) lines.push(`  ${name.slice(3)}: ${decodeURIComponent(String(value))}`)
    }
    if (req.headers['content-type'] !== undefined) lines.push(`  datacontenttype: ${req.headers['content-type']}`)
    lines.push(`  data: ${Buffer.concat(chunks).toString('utf8')}${size > MAX_BODY ? ' …' : ''}`)
    process.stdout.write(lines.join('\n') + '\n')
    res.writeHead(202, { 'content-length': 0 })
    res.end()
  })
}).listen(port, '127.0.0.1', () => {
  process.stderr.write(`event-display listening on 127.0.0.1:${port}\n`)
})

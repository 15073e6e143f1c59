// Requests and responses the gateway refuses by protocol rule, through a real `sluice serve`:
// HTTP/2 :authority vs Host (RFC 9113 §8.3.1), a non-1.x version on an HTTP/1 connection (505),
// TRACE unless the route opts in (cross-site tracing), upstream statuses outside 100–599 (502),
// and the same routing checks on WebSocket upgrades as on every other request.
import t from 'tap'
import http2 from 'node:http2'
import net from 'node:net'
import { startBackend } from '../fixtures/backend.ts'
import { serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { echo, rawExchange, rawStatus, send } from './helpers.ts'

const backend = await startBackend('p')
t.teardown(() => backend.close())

// An upstream whose status line says whatever the path asks for (`/status/999`).
const odd = net.createServer((socket) => {
  socket.once('data', (head: Buffer) => {
    const code = /^GET \/status\/(\d{3})/.exec(head.toString('latin1'))?.[1] ?? '200'
    socket.end(`HTTP/1.1 ${code} Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok`)
  })
  socket.on('error', () => {})
})
await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r))
t.teardown(() => odd.close())
const oddOrigin = `http://127.0.0.1:${(odd.address() as net.AddressInfo).port}`

const traced = serviceYaml('traced', backend.origin).replace('metadata:\n  name: traced', 'metadata:\n  name: traced\n  annotations: {sluice.dev/allow-trace: "true"}')
const s = await startSluice({
  'p.yaml': serviceYaml('p', backend.origin),
  'traced.yaml': traced,
  'odd.yaml': serviceYaml('odd', oddOrigin),
})
t.teardown(() => s.stop())
const HOST = 'p.default.localhost'

t.test('HTTP/2: :authority and a different Host are refused with 400; the same Host is fine', async (t) => {
  const session = http2.connect(`http://127.0.0.1:${s.port}`)
  t.teardown(() => session.close())
  const ask = (headers: http2.OutgoingHttpHeaders) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = session.request({ ':path': '/', ...headers })
    let body = ''
    let status = 0
    req.on('response', (h) => { status = Number(h[':status']) })
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => resolve({ status, body }))
    req.on('error', reject)
    req.end()
  })
  const bad = await ask({ ':authority': HOST, host: 'other.default.localhost' })
  t.equal(bad.status, 400)
  t.match(bad.body, /:authority and Host differ/)
  t.equal((await ask({ ':authority': HOST, host: HOST })).status, 200)
  t.equal((await ask({ ':authority': HOST })).status, 200)
})

t.test('a version other than HTTP/1.x on an HTTP/1 connection is 505', async (t) => {
  backend.requests.length = 0
  for (const v of ['HTTP/2.0', 'HTTP/0.9']) {
    const answer = await rawExchange(s.port, `GET / ${v}\r\nHost: ${HOST}\r\n\r\n`)
    t.equal(rawStatus(answer), 505, v)
  }
  t.equal(backend.requests.length, 0, 'the backend never saw them')
})

t.test('TRACE is 405 unless the route opts in with sluice.dev/allow-trace', async (t) => {
  const refused = await send(s.port, HOST, { method: 'TRACE' })
  t.equal(refused.status, 405)
  backend.requests.length = 0
  const allowed = await send(s.port, 'traced.default.localhost', { method: 'TRACE' })
  t.equal(allowed.status, 200)
  t.equal(echo(allowed).method, 'TRACE')
})

t.test('an upstream status outside 100–599 is a 502, counted as a protocol error', async (t) => {
  for (const code of ['999', '600', '099']) {
    const r = await send(s.port, 'odd.default.localhost', { path: `/status/${code}` })
    t.equal(r.status, 502, `upstream said ${code}`)
  }
  t.equal((await send(s.port, 'odd.default.localhost', { path: '/status/299' })).status, 299, 'an unknown but valid status passes')
})

t.test('upgrades get the same routing checks: duplicate Host 400, absolute-form routed by its authority', async (t) => {
  const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
  const dup = await rawExchange(s.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\nHost: other\r\n${upgrade}\r\n`)
  t.equal(rawStatus(dup), 400, 'two Host headers')
  const junk = await rawExchange(s.port, `GET * HTTP/1.1\r\nHost: ${HOST}\r\n${upgrade}\r\n`)
  t.equal(rawStatus(junk), 400, 'a target that is neither origin- nor absolute-form')
  const absent = await rawExchange(s.port, `GET http://nobody.example/x HTTP/1.1\r\nHost: ${HOST}\r\n${upgrade}\r\n`)
  t.equal(rawStatus(absent), 404, 'absolute-form is routed by its own authority, not Host')
})

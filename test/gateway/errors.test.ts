// Failures through a real `sluice serve`: upstream refused / cut / not HTTP → 502 or a cut stream,
// counted in sluice_upstream_errors_total by kind; no ready endpoint → 503; no retries, ever; and
// malformed requests answered 400/431 by the server without ever reaching a backend.
import t from 'tap'
import net from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { closedPort, coreBackend, echo, kingress, rawConversation, rawStatus, sample, send, yamlDocs } from './helpers.ts'

let flaky = 0
function special(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? ''
  if (url.startsWith('/cut-body')) {
    // promises 100000 bytes, sends 1000, then the connection dies
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 100_000 })
    res.write(Buffer.alloc(1000, 'x'))
    setTimeout(() => req.socket.destroy(), 100)
    return true
  }
  if (url.startsWith('/cut-head')) {
    req.socket.destroy()
    return true
  }
  if (url.startsWith('/flaky')) {
    // conformance retry: 503 to the first request, 200 afterwards
    flaky++
    req.resume()
    res.writeHead(flaky === 1 ? 503 : 200, { 'content-type': 'text/plain' })
    res.end(flaky === 1 ? 'first attempt fails\n' : 'second attempt works\n')
    return true
  }
  return false
}

const backend = await startBackend('errs', special)
// malformed requests are aimed at this one; it must never see any of them
const untouched = await startBackend('untouched')
const garbage = net.createServer((sock) => {
  sock.on('data', () => sock.end('NOT HTTP AT ALL\r\n\r\n'))
  sock.on('error', () => {})
})
await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r))
const garbagePort = (garbage.address() as net.AddressInfo).port
t.teardown(() => backend.close())
t.teardown(() => untouched.close())
t.teardown(() => new Promise<void>((r) => garbage.close(() => r())))
const dead = await closedPort()

const s = await startSluice({
  'services.yaml': [
    serviceYaml('errs', backend.origin),
    serviceYaml('clean', untouched.origin),
    serviceYaml('refused', `http://127.0.0.1:${dead}`),
    serviceYaml('garbage', `http://127.0.0.1:${garbagePort}`),
  ].join('---\n'),
  'ingress.yaml': yamlDocs(
    ...coreBackend('errs', backend.port),
    ...coreBackend('empty', null),
    kingress('retry', [{ hosts: ['retry.example.com'], paths: [{ splits: [{ service: 'errs' }] }] }]),
    kingress('empty', [{ hosts: ['empty.example.com'], paths: [{ splits: [{ service: 'empty' }] }] }]),
  ),
})
t.teardown(() => s.stop())

const errors = (route: string, kind: string): Promise<number> => sample(s, 'sluice_upstream_errors_total', { route, kind })

t.test('upstream refused → 502, counted as a connect error', async (t) => {
  const r = await send(s.port, 'refused.default.localhost')
  t.equal(r.status, 502)
  t.equal(r.text, 'upstream failed: ECONNREFUSED\n')
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(await errors('refused', 'connect'), 1)
  t.equal(await sample(s, 'sluice_requests_total', { route: 'refused', class: '5xx' }), 1)
})

t.test('upstream closes the socket before answering → 502, one attempt, counted as a reset', async (t) => {
  const r = await send(s.port, 'errs.default.localhost', { path: '/cut-head' })
  t.equal(r.status, 502)
  t.match(r.text, /^upstream failed: /)
  t.equal(backend.requests.filter((q) => q.url === '/cut-head').length, 1, 'not retried')
  t.equal(await errors('errs', 'reset'), 1)
})

t.test('upstream closes the socket mid-response → the client sees the cut', async (t) => {
  const r = await send(s.port, 'errs.default.localhost', { path: '/cut-body' })
  t.equal(r.status, 200, 'the status was already on its way')
  t.equal(r.headers['content-length'], '100000')
  t.equal(r.length, 1000, 'only the bytes the upstream sent')
  t.notOk(r.complete, 'the response is not complete')
  t.ok(r.error !== undefined, 'the client sees an error')
  t.ok(await eventually(async () => (await errors('errs', 'reset')) === 2, 2000, 50), 'counted as a second reset')
  t.equal(backend.requests.filter((q) => q.url === '/cut-body').length, 1, 'not retried')
})

t.test('upstream answers something that is not HTTP → 502, counted as a protocol error', async (t) => {
  const r = await send(s.port, 'garbage.default.localhost')
  t.equal(r.status, 502)
  t.match(r.text, /^upstream failed: (HPE_\w+|HTTPParserError)\n$/)
  t.equal(await errors('garbage', 'protocol'), 1)
})

t.test('no ready endpoint → 503 with Retry-After, counted as no_endpoints', async (t) => {
  const r = await send(s.port, 'empty.example.com')
  t.equal(r.status, 503)
  t.equal(r.headers['retry-after'], '1')
  t.match(r.text, /no ready instance/)
  t.equal(await errors('empty', 'no_endpoints'), 1)
})

t.test('no retries: a 503 from the backend reaches the client as is (conformance retry)', async (t) => {
  const first = await send(s.port, 'retry.example.com', { path: '/flaky' })
  t.equal(first.status, 503)
  t.equal(first.text, 'first attempt fails\n')
  t.equal(first.headers['retry-after'], undefined, 'the gateway adds nothing to an upstream 503')
  t.equal(flaky, 1, 'the backend saw exactly one request')
  const second = await send(s.port, 'retry.example.com', { path: '/flaky' })
  t.equal(second.status, 200)
  t.equal(second.text, 'second attempt works\n')
  t.equal(flaky, 2)
  t.equal(backend.requests.filter((q) => q.url === '/flaky').length, 2)
})

t.test('malformed requests get 400/431 from the server and never reach a backend', async (t) => {
  const H = 'clean.default.localhost'
  const cases: [string, string, number][] = [
    ['bad request line', 'GARBAGE\r\n\r\n', 400],
    ['bad request line (space in the target)', `GET /a b HTTP/1.1\r\nHost: ${H}\r\n\r\n`, 400],
    ['bad HTTP version', `GET / HTTP/9.9\r\nHost: ${H}\r\n\r\n`, 400],
    ['header section over 16 KiB', `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
    ['many headers over 16 KiB', `GET / HTTP/1.1\r\nHost: ${H}\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(90)}\r\n`).join('')}\r\n`, 431],
    ['control character in a header value', `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Bad: a\x01b\r\n\r\n`, 400],
    ['NUL in a header value', `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Bad: a\x00b\r\n\r\n`, 400],
    ['space in a header name', `GET / HTTP/1.1\r\nHost: ${H}\r\nBad Name: x\r\n\r\n`, 400],
    ['space before the colon', `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Bad : x\r\n\r\n`, 400],
    ['obsolete line folding', `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Folded: a\r\n b\r\n\r\n`, 400],
    ['bare LF line ending in headers', `GET / HTTP/1.1\r\nHost: ${H}\nX-A: b\r\n\r\n`, 400],
    ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ['two different Content-Lengths', `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 400],
    ['Transfer-Encoding not ending in chunked', `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: gzip\r\n\r\n`, 400],
    ['bad chunk size', `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 400],
    ['no Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two Host headers', `GET / HTTP/1.1\r\nHost: ${H}\r\nHost: other.example.com\r\n\r\n`, 400],
    ['asterisk target on GET', `GET * HTTP/1.1\r\nHost: ${H}\r\n\r\n`, 400],
    ['OPTIONS *', `OPTIONS * HTTP/1.1\r\nHost: ${H}\r\n\r\n`, 400],
    ['authority-form target without CONNECT', `GET ${H}:80 HTTP/1.1\r\nHost: ${H}\r\n\r\n`, 400],
  ]
  for (const [what, bytes, status] of cases) {
    const { text, closed } = await rawConversation(s.port, bytes, 3000)
    t.equal(rawStatus(text), status, `${what}: ${status}`)
    t.ok(closed, `${what}: the connection is closed`)
  }
  // CONNECT is not proxied: the connection goes away without reaching anything
  const connect = await rawConversation(s.port, `CONNECT ${H}:80 HTTP/1.1\r\nHost: ${H}\r\n\r\n`, 3000)
  t.ok(connect.closed, 'CONNECT: closed')
  t.notOk(rawStatus(connect.text) >= 200 && rawStatus(connect.text) < 300, 'CONNECT: never a 2xx')
  // ... while a well-formed request on the same route does reach the backend
  const good = await send(s.port, H)
  t.equal(good.status, 200)
  t.equal(untouched.requests.length, 1, 'only the well-formed request reached the backend')
  t.equal(echo(good).url, '/')
})

t.test('clients that reset before or during their first bytes do not take the gateway down', async (t) => {
  const reset = (first: string) => new Promise<void>((resolve) => {
    const sock = net.connect(s.port, '127.0.0.1', () => {
      if (first === '') sock.resetAndDestroy()
      else sock.write(first, () => setTimeout(() => sock.resetAndDestroy(), 50))
    })
    sock.on('error', () => {})
    sock.on('close', () => resolve())
  })
  // nothing sent; one byte of "PRI" (the h2c sniff waits for more); half a request line
  for (const first of ['', 'P', 'GET / HT']) await reset(first)
  await new Promise((r) => setTimeout(r, 100))
  const r = await send(s.port, 'errs.default.localhost')
  t.equal(r.status, 200, 'the gateway still answers')
})

t.test('after all that the gateway still serves, and nothing is left in flight', async (t) => {
  const r = await send(s.port, 'errs.default.localhost')
  t.equal(r.status, 200)
  t.ok(await eventually(async () => (await sample(s, 'sluice_inflight_requests')) === 0, 3000, 50), 'in-flight back to 0')
})

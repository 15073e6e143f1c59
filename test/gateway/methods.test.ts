// Methods and bodiless responses through a real `sluice serve`: every method reaches the backend
// as sent, HEAD keeps its Content-Length without a body, 204/304 carry no body, and a keep-alive
// connection stays in sync after each of them (checked with pipelined requests on a raw socket).
import t from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { echo, rawExchange, send } from './helpers.ts'

function special(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? ''
  if (url.startsWith('/sized')) {
    // HEAD says how long the GET body would be, without sending it
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1234, etag: '"v1"' })
    res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234))
    return true
  }
  if (url.startsWith('/not-modified')) {
    res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60', 'content-length': 1234 })
    res.end()
    return true
  }
  if (url.startsWith('/hints')) {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 })
    res.end('final')
    return true
  }
  return false
}

const backend = await startBackend('m', special)
t.teardown(() => backend.close())
const s = await startSluice({ 'svc.yaml': serviceYaml('m', backend.origin) })
t.teardown(() => s.stop())
const HOST = 'm.default.localhost'

/** Splits a raw HTTP/1.1 byte stream holding several responses to bodiless or sized requests. */
function responses(raw: string, headRequests: number[]): { status: number; headers: Map<string, string>; body: string }[] {
  const out: { status: number; headers: Map<string, string>; body: string }[] = []
  let rest = raw
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) throw new Error(`incomplete response head: ${JSON.stringify(rest.slice(0, 200))}`)
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1] ?? 0)
    const headers = new Map<string, string>()
    for (const l of lines) {
      const i = l.indexOf(':')
      headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim())
    }
    rest = rest.slice(end + 4)
    let body = ''
    const bodiless = headRequests.includes(out.length) || status === 204 || status === 304 || (status >= 100 && status < 200)
    if (!bodiless) {
      if (headers.get('transfer-encoding') === 'chunked') {
        for (;;) {
          const lineEnd = rest.indexOf('\r\n')
          const size = parseInt(rest.slice(0, lineEnd), 16)
          rest = rest.slice(lineEnd + 2)
          if (size === 0) { rest = rest.slice(rest.indexOf('\r\n') + 2); break }
          body += rest.slice(0, size)
          rest = rest.slice(size + 2)
        }
      } else {
        const n = Number(headers.get('content-length') ?? 0)
        body = rest.slice(0, n)
        rest = rest.slice(n)
      }
    }
    out.push({ status, headers, body })
  }
  return out
}

t.test('every method reaches the backend as sent, with its body', async (t) => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PURGE', 'PROPFIND', 'MKCOL', 'REPORT']) {
    const withBody = method !== 'GET' && method !== 'OPTIONS'
    const r = await send(s.port, HOST, { method, path: `/m/${method}`, ...(withBody ? { body: `body of ${method}` } : {}) })
    t.equal(r.status, 200, method)
    const e = echo(r)
    t.equal(e.method, method, `${method} method`)
    t.equal(e.url, `/m/${method}`, `${method} path`)
    if (withBody) t.equal(e.headers['content-length'], String(`body of ${method}`.length), `${method} body length`)
  }
})

t.test('HEAD: no body, the Content-Length of the GET', async (t) => {
  const r = await send(s.port, HOST, { method: 'HEAD', path: '/sized' })
  t.equal(r.status, 200)
  t.equal(r.headers['content-length'], '1234')
  t.equal(r.headers.etag, '"v1"')
  t.equal(r.length, 0)
  t.equal(backend.requests.at(-1)?.method, 'HEAD', 'the backend saw HEAD, not GET')
})

t.test('204 and 304 carry no body; 304 keeps its validators', async (t) => {
  const nc = await send(s.port, HOST, { path: '/?status=204' })
  t.equal(nc.status, 204)
  t.equal(nc.length, 0)
  t.equal(nc.headers['transfer-encoding'], undefined)
  t.equal(nc.headers['x-backend'], 'm')
  const nm = await send(s.port, HOST, { path: '/not-modified', headers: { 'if-none-match': '"v1"' } })
  t.equal(nm.status, 304)
  t.equal(nm.length, 0)
  t.equal(nm.headers.etag, '"v1"')
  t.equal(nm.headers['cache-control'], 'max-age=60')
  t.equal(nm.headers['transfer-encoding'], undefined)
})

t.test('a keep-alive connection stays in sync after HEAD, 204 and 304 (pipelined on one socket)', async (t) => {
  const req = (method: string, path: string, last = false): string =>
    `${method} ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${last ? 'Connection: close\r\n' : ''}\r\n`
  const raw = await rawExchange(s.port,
    req('HEAD', '/sized') + req('GET', '/?status=204') + req('GET', '/not-modified') + req('HEAD', '/?chunked') +
    req('GET', '/sized') + req('GET', '/?stream=2&every=10') + req('GET', '/last', true), 5000)
  const rs = responses(raw, [0, 3])
  t.same(rs.map((r) => r.status), [200, 204, 304, 200, 200, 200, 200], 'seven responses, in order')
  t.equal(rs[0]!.headers.get('content-length'), '1234')
  t.equal(rs[0]!.body, '')
  t.equal(rs[4]!.body, 'x'.repeat(1234))
  t.equal(rs[5]!.body, 'chunk 2\nchunk 1\n')
  t.equal(JSON.parse(rs[6]!.body).url, '/last')
})

t.test('1xx: the final response reaches the client after early hints', async (t) => {
  const r = await send(s.port, HOST, { path: '/hints' })
  t.equal(r.status, 200)
  t.equal(r.text, 'final')
})

t.test('status codes and reasons pass through with their bodies', async (t) => {
  for (const status of [201, 202, 301, 400, 401, 404, 418, 429, 500, 502, 503, 504]) {
    const r = await send(s.port, HOST, { path: `/?status=${status}` })
    t.equal(r.status, status)
    t.equal(echo(r).url, `/?status=${status}`, `${status} body is the backend's`)
  }
})

t.test('absolute-form targets are routed by their authority; only the path goes upstream', async (t) => {
  const raw = await rawExchange(s.port, `GET http://${HOST}/abs?x=1 HTTP/1.1\r\nHost: wrong.example.com\r\nConnection: close\r\n\r\n`)
  const [r] = responses(raw, [])
  t.equal(r!.status, 200)
  const e = JSON.parse(r!.body) as { url: string; headers: Record<string, string> }
  t.equal(e.url, '/abs?x=1')
  t.equal(e.headers.host, HOST)
  const unknown = await rawExchange(s.port, `GET http://unknown.example.com/ HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`)
  t.match(unknown, /^HTTP\/1\.1 404 /, 'the target authority wins over Host')
})

t.test('a keep-alive client agent reuses its connection across bodiless answers', async (t) => {
  let connections = 0
  class CountingAgent extends http.Agent {
    override createConnection(...args: Parameters<http.Agent['createConnection']>): ReturnType<http.Agent['createConnection']> {
      connections++
      return super.createConnection(...args)
    }
  }
  const agent = new CountingAgent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (const [method, path] of [['HEAD', '/sized'], ['GET', '/?status=204'], ['GET', '/not-modified'], ['GET', '/sized'], ['GET', '/']] as const) {
    const r = await send(s.port, HOST, { method, path, agent })
    t.ok(r.status < 400, `${method} ${path}`)
  }
  t.equal(connections, 1, 'one connection for all of them')
})

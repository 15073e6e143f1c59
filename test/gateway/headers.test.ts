// The header contract of the proxy, seen from a real backend and a real client: hop-by-hop headers
// removed both ways (and whatever Connection names), Forwarded / X-Forwarded-* written by Sluice,
// Host kept, x-request-id and traceparent kept or created, everything else passed unchanged.
// Checked on a KIngress route without header edits and on a Knative Service route (which has
// split headers), since the gateway builds the upstream headers differently for the two.
import t from 'tap'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { coreBackend, echo, kingress, send, yamlDocs, type Reply } from './helpers.ts'

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const TRACEPARENT_RE = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

// /hop answers with hop-by-hop headers of its own; /cookies with several Set-Cookie and odd values.
function special(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url === '/hop') {
    req.resume()
    res.writeHead(200, [
      'Connection', 'keep-alive, X-Resp-Secret',
      'Keep-Alive', 'timeout=7, max=3',
      'Proxy-Connection', 'keep-alive',
      'Upgrade', 'h2c',
      'Proxy-Authenticate', 'Basic realm="upstream"',
      'X-Resp-Secret', 'hidden',
      'X-Resp-Kept', 'kept',
      'Content-Type', 'text/plain',
    ])
    res.end('hop')
    return true
  }
  if (req.url === '/cookies') {
    req.resume()
    res.writeHead(201, 'Made Up Reason', [
      'Set-Cookie', 'a=1; Path=/', 'Set-Cookie', 'b=2; HttpOnly',
      'X-Odd', 'value with  two spaces, a comma; and "quotes"',
      'Cache-Control', 'no-store', 'ETag', '"abc"', 'Content-Length', '2',
    ])
    res.end('ok')
    return true
  }
  return false
}

const backend = await startBackend('hdr', special)
t.teardown(() => backend.close())

const s = await startSluice({
  'plain.yaml': yamlDocs(...coreBackend('plain', backend.port), kingress('plain', [{ hosts: ['plain.example.com'], paths: [{ splits: [{ service: 'plain' }] }] }])),
  'svc.yaml': serviceYaml('svc', backend.origin),
})
t.teardown(() => s.stop())

const ROUTES = ['plain.example.com', 'svc.default.localhost']

async function seen(host: string, opts: Parameters<typeof send>[2] = {}): Promise<{ r: Reply; h: Record<string, string | string[] | undefined> }> {
  const r = await send(s.port, host, opts)
  if (r.status !== 200) throw new Error(`${host}: ${r.status} ${r.text}`)
  return { r, h: echo(r).headers }
}

for (const host of ROUTES) {
  t.test(`${host}: hop-by-hop request headers and the ones Connection names do not reach the backend`, async (t) => {
    const { h } = await seen(host, {
      headers: [
        ['Connection', 'keep-alive, X-Foo, x-also'],
        ['Keep-Alive', 'timeout=5, max=100'],
        ['Proxy-Connection', 'keep-alive'],
        ['TE', 'trailers, deflate'],
        ['Upgrade', 'websocket'],
        ['X-Foo', 'secret'],
        ['X-Also', 'secret'],
        ['X-Bar', 'kept'],
      ],
    })
    for (const name of ['keep-alive', 'proxy-connection', 'te', 'upgrade', 'x-foo', 'x-also']) t.equal(h[name], undefined, `${name} removed`)
    t.not(h.connection, 'keep-alive, X-Foo, x-also', 'the client Connection header is not forwarded')
    t.equal(h['x-bar'], 'kept')

    // an upgrade to anything but websocket (here a made-up protocol) is answered as plain
    // HTTP/1.1: no Upgrade upstream (WebSockets are tunnelled: test/websocket)
    const up = await seen(host, { headers: [['Connection', 'Upgrade, X-Foo'], ['Upgrade', 'foo/1'], ['X-Foo', 'secret'], ['X-Bar', 'kept']] })
    t.equal(up.h.upgrade, undefined)
    t.equal(up.h['x-foo'], undefined)
    t.equal(up.h['x-bar'], 'kept')
    t.not(String(up.h.connection ?? '').toLowerCase().includes('upgrade'), true, 'no Connection: upgrade upstream')
  })

  t.test(`${host}: request framing is redone for the upstream`, async (t) => {
    // chunked upload: the body arrives whole, re-framed by the proxy
    const chunked = await send(s.port, host, {
      method: 'POST', path: '/?sink=1',
      body: async function* () { yield Buffer.alloc(1000, 'a'); yield Buffer.alloc(2345, 'b') },
    })
    t.equal(chunked.status, 200)
    t.same(JSON.parse(chunked.text), { received: 3345 })
    // content-length upload keeps its length
    const fixed = await seen(host, { method: 'POST', body: 'x'.repeat(777), headers: { 'content-type': 'text/plain' } })
    t.equal(fixed.h['content-length'], '777')
    t.equal(fixed.h['transfer-encoding'], undefined)
    t.equal(fixed.h['content-type'], 'text/plain')
  })

  t.test(`${host}: hop-by-hop response headers do not reach the client`, async (t) => {
    const r = await send(s.port, host, { path: '/hop' })
    t.equal(r.status, 200)
    t.equal(r.text, 'hop')
    t.equal(r.headers['x-resp-secret'], undefined, 'header named in the upstream Connection removed')
    t.equal(r.headers['x-resp-kept'], 'kept')
    t.equal(r.headers['proxy-connection'], undefined)
    t.equal(r.headers.upgrade, undefined)
    t.equal(r.headers['proxy-authenticate'], undefined)
    t.not(r.headers['keep-alive'], 'timeout=7, max=3', "the upstream's Keep-Alive is not passed on")
    t.notMatch(String(r.headers.connection), /x-resp-secret/i)
  })

  t.test(`${host}: response headers, status text and Set-Cookie pass unchanged`, async (t) => {
    const r = await send(s.port, host, { path: '/cookies' })
    t.equal(r.status, 201)
    t.same(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; HttpOnly'])
    t.equal(r.headers['x-odd'], 'value with  two spaces, a comma; and "quotes"')
    t.equal(r.headers['cache-control'], 'no-store')
    t.equal(r.headers.etag, '"abc"')
    t.equal(r.headers['content-length'], '2')
    t.equal(r.text, 'ok')
  })

  t.test(`${host}: Forwarded and X-Forwarded-* are created when absent`, async (t) => {
    const { h } = await seen(host)
    t.equal(h.forwarded, `for=127.0.0.1;host=${host};proto=http`)
    t.equal(h['x-forwarded-for'], '127.0.0.1')
    t.equal(h['x-forwarded-proto'], 'http')
    t.equal(h['x-forwarded-host'], host)
    t.equal(h.host, host, 'Host kept')
    // a host with a port is not an RFC 7239 token: it is quoted
    const withPort = await seen(`${host}:8080`)
    t.equal(withPort.h.forwarded, `for=127.0.0.1;host="${host}:8080";proto=http`)
    t.equal(withPort.h.host, `${host}:8080`, 'Host with port kept')
    t.equal(withPort.h['x-forwarded-host'], `${host}:8080`)
  })

  t.test(`${host}: a client's Forwarded / X-Forwarded-* are overwritten (no trusted proxies by default)`, async (t) => {
    // kept and appended to from a trusted proxy: test/gateway/forwarded-trust.test.ts
    const { h } = await seen(host, {
      headers: {
        Forwarded: 'for=192.0.2.60;proto=https;by=203.0.113.43',
        'X-Forwarded-For': '203.0.113.7, 198.51.100.2',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'original.example.org',
      },
    })
    t.equal(h.forwarded, `for=127.0.0.1;host=${host};proto=http`)
    t.equal(h['x-forwarded-for'], '127.0.0.1')
    t.equal(h['x-forwarded-proto'], 'http')
    t.equal(h['x-forwarded-host'], host)
    t.equal(h.host, host)
  })

  t.test(`${host}: x-request-id kept when sent, created (UUID) when not`, async (t) => {
    const kept = await seen(host, { headers: { 'X-Request-Id': 'my-id-123' } })
    t.equal(kept.h['x-request-id'], 'my-id-123')
    const a = (await seen(host)).h['x-request-id']
    const b = (await seen(host)).h['x-request-id']
    t.match(a, UUID_RE)
    t.match(b, UUID_RE)
    t.not(a, b, 'a new id per request')
  })

  t.test(`${host}: traceparent kept when valid, created when absent or invalid`, async (t) => {
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    t.equal((await seen(host, { headers: { traceparent: valid, tracestate: 'congo=t61rcWkgMzE' } })).h.traceparent, valid)
    t.equal((await seen(host, { headers: { traceparent: valid, tracestate: 'congo=t61rcWkgMzE' } })).h.tracestate, 'congo=t61rcWkgMzE')
    const created = (await seen(host)).h.traceparent
    t.match(created, TRACEPARENT_RE, 'created when absent')
    const invalid = [
      'garbage',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero parent id
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', // upper case
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff is invalid
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', // no flags
    ]
    for (const bad of invalid) {
      const got = (await seen(host, { headers: { traceparent: bad } })).h.traceparent
      t.not(got, bad, `${bad} replaced`)
      t.match(got, TRACEPARENT_RE, `${bad} replaced by a valid one`)
    }
  })

  t.test(`${host}: user headers reach the backend unchanged`, async (t) => {
    const { h, r } = await seen(host, {
      method: 'PUT',
      path: '/some/path?a=1&b=%20two',
      body: '{}',
      headers: [
        ['Authorization', 'Bearer abc.def.ghi'],
        ['User-Agent', 'sluice-test/1.0 (+https://example.org)'],
        ['Accept', 'application/json, text/plain;q=0.5'],
        ['Accept-Encoding', 'gzip, br'],
        ['Content-Type', 'application/json; charset=utf-8'],
        ['Cookie', 'a=1'],
        ['Cookie', 'b=2'],
        ['X-Custom', 'value with  two spaces, a comma; and "quotes"'],
        ['X-Multi', '1'],
        ['X-Multi', '2'],
        ['If-None-Match', '"xyz"'],
        ['Cache-Control', 'no-cache'],
      ],
    })
    const e = echo(r)
    t.equal(e.method, 'PUT')
    t.equal(e.url, '/some/path?a=1&b=%20two')
    t.equal(h.authorization, 'Bearer abc.def.ghi')
    t.equal(h['user-agent'], 'sluice-test/1.0 (+https://example.org)')
    t.equal(h.accept, 'application/json, text/plain;q=0.5')
    t.equal(h['accept-encoding'], 'gzip, br')
    t.equal(h['content-type'], 'application/json; charset=utf-8')
    t.equal(h.cookie, 'a=1; b=2')
    t.equal(h['x-custom'], 'value with  two spaces, a comma; and "quotes"')
    t.equal(h['x-multi'], '1, 2')
    t.equal(h['if-none-match'], '"xyz"')
    t.equal(h['cache-control'], 'no-cache')
    t.equal(h['content-length'], '2')
  })
}

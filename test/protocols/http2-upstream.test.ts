// Conformance basics/http2 and runtime/protocol: the ingress speaks h2c to a backend whose
// Service port is named `http2` or `h2c`, or has appProtocol kubernetes.io/h2c (and to a Revision
// whose container port is named h2c), whatever the client speaks; any other port gets HTTP/1.1.
// The h2c backend is Node's http2.createServer, which cannot answer HTTP/1.1 at all.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { kingress, send, yamlDocs, type Echo } from '../gateway/helpers.ts'
import { startH2cBackend, type H2Seen } from './fixtures/h2c-backend.ts'
import { closeSession, h2Connect, h2Request, namedService, type PortSpec } from './fixtures/routes.ts'

const h2 = await startH2cBackend('h2c')
t.teardown(() => h2.close())
const h1 = await startBackend('h1')
t.teardown(() => h1.close())

/** route name → the Service port and the backend behind it */
const ROUTES: { name: string; port: PortSpec; to: 'h2' | 'h1' }[] = [
  { name: 'named-http2', port: { name: 'http2', appProtocol: 'kubernetes.io/h2c' }, to: 'h2' }, // what the conformance test writes
  { name: 'only-http2', port: { name: 'http2' }, to: 'h2' },
  { name: 'named-h2c', port: { name: 'h2c' }, to: 'h2' },
  { name: 'app-protocol', port: { name: 'web', appProtocol: 'kubernetes.io/h2c' }, to: 'h2' },
  { name: 'named-http', port: { name: 'http' }, to: 'h1' },
  { name: 'unnamed', port: {}, to: 'h1' },
  { name: 'unnamed-h2', port: {}, to: 'h2' },
]
const host = (name: string): string => `${name}.example.com`

/** A Knative Service served by a fixed upstream, its container port named `portName`. */
function ksvc(name: string, origin: string, portName: string): string {
  return [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`, '  namespace: default', 'spec:',
    '  template:', '    metadata:', '      annotations:', `        sluice.dev/upstream: ${origin}`, '    spec:', '      containers:',
    '        - image: example.dev/runtime', '          ports:', `            - name: ${portName}`, '              containerPort: 8080',
  ].join('\n') + '\n'
}

const files: Record<string, string> = {
  'ksvc-h2c.yaml': ksvc('rev-h2c', `http://127.0.0.1:${h2.port}`, 'h2c'),
  'ksvc-http1.yaml': ksvc('rev-http1', h1.origin, 'http1'),
}
for (const r of ROUTES) {
  files[`${r.name}.yaml`] = yamlDocs(...namedService(r.name, r.to === 'h2' ? h2.port : h1.port, r.port),
    kingress(r.name, [{ hosts: [host(r.name)], paths: [{ splits: [{ service: r.name }] }] }]))
}
const s = await startSluice(files)
t.teardown(() => s.stop())

function seenBy(text: string): H2Seen | Echo {
  return JSON.parse(text) as H2Seen | Echo
}

t.test('an HTTP/1.1 client reaches an h2c backend over HTTP/2', async (t) => {
  for (const r of ROUTES.filter((r) => r.to === 'h2')) {
    if (r.name === 'unnamed-h2') continue
    const reply = await send(s.port, host(r.name), { path: `/${r.name}?q=1`, headers: { 'x-custom': 'yes', connection: 'keep-alive, x-hop', 'x-hop': 'dropped' } })
    t.equal(reply.status, 200, `${r.name}: 200`)
    const seen = seenBy(reply.text) as H2Seen
    t.equal(seen.httpVersion, '2.0', `${r.name}: the backend sees HTTP/2 (protoMajor 2)`)
    t.equal(seen.authority, host(r.name), `${r.name}: Host became :authority`)
    t.equal(seen.url, `/${r.name}?q=1`)
    t.equal(seen.headers['x-custom'], 'yes')
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    t.equal(seen.headers['x-forwarded-proto'], 'http')
    t.equal(seen.headers['x-hop'], undefined, 'headers named in Connection are dropped')
    t.equal(seen.headers.connection, undefined)
  }
})

t.test('a port neither named http2/h2c nor with appProtocol h2c gets HTTP/1.1', async (t) => {
  for (const name of ['named-http', 'unnamed']) {
    const reply = await send(s.port, host(name), { path: '/' })
    t.equal(reply.status, 200, `${name}: 200`)
    t.equal((seenBy(reply.text) as Echo).httpVersion, '1.1', `${name}: the backend sees HTTP/1.1`)
  }
  // The port name alone decides: an h2-only server behind an unnamed port cannot be spoken to.
  const reply = await send(s.port, host('unnamed-h2'), { path: '/' })
  t.equal(reply.status, 502, 'an h2-only backend behind a plain port answers nothing useful (502)')
})

t.test('a Revision whose container port is named h2c is spoken to in HTTP/2', async (t) => {
  const r2 = await send(s.port, 'rev-h2c.default.localhost')
  t.equal(r2.status, 200, 'rev-h2c: 200')
  t.equal((seenBy(r2.text) as H2Seen).httpVersion, '2.0')
  const r1 = await send(s.port, 'rev-http1.default.localhost')
  t.equal(r1.status, 200, 'rev-http1: 200')
  t.equal((seenBy(r1.text) as Echo).httpVersion, '1.1')
})

t.test('an h2c client to an h2c backend', async (t) => {
  const session = await h2Connect(`http://127.0.0.1:${s.port}`)
  t.teardown(() => closeSession(session))
  const r = await h2Request(session, { ':method': 'GET', ':path': '/both', ':authority': host('named-http2') })
  t.equal(r.status, 200)
  const seen = seenBy(r.text) as H2Seen
  t.equal(seen.httpVersion, '2.0')
  t.equal(seen.authority, host('named-http2'))
  t.same(Object.keys(seen.headers).filter((k) => k.startsWith(':')), [])

  const body = randomBytes(512 * 1024)
  const echoed = await h2Request(session, { ':method': 'POST', ':path': '/?echo=1', ':authority': host('named-h2c') }, body)
  t.equal(echoed.status, 200)
  t.ok(echoed.body.equals(body), 'a body without content-length goes up and comes back whole')
})

t.test('bodies and trailers through an h2c upstream for an HTTP/1.1 client', async (t) => {
  const body = randomBytes(1024 * 1024)
  const r = await send(s.port, host('named-http2'), { method: 'POST', path: '/?echo=1', body })
  t.equal(r.status, 200)
  t.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(body).digest('hex'), 'sized upload echoed')

  async function* chunks(): AsyncIterable<Buffer> {
    for (let i = 0; i < 4; i++) { yield Buffer.alloc(1000, 97 + i); await new Promise((r) => setTimeout(r, 10)) }
  }
  const chunked = await send(s.port, host('named-http2'), { method: 'POST', path: '/?echo=1', body: chunks })
  t.equal(chunked.status, 200)
  t.equal(chunked.text, 'a'.repeat(1000) + 'b'.repeat(1000) + 'c'.repeat(1000) + 'd'.repeat(1000), 'chunked upload echoed')

  const tr = await send(s.port, host('named-http2'), { path: '/?trailers=1' })
  t.equal(tr.status, 200)
  t.equal(tr.trailers['x-checksum'], 'ok', 'HTTP/2 trailers become chunked trailers')
})

t.test('requests to an h2c backend share a few multiplexed connections', async (t) => {
  const before = h2.sessions
  const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => send(s.port, host('named-h2c'), { path: `/many/${i}` })))
  t.same(replies.map((r) => r.status), Array(60).fill(200))
  t.ok(h2.sessions - before <= 4, `60 concurrent requests opened ${h2.sessions - before} new h2 connections`)
})

// What the fast path does not serve reaches Node's server (the path Sluice had before it) from the
// message's first byte, on a new connection or in the middle of a kept-alive one: upgrades, Expect,
// chunked request bodies, HTTP/1.0, absolute-form targets, CONNECT, requests without Host, input
// llhttp refuses, and routes with plugins. Each answer is checked, and so is the metric that counts
// which path read the request (sluice_http1_requests_total{path}). SLUICE_FAST_PATH=off sends
// everything to Node's server.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { startSluice, eventually } from '../fixtures/sluice.ts'
import { rawConversation, sample, yamlDocs, kingress, coreBackend } from '../gateway/helpers.ts'
import { service, plugin, docs, hostOf } from '../plugins/fixtures/e2e.ts'

const H = 'fallback.default.localhost'
const backend = http.createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = `${req.method} ${req.url} body=${Buffer.concat(chunks).toString('latin1')}`
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
})
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
const port = (backend.address() as AddressInfo).port
const files = {
  'routes.yaml': yamlDocs(kingress('fallback', [{ hosts: [H], paths: [{ splits: [{ service: 'be' }] }] }]), ...coreBackend('be', port)),
  'plugins.yaml': docs(service('guarded', `http://127.0.0.1:${port}`, 'hdr'), plugin('hdr', 'headers', { response: { set: { 'x-plugin': 'ran' } } })),
}
const s = await startSluice(files)
t.teardown(async () => {
  await s.stop()
  backend.close()
})
t.ok(await eventually(async () => (await rawConversation(s.port, `GET /ready HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`)).text.startsWith('HTTP/1.1 200')), 'routed')

const count = (path: 'fast' | 'node'): Promise<number> => sample(s, 'sluice_http1_requests_total', { path })

interface Case { name: string; bytes: string; answer: RegExp; closed?: boolean }
const CASES: Case[] = [
  { name: 'Upgrade: h2c (not a WebSocket: answered as a plain request by the node:http path)', bytes: `GET /up HTTP/1.1\r\nHost: ${H}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`, answer: /^HTTP\/1\.1 200 OK[\s\S]*GET \/up body=$/ },
  { name: 'Expect: 100-continue', bytes: `POST /e HTTP/1.1\r\nHost: ${H}\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`, answer: /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK[\s\S]*POST \/e body=abc$/ },
  { name: 'chunked request body', bytes: `POST /c HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n`, answer: /^HTTP\/1\.1 200 OK[\s\S]*POST \/c body=abcde$/ },
  { name: 'HTTP/1.0', bytes: `GET /old HTTP/1.0\r\nHost: ${H}\r\n\r\n`, answer: /^HTTP\/1\.1 200 OK[\s\S]*GET \/old body=$/, closed: true },
  { name: 'absolute-form target', bytes: `GET http://${H}/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n`, answer: /^HTTP\/1\.1 200 OK[\s\S]*GET \/abs\?q=1 body=$/ },
  { name: 'no Host', bytes: 'GET / HTTP/1.1\r\n\r\n', answer: /^HTTP\/1\.1 400 Bad Request\r\n/, closed: true },
  { name: 'input llhttp refuses', bytes: `GET / HTTP/1.1\r\nHost: ${H}\r\nBad Name: x\r\n\r\n`, answer: /^HTTP\/1\.1 400 Bad Request\r\nconnection: close\r\n/, closed: true },
  { name: 'a route with plugins', bytes: `GET /p HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\n\r\n`, answer: /^HTTP\/1\.1 200 OK[\s\S]*GET \/p body=$/ },
]

for (const c of CASES) {
  t.test(c.name, async (t) => {
    // first on a new connection, then after a request the fast path served on the same one
    for (const before of ['', `GET /first HTTP/1.1\r\nHost: ${H}\r\n\r\n`]) {
      const fast0 = await count('fast')
      const node0 = await count('node')
      const closer = c.closed === true ? '' : `GET /last HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`
      const { text, closed } = await rawConversation(s.port, before + c.bytes + closer, 10_000)
      const answers = text.split(/(?=HTTP\/1\.1 [1-5]\d\d )/)
      const mine = before === '' ? answers.join('') : answers.slice(1).join('')
      if (before !== '') t.match(answers[0], /^HTTP\/1\.1 200 OK[\s\S]*GET \/first body=$/, 'the request before it was answered')
      t.match(mine.replace(/HTTP\/1\.1 200 OK(?:(?!HTTP\/1\.1 )[^])*GET \/last body=$/, ''), c.answer, `answered${before === '' ? '' : ' after a fast-path request'}`)
      t.ok(closed, 'the conversation ended')
      t.ok(await eventually(async () => (await count('node')) === node0 + 1), 'read by Node\'s server')
      t.equal(await count('fast'), fast0 + (before === '' ? 0 : 1), 'the fast path served only the request before it')
    }
  })
}

t.test('a plugin ran on the node:http path', async (t) => {
  const { text } = await rawConversation(s.port, `GET /p HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\nConnection: close\r\n\r\n`)
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*x-plugin: ran\r\n/)
})

t.test('SLUICE_FAST_PATH=off: every request is read by Node\'s server', async (t) => {
  const off = await startSluice(files, { env: { SLUICE_FAST_PATH: 'off' } })
  t.teardown(() => off.stop())
  t.ok(await eventually(async () => (await rawConversation(off.port, `GET /x HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`)).text.startsWith('HTTP/1.1 200')))
  t.equal(await sample(off, 'sluice_http1_requests_total', { path: 'fast' }), 0)
})

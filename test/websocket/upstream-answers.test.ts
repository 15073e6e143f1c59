// What the upstream answers to an upgrade decides what the exchange is: only a real 101 becomes a
// tunnel (its head and any bytes after it reach the client as sent); a 403 is an HTTP response
// relayed with its body and recorded as 403 (metrics, plugins' onComplete); garbage or a 101
// without an upgrade is a 502 counted as a protocol error, a hang-up a 502 counted as a reset; no
// answer within timeoutSeconds is a 504. The upstream request head is written by Node's HTTP client, so a plugin's header edit with
// CR/LF never reaches the upstream (500), and an absolute-form target goes upstream in origin form.
import t from 'tap'
import { WebSocket } from 'ws'
import http from 'node:http'
import net from 'node:net'
import { createHash } from 'node:crypto'
import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSluice, eventually, metric } from '../fixtures/sluice.ts'
import { upstreamService } from './fixtures/helpers.ts'
import { rawUpstream } from './fixtures/raw-upstream.ts'

const API = fileURLToPath(new URL('../../plugins/api.ts', import.meta.url))

// A text frame "hello" from a server: FIN + opcode 1, unmasked, length 5.
const HELLO_FRAME = Buffer.concat([Buffer.from([0x81, 0x05]), Buffer.from('hello')])

const up = await rawUpstream((p, head) => {
  switch (p) {
    case '/forbidden':
      return 'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nx-app: yes\r\nconnection: close, x-hop\r\nx-hop: dropped\r\ncontent-length: 10\r\n\r\nforbidden\n'
    case '/garbage':
      return 'SURPRISE 200\r\n\r\n'
    case '/bare-101':
      return 'HTTP/1.1 101 Switching Protocols\r\n\r\n'
    case '/silent':
      return null
    case '/hang-up':
      return (s) => s.destroy()
    case '/upgrade': {
      const key = /^sec-websocket-key: *(\S+)/im.exec(head)?.[1] ?? ''
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
      // The 101 and the first frame in one write: the frame must reach the client too.
      return (s) => s.write(Buffer.concat([
        Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-From-App: kept\r\n\r\n`),
        HELLO_FRAME,
      ]))
    }
    default:
      return 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'
  }
})
t.teardown(() => up.close())

const origin = `http://127.0.0.1:${up.port}`
const plugin = (name: string, kind: string, config = '{}') => `---
apiVersion: sluice.dev/v1alpha1
kind: Plugin
metadata: {name: ${name}}
spec:
  plugin: ${kind}
  config: ${config}
`
const s = await startSluice({
  'ws.yaml': upstreamService('answers', origin, { annotations: { 'sluice.dev/plugins': 'record' } }) +
    upstreamService('garbage', origin) +
    upstreamService('slow', origin, { spec: 'timeoutSeconds: 1' }) +
    upstreamService('inject', origin, { annotations: { 'sluice.dev/plugins': 'evil, record' } }) +
    upstreamService('abs', origin) +
    plugin('record', './record.ts') + plugin('evil', './evil.ts'),
  // Appends "<route> <status>" to complete.log from onComplete.
  'record.ts': `import { appendFileSync } from 'node:fs'
import path from 'node:path'
import { definePlugin } from ${JSON.stringify(API)}
export default definePlugin({
  name: 'record', priority: 1, validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create(_config, ctx) {
    const file = path.join(ctx.baseDir, 'complete.log')
    return { onComplete(req) { appendFileSync(file, req.route.name + ' ' + req.status + '\\n') } }
  },
})
`,
  // A header edit that would add a line of its own if written by concatenation.
  'evil.ts': `import { definePlugin } from ${JSON.stringify(API)}
export default definePlugin({
  name: 'evil', priority: 2, validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create() { return { onRequest(req) { req.requestHeaders.set('x-evil', 'a\\r\\nx-injected: 1') } } },
})
`,
})
t.teardown(() => s.stop())
const completeLog = path.join(s.configDir, 'complete.log')
const completed = (): string[] => (existsSync(completeLog) ? readFileSync(completeLog, 'utf8').split('\n').filter((l) => l !== '') : [])

type Answer =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: string }
  | { kind: 'upgrade'; status: number; headers: http.IncomingHttpHeaders; socket: net.Socket }

/** An upgrade request through Sluice, as a WebSocket client would send it; resolves with what came back. */
function upgrade(host: string, p: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: s.port, path: p, agent: false,
      headers: { host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`upgrade ${host}${p} timed out`)))
    req.on('upgrade', (res, socket) => resolve({ kind: 'upgrade', status: res.statusCode ?? 0, headers: res.headers, socket }))
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

const scrape = async (): Promise<string> => (await s.admin('/metrics')).body

t.test('the routes answer once the config is live', async (t) => {
  t.ok(await eventually(async () => (await upgrade('answers.default.localhost', '/forbidden')).status === 403, 10_000, 50))
})

t.test('a 403 to the upgrade reaches the client as a 403 with its body, recorded as 403', async (t) => {
  const before = completed().length
  const a = await upgrade('answers.default.localhost', '/forbidden')
  t.equal(a.kind, 'response', 'no upgrade')
  t.equal(a.status, 403)
  if (a.kind === 'response') t.equal(a.body, 'forbidden\n')
  t.equal(a.headers['x-app'], 'yes', 'end-to-end headers pass')
  t.equal(a.headers['x-hop'], undefined, 'headers named in Connection are dropped')
  t.equal(a.headers.upgrade, undefined)
  t.ok(up.heads.some((h) => h.startsWith('GET /forbidden HTTP/1.1\r\n') && /\r\nupgrade: websocket\r\n/i.test(h)), 'the upstream saw the upgrade request')
  t.ok(await eventually(() => completed().length > before && completed().at(-1) === 'answers 403', 3_000, 20), `onComplete saw 403 (${completed().join(',')})`)
  const m = await scrape()
  t.ok((metric(m, 'sluice_requests_total', { route: 'answers', class: '4xx' }) ?? 0) >= 2, '4xx recorded')
  t.equal(metric(m, 'sluice_requests_total', { route: 'answers', class: '1xx' }), undefined, 'no 101 recorded')
})

t.test('a real 101: its head and the bytes right after it reach the client', async (t) => {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/upgrade`, { headers: { host: 'answers.default.localhost' } })
  let fromApp: string | undefined
  ws.once('upgrade', (res) => { fromApp = res.headers['x-from-app'] as string | undefined })
  const msg = await new Promise<string>((resolve, reject) => {
    ws.once('message', (d) => resolve(String(d)))
    ws.once('error', reject)
  })
  t.equal(msg, 'hello', 'the frame sent with the 101 arrived (ws checked Sec-WebSocket-Accept)')
  t.equal(fromApp, 'kept', "the upstream's 101 headers arrived")
  ws.terminate()
  t.ok(await eventually(() => completed().at(-1) === 'answers 101', 3_000, 20), `onComplete saw 101 (${completed().join(',')})`)
})

t.test('garbage in answer to the upgrade: 502, counted as a protocol error', async (t) => {
  const a = await upgrade('garbage.default.localhost', '/garbage')
  t.equal(a.status, 502)
  t.equal(a.kind, 'response')
  const m = await scrape()
  t.ok((metric(m, 'sluice_upstream_errors_total', { route: 'garbage', kind: 'protocol' }) ?? 0) >= 1, 'protocol error counted')
  t.ok((metric(m, 'sluice_requests_total', { route: 'garbage', class: '5xx' }) ?? 0) >= 1, '5xx recorded')
})

t.test('a 101 that does not upgrade (no Upgrade/Connection): 502, counted as a protocol error', async (t) => {
  const before = metric(await scrape(), 'sluice_upstream_errors_total', { route: 'garbage', kind: 'protocol' }) ?? 0
  const a = await upgrade('garbage.default.localhost', '/bare-101')
  t.equal(a.kind, 'response')
  t.equal(a.status, 502)
  t.equal(metric(await scrape(), 'sluice_upstream_errors_total', { route: 'garbage', kind: 'protocol' }), before + 1)
})

t.test('the upstream closes without answering: 502, counted as a reset', async (t) => {
  const a = await upgrade('garbage.default.localhost', '/hang-up')
  t.equal(a.status, 502)
  t.ok((metric(await scrape(), 'sluice_upstream_errors_total', { route: 'garbage', kind: 'reset' }) ?? 0) >= 1)
})

t.test('no answer within timeoutSeconds: 504', async (t) => {
  const a = await upgrade('slow.default.localhost', '/silent')
  t.equal(a.status, 504)
  t.ok((metric(await scrape(), 'sluice_upstream_errors_total', { route: 'slow', kind: 'response_start_timeout' }) ?? 0) >= 1)
})

t.test('a plugin header edit with CR/LF never reaches the upstream: 500', async (t) => {
  const before = up.heads.length
  const a = await upgrade('inject.default.localhost', '/inject')
  t.equal(a.status, 500)
  t.equal(a.kind, 'response')
  t.equal(up.heads.length, before, 'no request reached the upstream')
  t.notOk(up.heads.some((h) => /x-injected/i.test(h)), 'no injected line anywhere upstream')
  t.ok(await eventually(() => completed().at(-1) === 'inject 500', 3_000, 20), `onComplete saw 500 (${completed().join(',')})`)
  t.ok((metric(await scrape(), 'sluice_requests_total', { route: 'inject', class: '5xx' }) ?? 0) >= 1, '5xx recorded')
})

// Upgrades are routed by the same decision as requests (gateway/routing.ts): the absolute-form
// target is routed by its authority and goes upstream in origin form.
t.test('an absolute-form upgrade target goes upstream in origin form', async (t) => {
  const before = up.heads.length
  const sock = net.connect(s.port, '127.0.0.1')
  sock.write('GET http://abs.default.localhost/abs?q=1 HTTP/1.1\r\nHost: abs.default.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  let answer = ''
  sock.setEncoding('latin1').on('data', (d: string) => { answer += d })
  await new Promise<void>((r) => { sock.on('close', () => r()); sock.on('error', () => r()) })
  t.match(answer, /^HTTP\/1\.1 404 /, "the upstream's 404 came back")
  const head = up.heads.slice(before).find((h) => h.includes('/abs'))
  t.equal(head?.slice(0, head.indexOf('\r\n')), 'GET /abs?q=1 HTTP/1.1', 'origin-form request line upstream')
})

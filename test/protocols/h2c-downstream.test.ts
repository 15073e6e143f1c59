// HTTP/2 with prior knowledge (h2c) from clients to the public port, which also serves HTTP/1.1:
// Node's http2 client and curl --http2-prior-knowledge against a plain HTTP/1.1 backend. Covers
// many concurrent streams on one connection, bodies both ways (sized and streamed), trailers, and
// the forwarded headers the backend sees (no pseudo-header leaks, X-Forwarded-For = the client).
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import net from 'node:net'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { coreBackend, kingress, send, yamlDocs, type Echo } from '../gateway/helpers.ts'
import { closeSession, curl, h2Connect, h2Request } from './fixtures/routes.ts'

const HOST = 'h2c.example.com'

// /slow holds requests until OVERLAP of them are held at once (then answers them all, and every
// later one at once), and records how many overlapped: a proxy that serialized streams would leave
// them held, each answered after 10 s instead. /echo-body answers with the request body and its sha256.
const OVERLAP = 50
let inflight = 0
let maxInflight = 0
let overlapped = false
const held = new Set<() => void>()
function special(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url?.startsWith('/slow')) {
    inflight++
    maxInflight = Math.max(maxInflight, inflight)
    req.resume()
    let answered = false
    const answer = (): void => {
      if (answered) return
      answered = true
      held.delete(answer)
      inflight--
      const id = String(req.headers['x-id'] ?? '')
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(id) })
      res.end(id)
    }
    if (overlapped) answer()
    else {
      held.add(answer)
      if (held.size >= OVERLAP) {
        overlapped = true
        for (const a of [...held]) a()
      } else setTimeout(answer, 10_000).unref()
    }
    return true
  }
  if (req.url?.startsWith('/echo-body')) {
    const hash = createHash('sha256')
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { hash.update(c); chunks.push(c) })
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-sha256': hash.digest('hex'), 'x-te': String(req.headers['transfer-encoding'] ?? ''), 'x-cl': String(req.headers['content-length'] ?? '') })
      res.end(body)
    })
    return true
  }
  return false
}

const backend = await startBackend('h1', special)
t.teardown(() => backend.close())

const s = await startSluice({
  'route.yaml': yamlDocs(...coreBackend('plain', backend.port), kingress('plain', [{ hosts: [HOST], paths: [{ splits: [{ service: 'plain' }] }] }])),
})
t.teardown(() => s.stop())
const ORIGIN = `http://127.0.0.1:${s.port}`

const session = await h2Connect(ORIGIN)
t.teardown(() => closeSession(session))

const get = (path: string, extra: Record<string, string> = {}) =>
  h2Request(session, { ':method': 'GET', ':path': path, ':authority': HOST, ':scheme': 'http', ...extra })

t.test('the Node http2 client gets a 200 from an HTTP/1.1 backend', async (t) => {
  const r = await get('/hello?x=1', { 'x-custom': 'kept' })
  t.equal(r.status, 200)
  t.equal(r.headers['x-backend'], 'h1')
  const seen = JSON.parse(r.text) as Echo
  t.equal(seen.httpVersion, '1.1', 'the backend is spoken to in HTTP/1.1')
  t.equal(seen.url, '/hello?x=1')
  t.equal(seen.method, 'GET')
  t.equal(seen.headers.host, HOST, ':authority becomes Host upstream')
  t.equal(seen.headers['x-custom'], 'kept')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-host'], HOST)
  t.equal(seen.headers.forwarded, `for=127.0.0.1;host=${HOST};proto=http`)
  t.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const leaked = Object.keys(seen.headers).filter((k) => k.startsWith(':') || k === 'http2-settings' || k === 'upgrade')
  t.same(leaked, [], 'no pseudo-headers or h2 settings reach the backend')
})

t.test('an unknown :authority is a 404 from the gateway, not the backend', async (t) => {
  const r = await h2Request(session, { ':method': 'GET', ':path': '/', ':authority': 'nobody.example.com', ':scheme': 'http' })
  t.equal(r.status, 404)
  t.equal(r.headers['x-backend'], undefined)
})

t.test('curl --http2-prior-knowledge', async (t) => {
  const r = await curl(['--http2-prior-knowledge', '-w', '\n%{http_version} %{http_code}', '--resolve', `${HOST}:${s.port}:127.0.0.1`,
    `http://${HOST}:${s.port}/via/curl`])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.equal(lines.at(-1), '2 200', 'HTTP/2 and 200')
  const seen = JSON.parse(lines.slice(0, -1).join('\n')) as Echo
  t.equal(seen.url, '/via/curl')
  t.equal(seen.headers.host, `${HOST}:${s.port}`, 'host:port authority matches the host')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')

  // Sized (content-length) and unknown-length (`-T -`: no content-length on h2) uploads.
  const body = randomBytes(300 * 1024)
  for (const [how, args] of [['sized', ['--data-binary', '@-']], ['unknown length', ['-T', '-', '-X', 'POST']]] as const) {
    const up = await curl(['--http2-prior-knowledge', '-w', '\n%{http_version} %{http_code}', '-H', `Host: ${HOST}`,
      '-H', 'content-type: application/octet-stream', ...args, `${ORIGIN}/?sink=1`], { input: body })
    t.equal(up.code, 0, up.stderr)
    const [json, status] = up.stdout.split('\n')
    t.equal(status, '2 200', `${how} upload: HTTP/2 and 200`)
    t.same(JSON.parse(json!), { received: body.length }, `${how} upload: the backend got every byte`)
  }
})

t.test('HTTP/1.1 still works on the same port', async (t) => {
  const r = await send(s.port, HOST, { path: '/one' })
  t.equal(r.status, 200)
  const seen = JSON.parse(r.text) as Echo
  t.equal(seen.url, '/one')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  const c = await curl(['--http1.1', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '-H', `Host: ${HOST}`, `${ORIGIN}/two`])
  t.equal(c.stdout, '1.1 200')
})

t.test('first bytes that trickle in one at a time are still told apart', async (t) => {
  // HTTP/1.1, "P" then "U" then the rest: a PUT, not the start of the h2 preface.
  const h1 = await trickle(`PUT /trickle HTTP/1.1\r\nHost: ${HOST}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`, 4, (b) => b.includes('\r\n'))
  t.match(h1.toString('latin1'), /^HTTP\/1\.1 200 /, 'HTTP/1.1 answered')
  // h2: the preface split after "P" and "PR"; the server's SETTINGS frame (type 4) comes back.
  const preface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])
  const h2 = await trickle(preface, 3, (b) => b.length >= 9)
  t.ok(h2.length >= 9 && h2[3] === 4, `an HTTP/2 SETTINGS frame came back (${h2.subarray(0, 9).toString('hex')})`)
})

/**
 * Writes the first `slow` bytes one by one (25 ms apart: the slowness is the behaviour under test),
 * then the rest; resolves with what came back once it is `enough`, the server closes, or 10 s pass.
 */
function trickle(data: string | Buffer, slow: number, enough: (got: Buffer) => boolean): Promise<Buffer> {
  const bytes = Buffer.from(data)
  return new Promise((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1')
    const got: Buffer[] = []
    const done = (): void => { clearTimeout(timer); socket.destroy(); resolve(Buffer.concat(got)) }
    const timer = setTimeout(done, 10_000)
    socket.on('data', (c: Buffer) => { got.push(c); if (enough(Buffer.concat(got))) done() })
    socket.on('close', done)
    socket.on('error', reject)
    socket.on('connect', async () => {
      for (let i = 0; i < slow; i++) {
        socket.write(bytes.subarray(i, i + 1))
        await new Promise((r) => setTimeout(r, 25))
      }
      socket.write(bytes.subarray(slow))
    })
  })
}

t.test('many concurrent streams on one connection', async (t) => {
  maxInflight = 0
  overlapped = false
  const N = 200
  const replies = await Promise.all(Array.from({ length: N }, (_, i) => get(`/slow/${i}`, { 'x-id': `stream-${i}` })))
  t.same(replies.map((r) => r.status), Array(N).fill(200))
  t.same(replies.map((r) => r.text), Array.from({ length: N }, (_, i) => `stream-${i}`), 'each stream got its own answer')
  t.ok(overlapped && maxInflight >= OVERLAP, `the backend saw them overlap (max ${maxInflight} at once)`)
  t.notOk(session.destroyed, 'the connection survived')
})

t.test('request and response bodies', async (t) => {
  t.test('a sized upload is echoed byte for byte', async (t) => {
    const body = randomBytes(2 * 1024 * 1024)
    const r = await h2Request(session, { ':method': 'POST', ':path': '/echo-body', ':authority': HOST, 'content-length': String(body.length) }, body)
    t.equal(r.status, 200)
    t.equal(r.headers['x-sha256'], createHash('sha256').update(body).digest('hex'))
    t.ok(r.body.equals(body), 'the response body is the request body')
  })

  t.test('an upload without content-length (as gRPC and streaming clients send)', async (t) => {
    const body = randomBytes(256 * 1024)
    const r = await h2Request(session, { ':method': 'POST', ':path': '/echo-body', ':authority': HOST }, body)
    t.equal(r.status, 200)
    t.equal(r.headers['x-sha256'], createHash('sha256').update(body).digest('hex'), 'the backend got the whole body')
    t.equal(r.headers['x-te'], 'chunked', 'sent upstream chunked')
    t.equal(r.body.length, body.length)
  })

  t.test('a streamed upload in several DATA frames', async (t) => {
    const stream = session.request({ ':method': 'PUT', ':path': '/echo-body', ':authority': HOST })
    const parts = Array.from({ length: 5 }, (_, i) => Buffer.alloc(10_000, 65 + i))
    const got = new Promise<{ status: number; sha: string; length: number }>((resolve, reject) => {
      let status = 0
      let sha = ''
      let length = 0
      const timer = setTimeout(() => { stream.close(); reject(new Error('streamed upload timed out')) }, 10_000)
      stream.on('response', (h) => { status = Number(h[':status']); sha = String(h['x-sha256']) })
      stream.on('data', (c: Buffer) => { length += c.length })
      stream.on('end', () => { clearTimeout(timer); resolve({ status, sha, length }) })
      stream.on('error', (e) => { clearTimeout(timer); reject(e) })
    })
    for (const p of parts) {
      stream.write(p)
      await new Promise((r) => setTimeout(r, 20))
    }
    stream.end()
    const r = await got
    t.equal(r.status, 200)
    t.equal(r.sha, createHash('sha256').update(Buffer.concat(parts)).digest('hex'))
    t.equal(r.length, 50_000)
  })

  t.test('a large download', async (t) => {
    const r = await get('/?bytes=8388608')
    t.equal(r.status, 200)
    t.equal(r.body.length, 8388608)
  })

  t.test('response trailers reach the h2 client', async (t) => {
    const r = await get('/?trailers=1')
    t.equal(r.status, 200)
    t.equal(r.text, 'body with trailers\n')
    t.equal(r.trailers['x-checksum'], 'ok')
  })
})

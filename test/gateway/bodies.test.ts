// Bodies through a real `sluice serve`: chunked and streamed responses arrive as they are written,
// response trailers reach the client, Expect: 100-continue uploads work, request bodies stream to
// the backend before the upload ends, and bytes arrive intact both ways.
import t from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { startBackend } from '../fixtures/backend.ts'
import { serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { send } from './helpers.ts'

const RANDOM = randomBytes(8 * 1024 * 1024 + 17)
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function special(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? ''
  if (url === '/sha') {
    // the hash and length of the request body
    const h = createHash('sha256')
    let n = 0
    req.on('data', (c: Buffer) => { h.update(c); n += c.length })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ n, sha: h.digest('hex'), expect: req.headers.expect ?? null, te: req.headers['transfer-encoding'] ?? null }))
    })
    return true
  }
  if (url === '/random') {
    // random bytes in uneven chunks, chunked framing
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    let off = 0
    const pump = (): void => {
      while (off < RANDOM.length) {
        const n = Math.min(RANDOM.length - off, 10_000 + (off % 50_000))
        const ok = res.write(RANDOM.subarray(off, off + n))
        off += n
        if (!ok) { res.once('drain', pump); return }
      }
      res.end()
    }
    pump()
    return true
  }
  if (url === '/first-chunk') {
    // answers as soon as the first request bytes arrive, then drains the rest
    req.once('data', (c: Buffer) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write(`first ${c.length}\n`)
      let rest = 0
      req.on('data', (d: Buffer) => { rest += d.length })
      req.on('end', () => res.end(`rest ${rest}\n`))
    })
    return true
  }
  if (url === '/trailers-multi') {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, x-count' })
    res.write('part 1\n')
    res.write('part 2\n')
    res.addTrailers({ 'x-checksum': 'sha256=abc', 'x-count': '2' })
    res.end()
    return true
  }
  return false
}

const backend = await startBackend('bodies', special)
t.teardown(() => backend.close())
const s = await startSluice({ 'svc.yaml': serviceYaml('bodies', backend.origin) })
t.teardown(() => s.stop())
const HOST = 'bodies.default.localhost'

t.test('chunked responses stream chunk by chunk', async (t) => {
  const arrivals: number[] = []
  const r = await send(s.port, HOST, { path: '/?stream=3&every=300', onData: (_c, ms) => arrivals.push(ms) })
  t.equal(r.status, 200)
  t.equal(r.headers['transfer-encoding'], 'chunked')
  t.equal(r.headers['content-length'], undefined)
  t.equal(r.headers['content-type'], 'text/plain')
  t.equal(r.text, 'chunk 3\nchunk 2\nchunk 1\n')
  t.ok(r.complete)
  t.ok(arrivals.length >= 3, `${arrivals.length} separate arrivals`)
  // the backend spreads its chunks over 600 ms; a buffering proxy would deliver them together
  t.ok(arrivals.at(-1)! - arrivals[0]! >= 450, `first chunk at ${arrivals[0]!.toFixed(0)} ms, last at ${arrivals.at(-1)!.toFixed(0)} ms`)
})

t.test('server-sent events: the first event arrives well before the stream ends', async (t) => {
  const events: number[] = []
  const r = await send(s.port, HOST, { path: '/?sse=3&every=1000', onData: (_c, ms) => events.push(ms) })
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'text/event-stream')
  t.equal(r.headers['cache-control'], 'no-cache')
  t.equal(r.text, 'data: event 3\n\ndata: event 2\n\ndata: event 1\n\n')
  // The backend writes an event every second; a buffering proxy would deliver all at the end. Times
  // relative to the end of the stream, so a slow machine (which delays everything) cannot fail it.
  t.ok(r.totalMs - r.headMs >= 1500, `headers after ${r.headMs.toFixed(0)} ms, stream ended at ${r.totalMs.toFixed(0)} ms`)
  t.ok(r.totalMs - events[0]! >= 1500, `first event after ${events[0]!.toFixed(0)} ms, stream ended ${(r.totalMs - events[0]!).toFixed(0)} ms later`)
})

t.test('response trailers reach the client', async (t) => {
  const one = await send(s.port, HOST, { path: '/?trailers=1', headers: { te: 'trailers' } })
  t.equal(one.status, 200)
  t.equal(one.text, 'body with trailers\n')
  t.equal(one.headers.trailer, 'x-checksum')
  t.same(one.trailers, { 'x-checksum': 'ok' })
  const two = await send(s.port, HOST, { path: '/trailers-multi' })
  t.equal(two.text, 'part 1\npart 2\n')
  t.same(two.trailers, { 'x-checksum': 'sha256=abc', 'x-count': '2' })
})

t.test('Expect: 100-continue: the client gets 100, sends the body, then gets 200', async (t) => {
  const body = RANDOM.subarray(0, 300_000)
  const r = await send(s.port, HOST, { method: 'POST', path: '/sha', body, expectContinue: true, headers: { 'content-length': String(body.length) } })
  t.ok(r.continued, '100 Continue received')
  t.equal(r.status, 200)
  const got = JSON.parse(r.text) as { n: number; sha: string; expect: string | null }
  t.equal(got.n, body.length)
  t.equal(got.sha, sha(body))
  t.equal(got.expect, null, 'the gateway answered the expectation; the backend just gets the body')
})

t.test('request bodies arrive intact, fixed length or chunked', async (t) => {
  const fixed = await send(s.port, HOST, { method: 'POST', path: '/sha', body: RANDOM, timeoutMs: 20_000 })
  t.same(JSON.parse(fixed.text), { n: RANDOM.length, sha: sha(RANDOM), expect: null, te: null })
  const chunked = await send(s.port, HOST, {
    method: 'PUT', path: '/sha', timeoutMs: 20_000,
    body: async function* () { for (let off = 0; off < RANDOM.length; off += 333_333) yield RANDOM.subarray(off, off + 333_333) },
  })
  t.same(JSON.parse(chunked.text), { n: RANDOM.length, sha: sha(RANDOM), expect: null, te: 'chunked' })
})

t.test('response bodies arrive intact', async (t) => {
  const r = await send(s.port, HOST, { path: '/random', timeoutMs: 20_000 })
  t.equal(r.status, 200)
  t.equal(r.length, RANDOM.length)
  t.equal(sha(r.body), sha(RANDOM))
  const sized = await send(s.port, HOST, { path: `/?bytes=${5 * 1024 * 1024 + 3}`, timeoutMs: 20_000 })
  t.equal(sized.headers['content-length'], String(5 * 1024 * 1024 + 3))
  t.equal(sized.length, 5 * 1024 * 1024 + 3)
})

t.test('request bodies stream: the backend answers before the upload ends', async (t) => {
  const result = await new Promise<{ head: string; rest: string }>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: s.port, method: 'POST', path: '/first-chunk',
      headers: { host: HOST, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }, agent: false,
    })
    const timer = setTimeout(() => { req.destroy(); reject(new Error('the backend did not see the first chunk while the upload was open')) }, 20_000)
    req.on('error', (e) => { clearTimeout(timer); reject(e) })
    req.write(Buffer.alloc(1000, 'a'))
    req.on('response', (res) => {
      let head = ''
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        text += d
        if (head === '' && text.includes('\n')) {
          head = text
          // only now finish the upload
          req.end(Buffer.alloc(5000, 'b'))
        }
      })
      res.on('end', () => { clearTimeout(timer); resolve({ head, rest: text.slice(head.length) }) })
    })
  })
  t.equal(result.head, 'first 1000\n')
  t.equal(result.rest, 'rest 5000\n')
})

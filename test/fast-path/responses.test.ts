// Upstream responses through the fast path and through Node's server + undici, compared: two
// Sluice processes (SLUICE_FAST_PATH on and off) in front of one raw upstream that answers each
// path with fixed bytes: Content-Length, chunked (with trailers), close-delimited, HTTP/1.0, 1xx
// before the answer, HEAD, 204/304, hop-by-hop headers, and framing llhttp refuses. The client must
// get the same answer from both (status, reason, headers, body, the cut or the 502, whether the
// connection stays open for the next request).
import t from 'tap'
import net, { type AddressInfo } from 'node:net'
import { startSluice, eventually, type SluiceProcess } from '../fixtures/sluice.ts'
import { yamlDocs, kingress, coreBackend } from '../gateway/helpers.ts'

const H = 'responses.default.localhost'

interface Case {
  name: string
  method?: string
  answer: string
  /** the upstream closes after answering */
  close?: boolean
  /** a known difference: what the fast path answers (checked), where the old path answers otherwise */
  fastAnswers?: RegExp
}

const CASES: Case[] = [
  { name: 'content-length', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello' },
  { name: 'chunked', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n' },
  { name: 'chunked with trailers', answer: 'HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n' },
  { name: 'chunked with extensions', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\n\r\n' },
  { name: 'close-delimited', answer: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the close', close: true },
  { name: 'HTTP/1.0 without length', answer: 'HTTP/1.0 200 OK\r\n\r\nold style', close: true },
  { name: 'HTTP/1.0 keep-alive with length', answer: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok' },
  { name: '103 then 200', answer: 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' },
  // undici fails on a 100 it did not ask for (502 UND_ERR_SOCKET); llhttp reads it as the interim
  // answer it is, and the fast path forwards the 200 after it
  { name: '100 then 200', answer: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', fastAnswers: /^HTTP\/1\.1 200 OK\r\ncontent-length: 2\r\n/ },
  { name: 'HEAD with content-length', method: 'HEAD', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n' },
  { name: 'HEAD with chunked', method: 'HEAD', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' },
  { name: 'HEAD without framing', method: 'HEAD', answer: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n' },
  { name: '204', answer: 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n' },
  { name: '204 claiming a length', answer: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n' },
  { name: '304', answer: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n' },
  { name: 'empty body with length 0', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'reason phrase kept', answer: 'HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'empty reason phrase', answer: 'HTTP/1.1 404 \r\nContent-Length: 2\r\n\r\nno' },
  { name: 'hop-by-hop headers dropped', answer: 'HTTP/1.1 200 OK\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nServer: upstream/1\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'repeated headers and cookies', answer: 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Dup: 1\r\nX-Dup: 2\r\nX-MiXed-Case: v\r\nContent-Length: 2\r\n\r\nok' },
  { name: '500 from upstream', answer: 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops' },
  { name: 'large chunked body', answer: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'8000\r\n' + 'x'.repeat(0x8000) + '\r\n'}${'8000\r\n' + 'y'.repeat(0x8000) + '\r\n'}0\r\n\r\n` },
  { name: 'refused: length and chunked', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
  { name: 'refused: two lengths', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!' },
  { name: 'refused: not HTTP', answer: 'NOT HTTP AT ALL\r\n\r\n', close: true },
  { name: 'refused: status 600', answer: 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n' },
  { name: 'refused: bad chunk size', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n', close: true },
  { name: 'cut: body shorter than its length', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', close: true },
  { name: 'cut: chunked body without its end', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n', close: true },
]

// The upstream: reads request heads (Sluice sends no bodies here) and answers /r/<n> with CASES[n].
const upstream = net.createServer((sock) => {
  let buf = ''
  sock.on('error', () => {})
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1')
    for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
      const head = buf.slice(0, end)
      buf = buf.slice(end + 4)
      const m = /^[A-Z]+ \/r\/(\d+)/.exec(head)
      const c = m === null ? undefined : CASES[Number(m[1])]
      if (c === undefined) {
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nready')
        continue
      }
      sock.write(c.answer)
      if (c.close) sock.end()
    }
  })
})
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
const files = { 'routes.yaml': yamlDocs(kingress('responses', [{ hosts: [H], paths: [{ splits: [{ service: 'raw' }] }] }]), ...coreBackend('raw', (upstream.address() as AddressInfo).port)) }
const [fast, node] = await Promise.all([
  startSluice(files, { env: { SLUICE_FAST_PATH: 'on' } }),
  startSluice(files, { env: { SLUICE_FAST_PATH: 'off' } }),
])
t.teardown(async () => {
  await Promise.all([fast.stop(), node.stop()])
  upstream.close()
})

function conversation(port: number, data: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const done = (closed: boolean): void => {
      clearTimeout(timer)
      sock.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed })
    }
    // a safety net only: every case ends with a request that closes the connection
    const timer = setTimeout(() => done(false), 10_000)
    sock.on('connect', () => sock.write(data))
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', () => {})
    sock.on('close', () => done(true))
  })
}

async function ready(s: SluiceProcess): Promise<boolean> {
  return eventually(async () => (await conversation(s.port, `GET /ready HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`)).text.startsWith('HTTP/1.1 200'))
}
t.ok(await ready(fast) && await ready(node), 'both Sluices route to the raw upstream')

// A 502's one-line reason names the error as the client that met it calls it: undici's code
// (UND_ERR_RES_CONTENT_LENGTH_MISMATCH, HTTPParserError) or llhttp's through Node's binding
// (HPE_UNEXPECTED_CONTENT_LENGTH, HPE_INVALID_CONSTANT). Both count as protocol errors.
const normalize = (s: string): string => s
  .replace(/^date: .*\r\n/gim, '')
  .replace(/(HTTP\/1\.1 502 Bad Gateway\r\ncontent-type: [^\r]*\r\ncontent-length: )\d+/g, '$1<n>')
  .replace(/upstream failed: \S+\n/g, 'upstream failed: <error>\n')

for (const [i, c] of CASES.entries()) {
  t.test(c.name, async (t) => {
    // the case, then a request that shows whether the connection still carries requests
    const bytes = `${c.method ?? 'GET'} /r/${i} HTTP/1.1\r\nHost: ${H}\r\n\r\nGET /after HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`
    const [a, b] = await Promise.all([conversation(fast.port, bytes), conversation(node.port, bytes)])
    if (c.fastAnswers !== undefined) {
      t.match(a.text, c.fastAnswers, 'the fast path answers as llhttp reads the upstream')
      t.not(normalize(a.text), normalize(b.text), 'where the old path differs (if this fails, drop fastAnswers)')
      return
    }
    t.equal(normalize(a.text), normalize(b.text), 'the same answer through the fast path as through Node\'s server and undici')
    t.equal(a.closed, b.closed, 'the connection ends the same way')
  })
}

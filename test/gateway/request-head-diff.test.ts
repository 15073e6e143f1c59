// Differential test of gateway/request-head.ts against llhttp: Node's own HTTP server on a real
// 127.0.0.1 socket, with the header size limit Sluice's listener uses. The property: whenever
// readRequestHead accepts a head, llhttp accepts it too and agrees on the method, the target, Host
// and the body framing (Content-Length or chunked); whenever llhttp refuses, readRequestHead refuses
// (it may refuse more: those connections simply go to Node's server unparked). Inputs: the
// smuggling and malformed-request corpus (test/gateway/errors.test.ts's cases and more), then
// seeded mutations of valid heads. SLUICE_FUZZ_SEED and SLUICE_FUZZ_CASES replay or widen a run.
import t, { type Test } from 'tap'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { readRequestHead, type RequestHead } from '../../gateway/request-head.ts'

const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 0x5eed1)
const CASES = Number(process.env.SLUICE_FUZZ_CASES ?? 3000)
const PARALLEL = 16

// --- llhttp's verdict, from a real server -------------------------------------------------------

interface Parsed { method: string; url: string; host: string | null; cl: string | null; te: string | null }
type Verdict = { accepted: true; parsed: Parsed } | { accepted: false; why: string }

// plain-listener.ts's HTTP1_OPTIONS: the limit that decides 431s
const server = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
  const parsed: Parsed = {
    method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? null,
    cl: req.headers['content-length'] ?? null, te: req.headers['transfer-encoding'] ?? null,
  }
  req.on('error', () => {})
  // in a header, so that HEAD answers carry it too
  res.writeHead(200, { 'x-parsed': Buffer.from(JSON.stringify(parsed), 'latin1').toString('base64'), 'content-length': 0, connection: 'close' })
  res.end()
})
server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
  const why = err.code ?? 'error'
  if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: ${why.length}\r\n\r\n${why}`)
  else socket.destroy()
})
// CONNECT and upgrades are not plain requests: no answer at all counts as a refusal
server.on('connect', (_req, socket) => socket.destroy())
server.on('checkExpectation', (_req, res) => { res.writeHead(417, { connection: 'close' }); res.end() })
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as AddressInfo).port
t.teardown(() => { server.closeAllConnections(); server.close() })

/** The bytes on a fresh connection, then our end closed: a head that is not complete is refused. */
function llhttp(bytes: Buffer): Promise<Verdict> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    sock.on('connect', () => sock.end(bytes))
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', () => {})
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      const parsed = /\r\nx-parsed: ([A-Za-z0-9+/=]+)\r\n/.exec(text.slice(0, end))?.[1]
      if (text.startsWith('HTTP/1.1 200 ') && parsed !== undefined) resolve({ accepted: true, parsed: JSON.parse(Buffer.from(parsed, 'base64').toString('latin1')) as Parsed })
      else resolve({ accepted: false, why: text === '' ? 'closed' : text.slice(0, 12) + (end === -1 ? '' : ` ${text.slice(end + 4)}`) })
    })
  })
}

// --- the property ---------------------------------------------------------------------------------

/** Framing as one comparable string; BigInt so that a huge Content-Length is not rounded. */
function framing(cl: string | null | undefined, te: string | null | undefined): string {
  if (te !== null && te !== undefined) return /(^|,)\s*chunked\s*$/i.test(te) ? 'chunked' : `te:${te}`
  if (cl !== null && cl !== undefined) return /^\d+$/.test(cl) ? `length:${BigInt(cl)}` : `cl:${cl}`
  return 'none'
}

function disagreement(ours: RequestHead | null, theirs: Verdict): string | null {
  if (ours === null) return null // refusing more than llhttp is allowed
  if (!theirs.accepted) return `readRequestHead accepted what llhttp refused (${theirs.why})`
  const p = theirs.parsed
  const diffs: string[] = []
  if (ours.method !== p.method) diffs.push(`method ${ours.method} vs ${p.method}`)
  if (ours.url !== p.url) diffs.push(`target ${JSON.stringify(ours.url)} vs ${JSON.stringify(p.url)}`)
  if (ours.host !== p.host) diffs.push(`host ${JSON.stringify(ours.host)} vs ${JSON.stringify(p.host)}`)
  const a = framing(ours.headers['content-length'], ours.headers['transfer-encoding'])
  const b = framing(p.cl, p.te)
  if (a !== b) diffs.push(`framing ${a} vs ${b}`)
  return diffs.length === 0 ? null : diffs.join('; ')
}

interface Stats { both: number; neither: number; onlyLlhttp: number }

async function check(t: Test, label: string, inputs: readonly string[]): Promise<Stats> {
  const stats: Stats = { both: 0, neither: 0, onlyLlhttp: 0 }
  const failures: string[] = []
  for (let i = 0; i < inputs.length; i += PARALLEL) {
    const batch = inputs.slice(i, i + PARALLEL)
    const verdicts = await Promise.all(batch.map((s) => llhttp(Buffer.from(s, 'latin1'))))
    batch.forEach((s, j) => {
      const ours = readRequestHead(Buffer.from(s, 'latin1'))
      const theirs = verdicts[j]!
      if (ours !== null && theirs.accepted) stats.both++
      else if (ours === null && theirs.accepted) stats.onlyLlhttp++
      else if (ours === null) stats.neither++
      const d = disagreement(ours, theirs)
      if (d !== null && failures.length < 20) failures.push(`${label} #${i + j}: ${d}\n    ${JSON.stringify(s.length > 400 ? s.slice(0, 400) + '…' : s)}`)
    })
  }
  t.same(failures, [], `${label}: no head that readRequestHead accepts is refused or read differently by llhttp`)
  return stats
}

// --- the corpus -----------------------------------------------------------------------------------

const H = 'clean.default.localhost'
const CORPUS: string[] = [
  // test/gateway/errors.test.ts: malformed requests that must never reach a backend
  'GARBAGE\r\n\r\n',
  `GET /a b HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET / HTTP/9.9\r\nHost: ${H}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(90)}\r\n`).join('')}\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Bad: a\x01b\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Bad: a\x00b\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nBad Name: x\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Bad : x\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Folded: a\r\n b\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\nX-A: b\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: gzip\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
  'GET / HTTP/1.1\r\n\r\n',
  `GET / HTTP/1.1\r\nHost: ${H}\r\nHost: other.example.com\r\n\r\n`,
  `GET * HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `OPTIONS * HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET ${H}:80 HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `CONNECT ${H}:80 HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  // request smuggling classics (CL.TE, TE.CL, TE.TE obfuscations) and framing edge cases
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: xchunked\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked, identity\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding:\x0bchunked\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: \tchunked \t\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\x00\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nX: y\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: +5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: -1\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 5 5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 5, 5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 0x5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 00005\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length:\t5\t\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 18446744073709551615\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 18446744073709551616\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 99999999999999999999999999\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 9007199254740993\r\n\r\n`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: \r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  // request line and Host oddities
  `GET  / HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET / HTTP/1.1 \r\nHost: ${H}\r\n\r\n`,
  `GET\t/ HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `\r\nGET / HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET / http/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET / HTTP/1.10\r\nHost: ${H}\r\n\r\n`,
  `GET /\x7f HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET /\xe9 HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET /a#frag HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET /{}|\\^\`"<> HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET //evil.example/ HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost:${H}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: \t${H}\t \r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H} evil\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: \xe9\xff\r\n\r\n`,
  `GET / HTTP/1.1\r\n Host: ${H}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost\x00: ${H}\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-A: \x7f\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nX-A: b\rc\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\n:\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nUpgrade: h2c\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: ${H}\r\nExpect: 100-continue\r\n\r\n`,
  `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
  `GET / HTTP/1.1\r\n${Array.from({ length: 2100 }, (_, i) => `a${i}:\r\n`).join('')}Host: ${H}\r\n\r\n`,
  ...['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PURGE', 'M-SEARCH', 'QUERY', 'SOURCE', 'get', 'FOO', 'G\x00T'].map((m) => `${m} / HTTP/1.1\r\nHost: ${H}\r\n\r\n`),
]

// heads whose end lands right around the 16 KiB limit (one filler header sized to the byte)
for (let d = -4; d <= 4; d++) {
  const base = `GET / HTTP/1.1\r\nHost: ${H}\r\nX-Fill: \r\n\r\n`
  CORPUS.push(base.replace('X-Fill: ', `X-Fill: ${'f'.repeat(16 * 1024 + d - base.length)}`))
}

// --- seeded mutations -----------------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence for the same seed everywhere */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const VALID = [
  `GET / HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
  'POST /upload?x=1&y=%20 HTTP/1.1\r\nHost: svc.default.localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
  'PUT /p HTTP/1.1\r\nHost: h.example:8080\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'DELETE /a/b/c HTTP/1.1\r\nhost: x\r\nX-Tag: blue\r\nAccept: */*\r\n\r\n',
  'HEAD /%7Euser/?q=a HTTP/1.1\r\nUser-Agent: t/1\r\nHost: [::1]:80\r\n\r\n',
  'OPTIONS /x HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\nCookie: a=1; b=2\r\n\r\n',
  'PATCH /q HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n',
]
const ALPHABET = ['\r', '\n', '\t', ' ', ':', ',', ';', '\x00', '\x01', '\x0b', '\x0c', '\x7f', '\x80', '\xe9', '\xff', '"', '/', '?', '#', '%', '\\', '{', '<', '@', '0', '9', 'a', 'Z', '-', '_', '.', '=', '+']
const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PRI', 'M-SEARCH', 'QUERY', 'PURGE', 'LINK', 'get', 'Get', 'FOO', 'GE T', 'GET/', '']
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/01.1', 'HTTP/1.1\t', 'HTTPS/1.1']
const TARGETS = ['/', '*', 'http://a.example/x', '//x', '/a b', '/a\tb', '/\x7f', '/\xe9', '/a#f', '/"<>', '/{}|\\^`', '/%zz', 'a', '/?', '/a?b=c&d', `/${'p'.repeat(3000)}`, '', '/\x00']
const CL_VALUES = ['0', '5', '00005', '+5', '-1', '5 ', ' 5', '5,5', '5, 5', '0x5', '1e3', '', '18446744073709551615', '18446744073709551616', '99999999999999999999', '9007199254740993', '١']
const TE_VALUES = ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'gzip, chunked', 'chunked, gzip', 'xchunked', 'chunked\x00', 'identity', '', 'chunked,', ',chunked']
const HOST_VALUES = [H, '', ' ', 'a b', 'a\tb', '[::1]', 'h:80', 'h:', '\xe9', 'a,b', 'a/b', 'a@b']
const HEADER_LINES = (r: () => number): string => {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  switch (Math.floor(r() * 7)) {
    case 0: return `Content-Length: ${pick(CL_VALUES)}`
    case 1: return `Transfer-Encoding: ${pick(TE_VALUES)}`
    case 2: return `Host: ${pick(HOST_VALUES)}`
    case 3: return pick(['Expect: 100-continue', 'Upgrade: websocket', 'Connection: close', 'Connection: upgrade', 'Expect: foo'])
    case 4: return `${pick(['content-length', 'CONTENT-LENGTH', 'Content-Length ', 'Content_Length', 'Content-Length\t'])}: 5`
    case 5: return `${pick(['transfer-encoding', 'TRANSFER-ENCODING', 'Transfer-Encoding ', 'Transfer_Encoding'])}: chunked`
    default: return `X-${Math.floor(r() * 1000)}: ${pick(['v', '', ' v ', 'a\x01', '\xe9', 'a,b'])}`
  }
}

function mutate(head: string, r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const at = (s: string): number => Math.floor(r() * (s.length + 1))
  const headEnd = (s: string): number => { const e = s.indexOf('\r\n\r\n'); return e === -1 ? s.length : e }
  const lines = (s: string): { head: string[]; rest: string } => {
    const e = headEnd(s)
    return { head: s.slice(0, e).split('\r\n'), rest: s.slice(e) }
  }
  let s = head
  const ops = 1 + Math.floor(r() * 3)
  for (let k = 0; k < ops; k++) {
    switch (Math.floor(r() * 14)) {
      case 0: { const i = at(s); s = s.slice(0, i) + pick(ALPHABET) + s.slice(i); break }
      case 1: { const i = at(s); s = s.slice(0, i) + s.slice(i + 1 + Math.floor(r() * 3)); break }
      case 2: { const i = Math.floor(r() * s.length); s = s.slice(0, i) + pick(ALPHABET) + s.slice(i + 1); break }
      case 3: { // insert a header line
        const { head: l, rest } = lines(s)
        l.splice(1 + Math.floor(r() * l.length), 0, HEADER_LINES(r))
        s = l.join('\r\n') + rest
        break
      }
      case 4: { // duplicate, drop or swap header lines
        const { head: l, rest } = lines(s)
        if (l.length < 2) break
        const i = 1 + Math.floor(r() * (l.length - 1))
        const what = Math.floor(r() * 3)
        if (what === 0) l.splice(i, 0, l[i]!)
        else if (what === 1) l.splice(i, 1)
        else { const j = 1 + Math.floor(r() * (l.length - 1)); [l[i], l[j]] = [l[j]!, l[i]!] }
        s = l.join('\r\n') + rest
        break
      }
      case 5: { const m = /^\S*/.exec(s)!; s = pick(METHODS) + s.slice(m[0].length); break }
      case 6: { const e = s.indexOf('\r\n'); const line = s.slice(0, e === -1 ? s.length : e); const sp = line.lastIndexOf(' '); if (sp > 0) s = line.slice(0, sp + 1) + pick(VERSIONS) + s.slice(line.length); break }
      case 7: { const m = /^(\S*) (\S*)/.exec(s); if (m !== null) s = `${m[1]} ${pick(TARGETS)}${s.slice(m[0].length)}`; break }
      case 8: { // change the case of one letter
        const i = Math.floor(r() * s.length)
        const c = s[i] ?? ''
        s = s.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(i + 1)
        break
      }
      case 9: { // mangle one line ending
        const ends = [...s.matchAll(/\r\n/g)].map((m) => m.index!)
        if (ends.length === 0) break
        const i = pick(ends)
        s = s.slice(0, i) + pick(['\n', '\r', '\r\r\n', '\n\r', '\r\n ', '\r\n\t', '']) + s.slice(i + 2)
        break
      }
      case 10: { // whitespace around a colon, or at a line start or end
        const colons = [...s.slice(0, headEnd(s)).matchAll(/:/g)].map((m) => m.index!)
        if (colons.length === 0) break
        const i = pick(colons) + (r() < 0.5 ? 0 : 1)
        s = s.slice(0, i) + pick([' ', '\t', '  ', '\x0b']) + s.slice(i)
        break
      }
      case 11: { // many header lines
        const { head: l, rest } = lines(s)
        const n = pick([10, 100, 1999, 2000, 2001, 2100])
        l.splice(1 + Math.floor(r() * l.length), 0, ...Array.from({ length: n }, (_, i) => `h${i}: v`))
        s = l.join('\r\n') + rest
        break
      }
      case 12: { // pad to just around the 16 KiB limit
        const { head: l, rest } = lines(s)
        const want = 16 * 1024 + Math.floor(r() * 9) - 4
        const now = l.join('\r\n').length + 2 + 'X-Pad: '.length
        if (now < want) l.splice(1, 0, `X-Pad: ${'p'.repeat(want - now)}`)
        s = l.join('\r\n') + rest
        break
      }
      default: s = s.slice(0, at(s)) // truncate
    }
  }
  return s
}

t.test('the smuggling and malformed-request corpus', async (t) => {
  const stats = await check(t, 'corpus', CORPUS)
  t.ok(stats.both > 0 && stats.neither > 0, `both ways represented (${JSON.stringify(stats)})`)
})

t.test(`${CASES} seeded mutations of valid heads (seed ${SEED})`, async (t) => {
  const r = prng(SEED)
  const inputs: string[] = []
  for (let i = 0; i < CASES; i++) inputs.push(mutate(VALID[i % VALID.length]!, r))
  const stats = await check(t, `seed ${SEED}`, inputs)
  t.comment(`accepted by both: ${stats.both}, refused by both: ${stats.neither}, only llhttp accepts: ${stats.onlyLlhttp}`)
  // the generator must keep producing heads both parsers accept, or the property is checked on nothing
  t.ok(stats.both >= CASES / 20, 'a fair share of mutated heads is still accepted by both')
  t.ok(stats.neither >= CASES / 5, 'and many are refused by both')
})

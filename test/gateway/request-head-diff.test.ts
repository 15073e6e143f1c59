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
import { CORPUS, VALID, mutate, prng } from '../fixtures/http-corpus.ts'

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

// --- the corpus: test/fixtures/http-corpus.ts ---------------------------------------------------

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

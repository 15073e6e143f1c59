// Differential test of the HTTP/1.1 fast path against Node's server: two Sluice processes with the
// same routes, one with the fast path (the default) and one with SLUICE_FAST_PATH=off, each in front
// of its own recording upstream. The same byte streams go to both: the smuggling and malformed-request
// corpus and seeded mutations of valid requests (test/fixtures/http-corpus.ts), each followed by a
// request that closes the connection. Both must answer the same (statuses, heads, bodies, whether
// the connection closed); the upstream answers with what it received (method, target, headers in
// order, body), so the answers also show that both sent the same requests upstream. The request
// ids and trace ids Sluice makes up, and Date, are the only values normalized away; earlyError
// below is the one tolerated difference (pipelined requests ahead of refused bytes).
// SLUICE_FUZZ_SEED and SLUICE_FUZZ_CASES replay or widen a run.
import t, { type Test } from 'tap'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { startSluice, eventually, type SluiceProcess } from '../fixtures/sluice.ts'
import { yamlDocs, kingress, coreBackend } from '../gateway/helpers.ts'
import { CORPUS, H, VALID, mutate, prng } from '../fixtures/http-corpus.ts'

const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 0xfa57)
const CASES = Number(process.env.SLUICE_FUZZ_CASES ?? 400)
/** conversations at once */
const PARALLEL = 12
/** a conversation that neither closes nor completes (a body still expected) is cut after this */
const STALL_MS = 1500

// --- recording upstreams --------------------------------------------------------------------------

interface Seen { method: string; url: string; headers: string[]; body: string }

/**
 * An upstream that answers with what it received (method, target, every header in order, body),
 * so the client's answer shows what reached the upstream; the generated ids are starred.
 */
function recorder(): { server: http.Server } {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => {})
    req.on('end', () => {
      const headers: string[] = []
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!.toLowerCase()
        headers.push(`${name}: ${name === 'x-request-id' || name === 'traceparent' ? '*' : req.rawHeaders[i + 1]}`)
      }
      const seen: Seen = { method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks).toString('latin1') }
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'recorder' })
      res.end(JSON.stringify(seen))
    })
  })
  return { server }
}

const fastUp = recorder()
const nodeUp = recorder()
for (const u of [fastUp, nodeUp]) await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', r))
const portOf = (s: net.Server): number => (s.address() as AddressInfo).port

function routes(upstreamPort: number): Record<string, string> {
  return {
    'routes.yaml': yamlDocs(
      kingress('diff', [{ hosts: [H, 'h.example', 'a.example'], paths: [{ splits: [{ service: 'rec' }] }] }]),
      ...coreBackend('rec', upstreamPort),
    ),
  }
}

const fast = await startSluice(routes(portOf(fastUp.server)), { env: { SLUICE_FAST_PATH: 'on' } })
const node = await startSluice(routes(portOf(nodeUp.server)), { env: { SLUICE_FAST_PATH: 'off' } })
t.teardown(async () => {
  await Promise.all([fast.stop(), node.stop()])
  for (const u of [fastUp, nodeUp]) { u.server.closeAllConnections(); u.server.close() }
})

/** the route answers on both before any case runs */
async function ready(s: SluiceProcess): Promise<boolean> {
  return eventually(async () => (await conversation(s.port, `GET /ready HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`)).text.startsWith('HTTP/1.1 200'))
}
t.ok(await ready(fast) && await ready(node), 'both Sluices route to their recorders')

// --- one conversation -------------------------------------------------------------------------------

interface Outcome { text: string; closed: boolean }

function conversation(port: number, data: string | Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    const chunks: Buffer[] = []
    const done = (closed: boolean): void => {
      clearTimeout(timer)
      sock.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed })
    }
    const timer = setTimeout(() => done(false), STALL_MS)
    sock.on('connect', () => sock.write(data))
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', () => {})
    sock.on('close', () => done(true))
  })
}

/** What may differ between two correct runs: generated ids and the clock. */
function normalize(text: string): string {
  return text
    .replace(/^date: .*\r\n/gim, '')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
}

/** The request that ends every conversation that is still in a state to read it. */
const CLOSER = `GET /closer HTTP/1.1\r\nHost: ${H}\r\nConnection: close\r\n\r\n`

interface Stats { same: number; earlyError: number; answered: number; refused: number; stalled: number; upstream: number }

/** The responses of one conversation, one string each. */
function responses(text: string): string[] {
  return text.split(/(?=HTTP\/1\.1 \d{3} )/).filter((r) => r !== '')
}

/** What Sluice's clientError handler writes for input llhttp refuses (gateway.ts onClientError). */
const CLIENT_ERROR = /^HTTP\/1\.1 (400|408|431) [^\r]*\r\nconnection: close\r\ncontent-length: 0\r\n\r\n$/

/**
 * The one way the two may differ: requests pipelined ahead of input llhttp refuses. Node's server
 * parses everything it has read at once and answers the refusal right away, so whichever answers
 * for earlier requests had not been written yet never are; the fast path answers the requests in
 * order and hands the refused bytes to Node's server after them. Same refusal, same connection
 * close, and the answers Node did write are the fast path's first ones.
 */
function earlyError(fast: string[], node: string[]): boolean {
  const err = node.at(-1)
  if (err === undefined || !CLIENT_ERROR.test(err) || fast.at(-1) !== err) return false
  return node.slice(0, -1).every((r, i) => fast[i] === r)
}

async function differential(t: Test, label: string, inputs: readonly string[]): Promise<Stats> {
  const stats: Stats = { same: 0, earlyError: 0, answered: 0, refused: 0, stalled: 0, upstream: 0 }
  const failures: string[] = []
  for (let i = 0; i < inputs.length; i += PARALLEL) {
    const batch = inputs.slice(i, i + PARALLEL)
    await Promise.all(batch.map(async (input, j) => {
      const bytes = Buffer.from(input + CLOSER, 'latin1')
      const [a, b] = await Promise.all([conversation(fast.port, bytes), conversation(node.port, bytes)])
      const ta = normalize(a.text)
      const tb = normalize(b.text)
      const diffs: string[] = []
      if (a.closed !== b.closed) diffs.push(`closed: fast ${a.closed}, node ${b.closed}`)
      if (ta === tb) {
        if (diffs.length === 0) stats.same++
      } else if (diffs.length === 0 && earlyError(responses(ta), responses(tb))) {
        stats.earlyError++
      } else {
        diffs.push(`answers differ:\n      fast: ${JSON.stringify(ta.slice(0, 1500))}\n      node: ${JSON.stringify(tb.slice(0, 1500))}`)
      }
      if (diffs.length > 0 && failures.length < 15) failures.push(`${label} #${i + j}: ${JSON.stringify(input.length > 300 ? input.slice(0, 300) + '…' : input)}\n    ${diffs.join('\n    ')}`)
      if (!a.closed) stats.stalled++
      else if (/^HTTP\/1\.1 4\d\d/.test(a.text)) stats.refused++
      else stats.answered++
      stats.upstream += ta.split('x-upstream: recorder').length - 1
    }))
  }
  t.same(failures, [], `${label}: the fast path and Node's server answer, refuse, close and forward the same`)
  return stats
}

t.test('the smuggling and malformed-request corpus', async (t) => {
  const stats = await differential(t, 'corpus', CORPUS)
  t.comment(JSON.stringify(stats))
  t.ok(stats.answered > 0 && stats.refused > 0, 'both outcomes represented')
})

t.test(`${CASES} seeded mutations of valid requests (seed ${SEED})`, async (t) => {
  const r = prng(SEED)
  const inputs: string[] = []
  for (let i = 0; i < CASES; i++) inputs.push(mutate(VALID[i % VALID.length]!, r))
  const stats = await differential(t, `seed ${SEED}`, inputs)
  t.comment(JSON.stringify(stats))
  t.ok(stats.upstream >= CASES / 10, 'a fair share of mutated requests reaches the upstream')
  t.ok(stats.refused >= CASES / 5, 'and many are refused')
})

t.test('valid requests, pipelined and one by one, with and without bodies', async (t) => {
  const pipelined = [
    VALID.join(''),
    `GET /1 HTTP/1.1\r\nHost: ${H}\r\n\r\nPOST /2 HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
    `POST /a HTTP/1.1\r\nHost: ${H}\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
    `HEAD /h HTTP/1.1\r\nHost: ${H}\r\n\r\nGET /g HTTP/1.1\r\nHost: nowhere.example\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
    `GET /x HTTP/1.0\r\nHost: ${H}\r\nConnection: keep-alive\r\n\r\n`,
    `GET /a HTTP/1.1\r\nHost: ${H}\r\nCookie: a=1\r\nCookie: b=2\r\nX-Dup: 1\r\nX-Dup: 2\r\nSet-Cookie: s\r\nSet-Cookie: t\r\nUser-Agent: u1\r\nUser-Agent: u2\r\n\r\n`,
    `GET /fwd HTTP/1.1\r\nHost: ${H}\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Real-IP: 6.6.6.6\r\nConnection: x-drop, keep-alive\r\nX-Drop: 1\r\nTE: trailers\r\nK-Network-Hash: override\r\n\r\n`,
  ]
  const stats = await differential(t, 'valid', pipelined)
  t.equal(stats.same, pipelined.length, 'all answered the same')
})

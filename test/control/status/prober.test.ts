// StatusProber against real gateway "pods": HTTP(S) servers on 127.0.0.1 that answer probes the way a
// gateway with a given configuration would (echoing its hash, 404 before the route exists, or nothing).
import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { StatusProber, TokenBucket, probeVerdict, type ProbeTarget, type StatusProberOptions } from '../../../control/status/prober.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { selfSigned } from '../../tls/certs.ts'

const HASH = 'a'.repeat(64)
const OLD = 'b'.repeat(64)

interface Seen { host: string; path: string; method: string; headers: http.IncomingHttpHeaders; servername?: string }
type Answer = { status: number; hash?: string } | 'hang'

interface Pod {
  ip: string
  port: number
  seen: Seen[]
  /** sockets open right now */
  open: number
  answer: (req: Seen, nth: number) => Answer
  /** responses held by 'hang', oldest first */
  held: http.ServerResponse[]
  answered: number
  /** the most requests received but not yet answered, measured as each arrives */
  maxUnanswered: number
  close(): Promise<void>
}

async function startPod(t: Test, answer: Pod['answer'], opts: { ip?: string; tls?: { cert: string; key: string } } = {}): Promise<Pod> {
  const sockets = new Set<Socket>()
  const pod = { seen: [] as Seen[], open: 0, answer, held: [] as http.ServerResponse[], answered: 0, maxUnanswered: 0 } as Pod
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const seen: Seen = {
      host: req.headers.host ?? '', path: req.url ?? '', method: req.method ?? '', headers: req.headers,
      servername: (req.socket as TLSSocket).servername || undefined,
    }
    pod.seen.push(seen)
    pod.maxUnanswered = Math.max(pod.maxUnanswered, pod.seen.length - pod.answered)
    const a = pod.answer(seen, pod.seen.filter((s) => s.host === seen.host).length)
    if (a === 'hang') {
      pod.held.push(res)
      return
    }
    pod.answered++
    res.writeHead(a.status, a.hash !== undefined ? { 'K-Network-Hash': a.hash } : {})
    res.end('probe answer')
  }
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler)
  server.on(opts.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s)
    pod.open++
    s.on('close', () => { sockets.delete(s); pod.open-- })
  })
  const ip = opts.ip ?? '127.0.0.1'
  await new Promise<void>((resolve) => server.listen(0, ip, resolve))
  pod.ip = ip
  pod.port = (server.address() as AddressInfo).port
  pod.close = () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) })
  t.teardown(() => pod.close())
  return pod
}

const target = (pod: Pod, hosts: string[], scheme: 'http' | 'https' = 'http'): ProbeTarget => ({ hosts, ip: pod.ip, port: pod.port, scheme })

function prober(t: Test, opts: StatusProberOptions = {}): { p: StatusProber; readies: string[] } {
  const readies: string[] = []
  // short delays so the test runs fast; the verdict logic is what is under test
  const p = new StatusProber({ initialDelayMs: 20, maxRetryDelayMs: 100, onReady: (k, h) => readies.push(`${k}@${h}`), ...opts })
  t.teardown(() => p.stop())
  return { p, readies }
}

t.test('verdicts follow Knative probeVerifier', async (t) => {
  t.same(probeVerdict(200, HASH, HASH), { ok: true })
  t.match(probeVerdict(200, OLD, HASH), { ok: false, reason: /unexpected hash/ })
  t.match(probeVerdict(200, undefined, HASH), { ok: true, note: /no K-Network-Hash/ })
  t.match(probeVerdict(200, '', HASH), { ok: true })
  t.match(probeVerdict(404, HASH, HASH), { ok: false })
  t.match(probeVerdict(503, undefined, HASH), { ok: false })
  for (const status of [301, 302, 400, 500, 502]) t.match(probeVerdict(status, undefined, HASH), { ok: true }, `${status} counts as done`)
})

t.test('the retry budget is a token bucket like x/time/rate (50/s, burst 100)', async (t) => {
  const bucket = new TokenBucket(50, 100, 0)
  for (let i = 0; i < 100; i++) t.equal(bucket.reserve(0), 0, `burst token ${i}`)
  t.equal(bucket.reserve(0), 20, 'then one token per 20 ms')
  t.equal(bucket.reserve(0), 40, 'reservations queue up')
  t.equal(bucket.reserve(1000), 0, 'a second later the debt is paid and tokens are back')
  const slow = new TokenBucket(10, 1, 0)
  t.equal(slow.reserve(0), 0)
  t.equal(slow.reserve(50), 50)
})

t.test('ready only when every pod × host answered the right hash', async (t) => {
  let bReady = false
  const a = await startPod(t, () => ({ status: 200, hash: HASH }))
  const b = await startPod(t, (req) => (req.host === 'two.example.com' && !bReady ? { status: 404 } : { status: 200, hash: HASH }))
  const { p, readies } = prober(t)
  const hosts = ['one.example.com', 'two.example.com']
  p.probe('default/hello', HASH, [target(a, hosts), target(b, hosts)])
  t.notOk(p.isReady('default/hello', HASH), 'not ready before any probe')

  await waitFor(() => b.seen.filter((s) => s.host === 'two.example.com').length >= 3 && a.seen.length >= 2, { what: 'pod b retried host two' })
  t.notOk(p.isReady('default/hello', HASH), 'pod b still misses host two')
  t.same(readies, [])

  bReady = true
  await waitFor(() => p.isReady('default/hello', HASH), { what: 'the ingress to become ready' })
  t.same(readies, [`default/hello@${HASH}`], 'onReady once')
  t.notOk(p.isReady('default/hello', OLD), 'ready is per hash')
  t.same(a.seen.map((s) => s.host).sort(), hosts, 'pod a: each host once, no retry after success')

  const req = a.seen[0]!
  t.equal(req.method, 'GET')
  t.equal(req.path, '/healthz')
  t.equal(req.headers['k-network-probe'], 'probe')
  t.equal(req.headers['k-network-hash'], 'override')
  t.equal(req.headers['user-agent'], 'Knative-Ingress-Probe')
  t.equal(req.headers.connection, 'close')
  await waitFor(() => a.open === 0 && b.open === 0, { what: 'every probe connection to be closed' })
})

t.test('a pod answering the old hash first, then the new one, makes the ingress ready later', async (t) => {
  const pod = await startPod(t, (_req, nth) => ({ status: 200, hash: nth <= 2 ? OLD : HASH }))
  const { p, readies } = prober(t)
  p.probe('ns/r', HASH, [target(pod, ['r.example.com'])])
  await waitFor(() => p.isReady('ns/r', HASH), { what: 'ready after the new hash shows up' })
  t.equal(pod.seen.length, 3, 'two old answers retried, the third succeeded')
  t.same(readies, [`ns/r@${HASH}`])
})

t.test('404 then 200 makes the ingress ready', async (t) => {
  const pod = await startPod(t, (_req, nth) => (nth === 1 ? { status: 404 } : nth === 2 ? { status: 503 } : { status: 200, hash: HASH }))
  const { p } = prober(t)
  p.probe('ns/r', HASH, [target(pod, ['r.example.com'])])
  await waitFor(() => p.isReady('ns/r', HASH), { what: 'ready after 404 and 503' })
  t.equal(pod.seen.length, 3)
})

t.test('a new hash cancels the old round', async (t) => {
  const pod = await startPod(t, () => ({ status: 200, hash: HASH }))
  const { p, readies } = prober(t)
  p.probe('ns/r', OLD, [target(pod, ['r.example.com'])])
  p.probe('ns/r', HASH, [target(pod, ['r.example.com'])])
  await waitFor(() => p.isReady('ns/r', HASH), { what: 'the new round to be ready' })
  t.notOk(p.isReady('ns/r', OLD))
  t.same(readies, [`ns/r@${HASH}`], 'no callback for the cancelled round')
  p.probe('ns/r', HASH, [target(pod, ['r.example.com'])])
  t.ok(p.isReady('ns/r', HASH), 'the same hash again keeps the finished round')
})

t.test('a pod that never answers keeps the ingress not ready; cancel stops probing it', async (t) => {
  const good = await startPod(t, () => ({ status: 200, hash: HASH }))
  const silent = await startPod(t, () => 'hang')
  const { p, readies } = prober(t, { timeoutMs: 150 })
  p.probe('ns/r', HASH, [target(good, ['r.example.com']), target(silent, ['r.example.com'])])
  await waitFor(() => silent.seen.length >= 3, { what: 'several timed-out attempts' })
  t.notOk(p.isReady('ns/r', HASH))
  t.equal(good.seen.length, 1, 'the good pod is not probed again')

  p.cancel('ns/r')
  t.notOk(p.isReady('ns/r', HASH))
  await waitFor(() => silent.open === 0, { what: 'the in-flight probe to be aborted' })
  const after = silent.seen.length
  // a fresh round through the same prober passes its initial delay and retries; had the cancelled one
  // kept a retry timer (at most 100 ms here), it would have fired by then
  p.probe('ns/other', HASH, [target(good, ['other.example.com'])])
  await waitFor(() => p.isReady('ns/other', HASH), { what: 'the other round' })
  await waitFor(() => good.seen.length >= 2, { what: 'the other probe' })
  const sentinel = await startPod(t, (_r, nth) => (nth < 4 ? { status: 404 } : { status: 200, hash: HASH }))
  p.probe('ns/sentinel', HASH, [target(sentinel, ['s.example.com'])])
  await waitFor(() => p.isReady('ns/sentinel', HASH), { what: 'three retries of the sentinel' })
  t.equal(silent.seen.length, after, 'no probe after cancel')
  t.same(readies, [`ns/other@${HASH}`, `ns/sentinel@${HASH}`])
})

t.test('a refused connection is retried until the pod listens', async (t) => {
  const pod = await startPod(t, () => ({ status: 200, hash: HASH }))
  const port = pod.port
  await pod.close()
  const { p } = prober(t)
  p.probe('ns/r', HASH, [{ hosts: ['r.example.com'], ip: '127.0.0.1', port, scheme: 'http' }])
  // no server: connection refused, retried; a new server on the same port then answers
  const again = http.createServer((_req, res) => { res.writeHead(200, { 'K-Network-Hash': HASH }); res.end() })
  t.teardown(() => again.close())
  await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen(port, '127.0.0.1', resolve) })
  await waitFor(() => p.isReady('ns/r', HASH), { what: 'ready once the port listens' })
})

t.test('https: SNI and Host are the rule host, the self-signed certificate is accepted', async (t) => {
  const cert = selfSigned('secure.example.com')
  const pod = await startPod(t, () => ({ status: 200, hash: HASH }), { tls: cert })
  const { p } = prober(t)
  p.probe('ns/tls', HASH, [target(pod, ['secure.example.com', 'other.example.com'], 'https')])
  await waitFor(() => p.isReady('ns/tls', HASH), { what: 'the https probes' })
  t.same(pod.seen.map((s) => [s.host, s.servername]).sort(), [['other.example.com', 'other.example.com'], ['secure.example.com', 'secure.example.com']])
})

t.test('at most `concurrency` probes in flight', async (t) => {
  // the pod holds every answer until the test releases one, so a new probe can only start when one ends
  const slow = await startPod(t, () => 'hang')
  const { p } = prober(t, { concurrency: 2, timeoutMs: 10_000 })
  const hosts = ['a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'f.example']
  p.probe('ns/many', HASH, [target(slow, hosts)])
  for (let n = 2; n <= hosts.length; n++) {
    await waitFor(() => slow.seen.length >= n, { what: `probe ${n}` })
    slow.answered++
    const res = slow.held.shift()!
    res.writeHead(200, { 'K-Network-Hash': HASH })
    res.end()
  }
  await waitFor(() => slow.held.length === 1, { what: 'the last probe' })
  t.equal(slow.maxUnanswered, 2, 'two probes in flight at most')
  slow.answered++
  slow.held.shift()!.writeHead(200, { 'K-Network-Hash': HASH }).end()
  await waitFor(() => p.isReady('ns/many', HASH), { what: 'all six answered' })
  t.equal(slow.seen.length, 6)
})

t.test('cancelPod counts a vanished pod as done', async (t) => {
  const good = await startPod(t, () => ({ status: 200, hash: HASH }))
  const gone = await startPod(t, () => ({ status: 404 }), { ip: '127.0.0.2' })
  const { p, readies } = prober(t)
  p.probe('ns/r', HASH, [target(good, ['r.example.com']), target(gone, ['r.example.com'])])
  await waitFor(() => gone.seen.length >= 2 && good.seen.length >= 1, { what: 'the vanishing pod to be retried' })
  t.notOk(p.isReady('ns/r', HASH))
  p.cancelPod('127.0.0.2')
  await waitFor(() => p.isReady('ns/r', HASH), { what: 'ready without the vanished pod' })
  t.same(readies, [`ns/r@${HASH}`])
})

t.test('no targets: ready at once, no callback', async (t) => {
  const { p, readies } = prober(t)
  p.probe('ns/empty', HASH, [])
  t.ok(p.isReady('ns/empty', HASH))
  t.same(readies, [])
  p.stop()
  p.probe('ns/late', HASH, [])
  t.notOk(p.isReady('ns/late', HASH), 'a stopped prober starts nothing')
})

t.test('keepAlive: probes reuse at most `concurrency` connections, closed once idle', async (t) => {
  const pod = await startPod(t, () => ({ status: 200, hash: HASH }))
  let connections = 0
  const { p, readies } = prober(t, { concurrency: 2, keepAlive: { idleMs: 200 } })
  const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.example.com`)
  // count connections as they open (pod.open goes down again as they close)
  const before = pod.open
  const timer = setInterval(() => { connections = Math.max(connections, pod.open - before) }, 1)
  t.teardown(() => clearInterval(timer))
  for (let i = 0; i < 5; i++) p.probe(`ns/r${i}`, HASH, [target(pod, hosts.slice(i * 4, i * 4 + 4))])
  await waitFor(() => readies.length === 5, { what: 'every ingress to become ready' })
  t.equal(pod.seen.length, 20, 'each host probed once')
  t.ok(pod.seen.every((s) => s.headers.connection !== 'close'), 'no Connection: close')
  t.ok(connections <= 2, `at most 2 connections at once (saw ${connections})`)
  await waitFor(() => pod.open === 0, { what: 'idle probe connections to be closed' })
})

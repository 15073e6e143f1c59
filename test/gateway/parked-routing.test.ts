// Where parked requests go, with an in-process Gateway on real sockets and hand-built route
// tables (fixed upstreams with containerConcurrency 1 make queues without app processes):
// traffic splits keep their weights while one split has a queue, a backend whose endpoints are
// gone answers 503 at once instead of parking, and a parked request whose route moves while it
// waits is served on the new route.
import t from 'tap'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { Gateway } from '../../gateway/gateway.ts'
import { RouteSlot } from '../../gateway/metrics/route-slots.ts'
import type { Backend, RouteTable, Split } from '../../gateway/route-table.ts'
import { waitFor } from '../fixtures/wait.ts'

const HOST = 'parked.example'

/** An upstream that answers `name`, or holds every request while `hold` is set. */
async function upstream(name: string, hold = false) {
  const held: http.ServerResponse[] = []
  const seen: string[] = []
  const srv = http.createServer((req, res) => {
    seen.push(String(req.headers['x-id'] ?? ''))
    req.resume()
    if (hold) held.push(res)
    else res.end(name)
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  const release = () => { for (const res of held.splice(0)) res.end(name) }
  return { origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, held, seen, release }
}

const backend = (key: string, origins: string[], cc: number): Backend => ({
  key, namespace: 'default', revision: key, protocol: 'http1', origins, totalMs: 0, responseStartMs: 0, idleMs: 0,
  firstByteMs: 0, containerConcurrency: cc, managed: false, throttler: null,
})

function table(version: number, splits: [Backend, number][]): RouteTable {
  let upTo = 0
  const built: Split[] = splits.map(([b, percent]) => ({
    backend: b, upTo: (upTo += percent), setHeaders: [], setNames: new Set<string>(), rewriteHost: null, probeHash: '', slot: new RouteSlot('default', 'r', b),
  }))
  const vh = {
    owner: 'default/r', route: { namespace: 'default', name: 'r' }, plugins: null, localSlot: new RouteSlot('default', 'r', null),
    paths: [{ prefix: '/', matchNames: [], matchValues: [], splits: built, total: 100 }], redirectHttps: false, allowTrace: false,
  }
  const hosts = { exact: new Map([[HOST, vh]]), suffixes: [], any: null }
  return { version, external: hosts, internal: hosts, backends: new Map(splits.map(([b]) => [b.key, b])), routeCount: 1, trustedProxies: null }
}

async function gateway(first: RouteTable) {
  const g = new Gateway()
  g.swap(first)
  const { port } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  t.teardown(() => g.close())
  return { g, port }
}

/** One request on its own connection. */
function get(port: number, id: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { host: HOST, 'x-id': id } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', (err) => resolve({ status: 0, body: err.message }))
    req.end()
  })
}

function until(what: string, ok: () => boolean): Promise<boolean> {
  return waitFor(ok, { what })
}

/** A gateway whose only route goes to `key` (containerConcurrency 1): its slot taken, one request queued. */
async function queueBehindBusy(key: string, up: Awaited<ReturnType<typeof upstream>>) {
  const { g, port } = await gateway(table(1, [[backend(key, [up.origin], 1), 100]]))
  const throttler = g.activator.throttler(key)!
  const running = get(port, 'running')
  await until('the slot is taken', () => up.held.length === 1)
  const buffered = get(port, 'buffered')
  await until('one request waits', () => throttler.queue.size === 1)
  return { g, port, throttler, running, buffered }
}

t.test('a split keeps its weight while the other split has requests waiting', async (t) => {
  const busy = await upstream('busy', true)
  const idle = await upstream('idle')
  const a = backend('busy', [busy.origin], 1)
  const { g, port } = await gateway(table(1, [[a, 50], [backend('idle', [idle.origin], 0), 50]]))
  const throttler = g.activator.throttler('busy')!
  // Fill busy's one slot and queue one more behind it (each request picks a split at random).
  const warmups: Promise<unknown>[] = []
  const arrived = (id: string) => busy.seen.includes(id) || idle.seen.includes(id)
  for (let i = 0; throttler.queue.size === 0 && i < 200; i++) {
    const id = `warm-${i}`
    warmups.push(get(port, id))
    await until(`${id} reached a split`, () => arrived(id) || throttler.queue.size > 0)
  }
  t.ok(throttler.queue.size > 0, 'the busy split has a request waiting')
  const queuedBefore = throttler.queue.size
  const N = 400
  const sent: Promise<unknown>[] = []
  const toIdle = () => idle.seen.filter((id) => id.startsWith('n-')).length
  for (let i = 0; i < N; i++) {
    sent.push(get(port, `n-${i}`))
    // In batches of 20, each sent once the one before has reached a split.
    if (i % 20 === 19) await until(`batch ${i + 1} reached a split`, () => toIdle() + throttler.queue.size - queuedBefore === i + 1)
  }
  await until('every request reached a split', () => toIdle() + throttler.queue.size - queuedBefore === N)
  const share = toIdle() / N
  // 50% ± 10 points is 4 standard deviations of a fair coin over 400 picks (a biased pick gave 23%).
  t.ok(share > 0.4 && share < 0.6, `the idle split got ${(share * 100).toFixed(1)}% of the new connections (configured 50%)`)
  t.equal(throttler.parked, 0, 'nothing parks while a split without a queue could be picked')
  busy.release()
  await until('the busy split drained', () => { busy.release(); return throttler.current === 0 })
  await Promise.all([...warmups, ...sent])
  t.equal(g.inflight, 0, 'nothing left in flight')
})

t.test('a backend whose endpoints are gone answers 503 at once, also while requests wait for it', async (t) => {
  const up = await upstream('up', true)
  const { g, port, throttler, running, buffered: waiting } = await queueBehindBusy('gone', up)
  g.swap(table(2, [[backend('gone', [], 1), 100]]))
  // Answered before up.release(): had it parked, it would wait for ever (this backend has no timeout).
  const late = await get(port, 'late')
  t.equal(late.status, 503, 'a new connection gets 503 at once, not after waiting')
  t.match(late.body, /no ready instance for gone/)
  up.release()
  await running
  // Requests already waiting stay queued for endpoints to come back (bounded by timeoutSeconds).
  t.equal(throttler.queue.size, 1, 'the request that was waiting still waits')
  void waiting // ends when the gateway closes (teardown)
})

t.test('a parked request whose route moves while it waits is served on the new route', async (t) => {
  const old = await upstream('old', true)
  const next = await upstream('new')
  const { g, port, throttler, running, buffered } = await queueBehindBusy('old', old)
  const parked = get(port, 'parked')
  await until('the next one is parked', () => throttler.parked === 1)
  g.swap(table(2, [[backend('new', [next.origin], 0), 100]]))
  t.same(await buffered, { status: 503, body: 'revision old is no longer routed\n' }, 'the ordinary buffered request gets 503')
  t.same(await parked, { status: 200, body: 'new' }, 'the parked one is routed again and served by the new backend')
  old.release()
  await running
  t.equal(g.inflight, 0, 'nothing left in flight')
})

t.test('a parked connection stays an HTTP/1.1 connection: pipelined requests, HEAD, and keep-alive after', async (t) => {
  const up = await upstream('up', true)
  const { g, port, throttler, running, buffered } = await queueBehindBusy('pipe', up)
  // Two pipelined requests (a HEAD, then a GET) in the connection's first bytes; it stays open.
  const sock = net.connect(port, '127.0.0.1')
  let text = ''
  sock.setEncoding('latin1').on('data', (d: string) => { text += d })
  sock.write(`HEAD /first HTTP/1.1\r\nHost: ${HOST}\r\nX-Id: head\r\n\r\nGET /second HTTP/1.1\r\nHost: ${HOST}\r\nX-Id: second\r\n\r\n`)
  t.teardown(() => sock.destroy())
  await until('the connection is parked', () => throttler.parked === 1)
  await until('everything is answered', () => { up.release(); return (text.match(/HTTP\/1\.1 200/g) ?? []).length === 2 })
  t.same(up.seen.slice(-2), ['head', 'second'], 'the upstream saw both, in order')
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nup$/, 'HEAD answered without a body, then the GET with its body')
  // The connection goes on like any other kept-alive connection.
  text = ''
  sock.write(`GET /third HTTP/1.1\r\nHost: ${HOST}\r\nX-Id: third\r\n\r\n`)
  await until('the third is answered', () => { up.release(); return text.endsWith('up') })
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/, 'a later request on the same connection is served')
  await Promise.all([running, buffered])
  sock.end()
  await until('nothing in flight', () => g.inflight === 0)
  t.equal(throttler.current, 0, 'the revision meter is back to 0')
})

// Outlier ejection and circuit breaking with an in-process Gateway on real sockets, hand-built
// route tables (fixed upstreams, as sluice.dev/upstream gives) and an injected outlier clock: a
// failing instance is ejected and the others take its traffic with no client-visible error, it
// comes back after its ejection time, the max-ejection cap holds, an app's 500 and 503 are its
// answers, and the breaker limits answer 503 with Retry-After, counted per reason.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Gateway } from '../../gateway/gateway.ts'
import { RouteSlot } from '../../gateway/metrics/route-slots.ts'
import type { Backend, RouteTable, Split } from '../../gateway/route-table.ts'
import { DEFAULT_OUTLIER_POLICY, type OutlierPolicy } from '../../gateway/activator/outlier-detector.ts'
import { TRIP, type BreakerLimits } from '../../gateway/activator/throttler.ts'
import { waitFor } from '../fixtures/wait.ts'

const HOST = 'outlier.example'

/** An upstream answering `status` (changeable), or holding requests while `hold` is set. */
async function upstream(name: string, status = 200) {
  const u = { name, status, hold: false, hits: 0, held: [] as http.ServerResponse[], origin: '' }
  const srv = http.createServer((req, res) => {
    u.hits++
    req.resume()
    if (u.hold) { u.held.push(res); return }
    res.writeHead(u.status, { 'content-type': 'text/plain' }).end(`${name} ${u.status}`)
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  u.origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
  return Object.assign(u, {
    release: () => { for (const res of u.held.splice(0)) res.end(name) },
    stop: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()) }),
  })
}

function backend(origins: string[], extra: { outlier?: OutlierPolicy; breaker?: BreakerLimits; cc?: number } = {}): Backend {
  return {
    key: 'rev', namespace: 'default', revision: 'rev', protocol: 'http1', origins, totalMs: 0, responseStartMs: 0, idleMs: 0,
    firstByteMs: 0, containerConcurrency: extra.cc ?? 0, managed: false, throttler: null,
    ...(extra.outlier !== undefined ? { outlier: extra.outlier } : {}),
    ...(extra.breaker !== undefined ? { breaker: extra.breaker } : {}),
  }
}

function table(b: Backend): RouteTable {
  const split: Split = { backend: b, upTo: 100, setHeaders: [], setNames: new Set<string>(), rewriteHost: null, probeHash: '', slot: new RouteSlot('default', 'r', b) }
  const vh = {
    owner: 'default/r', route: { namespace: 'default', name: 'r' }, plugins: null, localSlot: new RouteSlot('default', 'r', null),
    paths: [{ prefix: '/', matchNames: [], matchValues: [], splits: [split], total: 100 }], redirectHttps: false, allowTrace: false,
  }
  const hosts = { exact: new Map([[HOST, vh]]), suffixes: [], any: null }
  return { version: 1, external: hosts, internal: hosts, backends: new Map([[b.key, b]]), routeCount: 1, trustedProxies: null }
}

async function gateway(b: Backend) {
  const g = new Gateway()
  let now = 1_000
  g.activator.clock = () => now
  g.swap(table(b))
  const { port } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  t.teardown(() => g.close())
  return { g, port, throttler: g.activator.throttler('rev')!, advance: (ms: number) => { now += ms } }
}

function get(port: number): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host: HOST } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] as string | undefined }))
    })
    req.on('error', (err) => resolve({ status: 0, body: err.message, retryAfter: undefined }))
    req.end()
  })
}

async function sequential(port: number, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await get(port)).status)
  return out
}

t.test('an instance answering 502 is ejected; then the others serve everything', async (t) => {
  const good1 = await upstream('good1'), good2 = await upstream('good2'), bad = await upstream('bad', 502)
  const { g, port, throttler } = await gateway(backend([good1.origin, good2.origin, bad.origin]))
  const ejected: string[] = []
  g.activator.onEjected = (key, id, n) => ejected.push(`${key} ${id} ${n}`)
  const before = await sequential(port, 60)
  t.equal(before.filter((s) => s === 502).length, 5, 'five client-visible 502s: the consecutive gateway errors that eject it')
  t.equal(throttler.ejections, 1)
  t.same(ejected, [`rev ${bad.origin} 1`], 'control hears of the ejection')
  t.ok(throttler.instance(bad.origin)!.ejectedUntil > 0, 'the instance shows as ejected')
  const hits = bad.hits
  const after = await sequential(port, 100)
  t.same([...new Set(after)], [200], 'after the ejection: zero client-visible errors')
  t.equal(bad.hits, hits, 'the ejected instance gets nothing')
})

t.test('an instance that recovers comes back after its ejection time, the next ejection lasts longer', async (t) => {
  const good = await upstream('good'), flaky = await upstream('flaky', 503)
  const { g, port, throttler, advance } = await gateway(backend([good.origin, flaky.origin]))
  await waitFor(async () => { await get(port); return throttler.ejections === 1 }, { what: 'the failing instance is ejected' })
  const inst = throttler.instance(flaky.origin)!
  t.equal(inst.ejectedUntil, 1_000 + DEFAULT_OUTLIER_POLICY.baseEjectionMs, 'ejected for base_ejection_time (30 s)')
  advance(DEFAULT_OUTLIER_POLICY.baseEjectionMs - 1)
  g.activator.returnEjected()
  t.ok(inst.ejectedUntil > 0, 'still ejected before its time is over')
  advance(1)
  g.activator.returnEjected()
  t.equal(inst.ejectedUntil, 0, 'back once the time is over')
  // Still failing: the first requests are its probe, and a new streak ejects it for twice as long.
  await waitFor(async () => { await get(port); return throttler.ejections === 2 }, { what: 'a second ejection' })
  t.equal(inst.ejectedUntil - (1_000 + DEFAULT_OUTLIER_POLICY.baseEjectionMs), 2 * DEFAULT_OUTLIER_POLICY.baseEjectionMs, 'base × 2 the second time')
  flaky.status = 200
  advance(2 * DEFAULT_OUTLIER_POLICY.baseEjectionMs)
  g.activator.returnEjected()
  const hits = flaky.hits
  await waitFor(async () => (await get(port)).status === 200 && flaky.hits > hits, { what: 'the recovered instance serves again' })
  t.same([...new Set(await sequential(port, 40))], [200])
})

t.test('max-ejection-percent: of two failing instances only one is ejected', async (t) => {
  const a = await upstream('a', 502), b = await upstream('b', 502)
  const { port, throttler } = await gateway(backend([a.origin, b.origin]))
  await sequential(port, 40)
  t.equal(throttler.ejections, 1, 'one ejected (50% of two)')
  t.ok(throttler.ejectionsPrevented > 0, 'the second was held back by the cap')
  const statuses = await sequential(port, 10)
  t.same([...new Set(statuses)], [502], 'the remaining instance keeps answering (its 502 is passed through)')
})

t.test('one instance is never ejected, whatever the percentage', async (t) => {
  const only = await upstream('only', 502)
  const { port, throttler } = await gateway(backend([only.origin], { outlier: { ...DEFAULT_OUTLIER_POLICY, maxEjectionPercent: 100 } }))
  await sequential(port, 20)
  t.equal(throttler.ejections, 0)
})

t.test('an app\'s 500 is its answer unless consecutive-5xx is set', async (t) => {
  const good = await upstream('good'), err = await upstream('err', 500)
  const off = await gateway(backend([good.origin, err.origin]))
  const statuses = await sequential(off.port, 60)
  t.ok(statuses.filter((s) => s === 500).length > 10, 'the 500s reach the client')
  t.equal(off.throttler.ejections, 0, 'no ejection for 500s by default')
  const on = await gateway(backend([good.origin, err.origin], { outlier: { ...DEFAULT_OUTLIER_POLICY, consecutive5xx: 3 } }))
  await waitFor(async () => { await get(on.port); return on.throttler.ejections === 1 }, { what: 'ejected after 3 consecutive 500s' })
  t.same([...new Set(await sequential(on.port, 30))], [200])
})

t.test('a 503 from the app is passed through, not retried (Knative conformance `retry`)', async (t) => {
  const app = await upstream('app', 503)
  const { port } = await gateway(backend([app.origin]))
  const r = await get(port)
  t.equal(r.status, 503)
  t.equal(r.body, 'app 503', 'the app\'s own answer')
  t.equal(app.hits, 1, 'sent once')
})

t.test('connect failures count as gateway errors', async (t) => {
  const good = await upstream('good')
  const dead = await upstream('dead')
  const { port, throttler } = await gateway(backend([good.origin, dead.origin]))
  await sequential(port, 4)
  await dead.stop() // connections to it are refused from now on
  await waitFor(async () => { await get(port); return throttler.ejections === 1 }, { what: 'the dead instance is ejected' })
  t.ok(throttler.instance(dead.origin)!.ejectedUntil > 0)
})

t.test('circuit breakers: max-requests and max-pending answer 503 with Retry-After; max-connections makes requests wait', async (t) => {
  const slow = await upstream('slow')
  slow.hold = true
  const { port, throttler } = await gateway(backend([slow.origin], { breaker: { maxPending: 1, maxRequests: 3, maxConnections: 2 } }))
  const first = [get(port), get(port)]
  await waitFor(() => slow.held.length === 2, { what: 'two requests on their connections' })
  const pending = get(port)
  await waitFor(() => throttler.queue.size === 1, { what: 'the third waits: max-connections 2' })
  t.equal(throttler.trips[TRIP.max_connections], 1)
  const refused = await get(port)
  t.equal(refused.status, 503, 'the fourth is refused: max-pending 1')
  t.equal(refused.retryAfter, '1')
  t.equal(throttler.trips[TRIP.max_pending], 1)
  slow.hold = false
  slow.release()
  t.same((await Promise.all([...first, pending])).map((r) => r.status), [200, 200, 200])

  const many = await upstream('many')
  many.hold = true
  const r2 = await gateway(backend([many.origin], { breaker: { maxPending: 0, maxRequests: 2, maxConnections: 0 } }))
  const running = [get(r2.port), get(r2.port)]
  await waitFor(() => many.held.length === 2, { what: 'two in flight' })
  const over = await get(r2.port)
  t.equal(over.status, 503, 'max-requests 2: the third is refused at once')
  t.equal(over.retryAfter, '1')
  t.equal(r2.throttler.trips[TRIP.max_requests], 1)
  many.hold = false
  many.release()
  await Promise.all(running)
})

t.test('breakers do not apply with containerConcurrency (the slots bound each instance)', async (t) => {
  const up = await upstream('cc')
  up.hold = true
  const { port, throttler } = await gateway(backend([up.origin], { cc: 1, breaker: { maxPending: 0, maxRequests: 1, maxConnections: 0 } }))
  const a = get(port), b = get(port)
  await waitFor(() => up.held.length === 1 && throttler.queue.size === 1, { what: 'one running, one queued' })
  t.equal(throttler.trips[TRIP.max_requests], 0)
  up.hold = false
  up.release()
  await waitFor(() => { up.release(); return throttler.current === 0 }, { what: 'both done' })
  t.same((await Promise.all([a, b])).map((r) => r.status), [200, 200])
})

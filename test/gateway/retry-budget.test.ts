// Retries with a budget, with an in-process Gateway on real sockets and fixed upstreams: a request
// whose connection is refused or reset before any response goes to another instance (when that
// cannot run it twice), and in a full outage retries stay within 20% of the active requests (at
// least 3 at once), so they cannot multiply the load on failing instances.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Gateway } from '../../gateway/gateway.ts'
import { RouteSlot } from '../../gateway/metrics/route-slots.ts'
import type { Backend, RouteTable, Split } from '../../gateway/route-table.ts'
import { DEFAULT_RETRY_BUDGET, DEFAULT_RETRY_POLICY, mayResend, withinBudget, type RetryPolicy } from '../../gateway/activator/retry-budget.ts'
import { closedPort } from './helpers.ts'
import { waitFor } from '../fixtures/wait.ts'

const HOST = 'retry.example'

/**
 * An upstream that answers 200, or resets every request's connection with `reset`; while `held`
 * is an array, requests are held there instead (to be reset together).
 */
async function upstream(name: string, reset = false) {
  const u = { name, seen: 0, origin: '', held: null as http.IncomingMessage[] | null }
  const srv = http.createServer((req, res) => {
    u.seen++
    if (u.held !== null) { u.held.push(req); return }
    if (reset) { req.socket.destroy(); return }
    req.resume()
    req.on('end', () => res.end(name))
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  u.origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
  return u
}

function table(origins: string[], retry?: RetryPolicy): RouteTable {
  const b: Backend = {
    key: 'rev', namespace: 'default', revision: 'rev', protocol: 'http1', origins, totalMs: 0, responseStartMs: 0, idleMs: 0,
    firstByteMs: 0, containerConcurrency: 0, managed: false, throttler: null,
  }
  const split: Split = {
    backend: b, upTo: 100, setHeaders: [], setNames: new Set<string>(), rewriteHost: null, probeHash: '', slot: new RouteSlot('default', 'r', b),
    ...(retry !== undefined ? { retry } : {}),
  }
  const vh = {
    owner: 'default/r', route: { namespace: 'default', name: 'r' }, plugins: null, localSlot: new RouteSlot('default', 'r', null),
    paths: [{ prefix: '/', matchNames: [], matchValues: [], splits: [split], total: 100 }], redirectHttps: false, allowTrace: false,
  }
  const hosts = { exact: new Map([[HOST, vh]]), suffixes: [], any: null }
  return { version: 1, external: hosts, internal: hosts, backends: new Map([[b.key, b]]), routeCount: 1, trustedProxies: null }
}

async function gateway(origins: string[], retry?: RetryPolicy) {
  const g = new Gateway()
  g.swap(table(origins, retry))
  const { port } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  t.teardown(() => g.close())
  return { g, port, throttler: g.activator.throttler('rev')! }
}

function send(port: number, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', method, agent: false, headers: { host: HOST, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', (err) => resolve({ status: 0, body: err.message }))
    req.end(body)
  })
}

t.test('the policy: what may be sent again, and the budget', async (t) => {
  t.ok(mayResend(true, 'POST', true, false), 'a refused connection sent nothing: any request')
  t.notOk(mayResend(true, 'POST', true, true), 'unless body bytes were already read for it')
  t.ok(mayResend(false, 'GET', false, false), 'a reset: an idempotent request without a body')
  t.notOk(mayResend(false, 'POST', false, false), 'not a POST')
  t.notOk(mayResend(false, 'PUT', true, false), 'not a request with a body')
  const p = DEFAULT_RETRY_BUDGET
  t.ok(withinBudget(p, 2, 1), 'at least 3 at once')
  t.notOk(withinBudget(p, 3, 10))
  t.ok(withinBudget(p, 19, 100), '20% of the active requests')
  t.notOk(withinBudget(p, 20, 100))
  t.notOk(withinBudget({ budgetPercent: 0, minConcurrency: 0 }, 0, 100), 'a budget of 0% and 0 at once retries nothing')
  t.ok(withinBudget({ budgetPercent: 50, minConcurrency: 0 }, 49, 100))
  t.notOk(withinBudget({ budgetPercent: 50, minConcurrency: 0 }, 50, 100))
})

t.test('a refused connection goes to another instance: no client-visible error', async (t) => {
  const good = await upstream('good')
  const dead = `http://127.0.0.1:${await closedPort()}`
  const { port, throttler } = await gateway([dead, good.origin])
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push((await send(port)).status)
  statuses.push((await send(port, 'POST', 'payload')).status)
  t.same([...new Set(statuses)], [200], 'GETs and a POST: the refused ones were sent to the other instance')
  t.ok(throttler.retries > 0, `${throttler.retries} retries`)
  t.equal(throttler.retrying, 0, 'nothing counted as retrying once the requests are over')
})

t.test('a reset: an idempotent request is sent again, a POST is not', async (t) => {
  const good = await upstream('good')
  const bad = await upstream('bad', true)
  const { port, throttler } = await gateway([bad.origin, good.origin])
  const gets: number[] = []
  for (let i = 0; i < 20; i++) gets.push((await send(port)).status)
  t.same([...new Set(gets)], [200])
  const before = bad.seen
  let posts502 = 0
  for (let i = 0; i < 20 && posts502 === 0; i++) if ((await send(port, 'POST', 'x')).status === 502) posts502++
  t.ok(posts502 > 0 || bad.seen === before, 'a POST that met the reset is answered 502, not sent again')
  t.equal(throttler.retrying, 0)
})

t.test('a full outage: retries stay within the budget', async (t) => {
  const ups = await Promise.all([upstream('a', true), upstream('b', true), upstream('c', true)])
  for (const u of ups) u.held = []
  const { port, throttler } = await gateway(ups.map((u) => u.origin))
  const N = 50
  const sent = Promise.all(Array.from({ length: N }, () => send(port)))
  // All 50 active at once, then every instance fails them together (and every later send).
  await waitFor(() => ups.reduce((n, u) => n + u.held!.length, 0) === N, { what: 'all requests reached the upstreams' })
  for (const u of ups) {
    const held = u.held!
    u.held = null
    for (const req of held) req.socket.destroy()
  }
  const results = await sent
  t.same([...new Set(results.map((r) => r.status))], [502], 'every request fails: there is nothing to serve it')
  const seen = ups.reduce((n, u) => n + u.seen, 0)
  // Without a budget, 50 requests × 4 sends; with it, at most 20% of the 50 active (10) retry, 3 times each.
  t.ok(seen <= N + 10 * DEFAULT_RETRY_POLICY.attempts, `the upstreams saw ${seen} requests for ${N} (${throttler.retries} retries)`)
  t.ok(throttler.retriesRefused > 0, `${throttler.retriesRefused} retries refused by the budget`)
  t.equal(throttler.retrying, 0)
})

t.test('attempts 0 (sluice.dev/retry-attempts: "0") turns retries off', async (t) => {
  const good = await upstream('good')
  const dead = `http://127.0.0.1:${await closedPort()}`
  const { port, throttler } = await gateway([dead, good.origin], { ...DEFAULT_RETRY_POLICY, attempts: 0 })
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push((await send(port)).status)
  t.ok(statuses.includes(502), 'the refused connections reach the client as 502')
  t.equal(throttler.retries, 0)
})

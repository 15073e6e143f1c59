// Circuit breakers (breaker-max-requests, -max-pending, -max-connections) hold for WebSocket
// upgrades and HTTP/2 streams as for HTTP/1.1 requests: they all enter the revision's throttler
// by the same admit(), so one decision answers 503 with Retry-After (a refused upgrade is an
// HTTP/1.1 503 on the raw socket) and counts the trip by reason. In-process Gateway, real sockets:
// `ws` clients against a `ws` echo server; Node's http2 client with prior knowledge (h2c, many
// streams on one connection) against an HTTP/1.1 upstream and against an h2c upstream; a gRPC
// call (@grpc/grpc-js) refused the gRPC way; and one Retry-After on an HTTP/1.1 refusal.
import t from 'tap'
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { credentials, makeGenericClientConstructor, status as grpcStatus, type ServiceError } from '@grpc/grpc-js'
import { Gateway } from '../../gateway/gateway.ts'
import { RouteSlot } from '../../gateway/metrics/route-slots.ts'
import type { Backend, RouteTable, Split } from '../../gateway/route-table.ts'
import { TRIP, type BreakerLimits } from '../../gateway/activator/throttler.ts'
import { waitFor } from '../fixtures/wait.ts'

const HOST = 'breakers.example'

function table(b: Backend): RouteTable {
  const split: Split = { backend: b, upTo: 100, setHeaders: [], setNames: new Set<string>(), rewriteHost: null, probeHash: '', slot: new RouteSlot('default', 'r', b) }
  const vh = {
    owner: 'default/r', route: { namespace: 'default', name: 'r' }, plugins: null, localSlot: new RouteSlot('default', 'r', null),
    paths: [{ prefix: '/', matchNames: [], matchValues: [], splits: [split], total: 100 }], redirectHttps: false, allowTrace: false,
  }
  const hosts = { exact: new Map([[HOST, vh]]), suffixes: [], any: null }
  return { version: 1, external: hosts, internal: hosts, backends: new Map([[b.key, b]]), routeCount: 1, trustedProxies: null }
}

async function gateway(origin: string, breaker: BreakerLimits, protocol: 'http1' | 'h2c' = 'http1') {
  const b: Backend = {
    key: 'rev', namespace: 'default', revision: 'rev', protocol, origins: [origin], totalMs: 0, responseStartMs: 0, idleMs: 0,
    firstByteMs: 0, containerConcurrency: 0, managed: false, throttler: null, breaker,
  }
  const g = new Gateway()
  g.swap(table(b))
  const { port } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  t.teardown(() => g.close())
  return { port, throttler: g.activator.throttler('rev')! }
}

/** A WebSocket echo server (its HTTP/1.1 requests are held while `hold` is set). */
async function wsUpstream() {
  const server = http.createServer((_req, res) => res.end('not a websocket\n'))
  const wss = new WebSocketServer({ server })
  const u = { origin: '', open: 0 }
  wss.on('connection', (ws) => {
    u.open++
    ws.on('close', () => u.open--)
    ws.on('message', (m) => ws.send(`${m} echoed`))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close(() => r()) }))
  u.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return u
}

interface Upgrade { status: number; ws?: WebSocket; retryAfter?: string | undefined; body?: string }

/** Open a WebSocket through the gateway: the socket once upgraded, else the refusal. */
function upgrade(port: number): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: HOST } })
    ws.once('open', () => resolve({ status: 101, ws }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }))
    })
    ws.once('error', reject)
  })
}

function echo(ws: WebSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(String(d)))
    ws.once('error', reject)
    ws.send(msg)
  })
}

const closed = (ws: WebSocket): Promise<void> => new Promise((r) => { ws.once('close', () => r()); ws.close() })

t.test('WebSocket upgrades: max-requests refuses with 503 and Retry-After while tunnels are open', async (t) => {
  const up = await wsUpstream()
  const { port, throttler } = await gateway(up.origin, { maxPending: 0, maxRequests: 2, maxConnections: 0 })
  const a = await upgrade(port), b = await upgrade(port)
  t.ok(a.status === 101 && b.status === 101, 'two tunnels open')
  const over = await upgrade(port)
  t.equal(over.status, 503, 'the third upgrade is refused: an open tunnel is a request in flight')
  t.equal(over.retryAfter, '1')
  t.match(over.body, /too many requests in flight for rev \(circuit breaker\)/)
  t.equal(throttler.trips[TRIP.max_requests], 1, 'counted as a max_requests trip')
  if (a.ws === undefined || b.ws === undefined) return
  t.equal(await echo(a.ws, 'still'), 'still echoed', 'the open tunnels are untouched')
  await closed(a.ws)
  await waitFor(() => throttler.current === 1, { what: 'the closed tunnel left the throttler' })
  const again = await upgrade(port)
  t.equal(again.status, 101, 'with a tunnel closed, a new upgrade goes through')
  if (again.ws !== undefined) await closed(again.ws)
  await closed(b.ws)
})

t.test('WebSocket upgrades: max-connections makes one wait, max-pending refuses the next', async (t) => {
  const up = await wsUpstream()
  const { port, throttler } = await gateway(up.origin, { maxPending: 1, maxRequests: 0, maxConnections: 1 })
  const first = await upgrade(port)
  t.equal(first.status, 101)
  const waiting = upgrade(port)
  await waitFor(() => throttler.queue.size === 1, { what: 'the second upgrade waits: max-connections 1' })
  t.equal(throttler.trips[TRIP.max_connections], 1, 'counted as a max_connections trip')
  const refused = await upgrade(port)
  t.equal(refused.status, 503, 'the third is refused: max-pending 1')
  t.equal(refused.retryAfter, '1')
  t.match(refused.body, /too many requests waiting for rev \(circuit breaker\)/)
  t.equal(throttler.trips[TRIP.max_pending], 1)
  if (first.ws !== undefined) await closed(first.ws)
  const second = await waiting
  t.equal(second.status, 101, 'the waiting upgrade goes through once the first tunnel closes')
  if (second.ws !== undefined) {
    t.equal(await echo(second.ws, 'late'), 'late echoed')
    await closed(second.ws)
  }
})

/** An HTTP/1.1 or h2c upstream that holds requests until released. */
async function heldUpstream(h2c: boolean) {
  const u = { origin: '', held: [] as (() => void)[] }
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    req.resume()
    u.held.push(() => res.end('ok'))
  }
  const server = h2c ? http2.createServer(onRequest) : http.createServer(onRequest)
  const sessions = new Set<http2.ServerHttp2Session>()
  if (h2c) (server as http2.Http2Server).on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    for (const s of sessions) s.destroy()
    if (!h2c) (server as http.Server).closeAllConnections()
    server.close(() => r())
  }))
  u.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(u, { release: () => { for (const f of u.held.splice(0)) f() } })
}

interface H2Answer { status: number; retryAfter: string | undefined; body: string }

/** One stream on an h2c session to the gateway. */
function stream(session: http2.ClientHttp2Session): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': '/', ':authority': HOST })
    let status = 0, retryAfter: string | undefined, body = ''
    s.on('response', (h) => { status = Number(h[':status']); retryAfter = h['retry-after'] as string | undefined })
    s.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status, retryAfter, body }))
    s.on('error', reject)
    s.end()
  })
}

async function h2cSession(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  await new Promise<void>((resolve, reject) => { session.once('connect', () => resolve()); session.once('error', reject) })
  t.teardown(() => { session.destroy() })
  return session
}

for (const upstreamH2c of [false, true]) {
  const to = upstreamH2c ? 'an h2c upstream' : 'an HTTP/1.1 upstream'
  t.test(`h2c streams on one connection, to ${to}: max-requests refuses with 503 and Retry-After`, async (t) => {
    const up = await heldUpstream(upstreamH2c)
    const { port, throttler } = await gateway(up.origin, { maxPending: 0, maxRequests: 3, maxConnections: 0 }, upstreamH2c ? 'h2c' : 'http1')
    const session = await h2cSession(port)
    const running = [stream(session), stream(session), stream(session)]
    await waitFor(() => up.held.length === 3, { what: 'three streams at the upstream' })
    const over = await stream(session)
    t.equal(over.status, 503, 'the fourth stream is refused at once')
    t.equal(over.retryAfter, '1')
    t.match(over.body, /too many requests in flight for rev \(circuit breaker\)/)
    t.equal(throttler.trips[TRIP.max_requests], 1, 'counted as a max_requests trip')
    up.release()
    t.same((await Promise.all(running)).map((r) => r.status), [200, 200, 200], 'the running streams finish')
    const later = stream(session)
    await waitFor(() => up.held.length === 1, { what: 'a later stream reaches the upstream' })
    up.release()
    t.equal((await later).status, 200, 'a later stream on the same connection is served')
  })
}

t.test('h2c streams to an HTTP/1.1 upstream: max-connections makes them wait, max-pending refuses', async (t) => {
  const up = await heldUpstream(false)
  const { port, throttler } = await gateway(up.origin, { maxPending: 1, maxRequests: 0, maxConnections: 2 })
  const session = await h2cSession(port)
  const first = [stream(session), stream(session)]
  await waitFor(() => up.held.length === 2, { what: 'two streams on their upstream connections' })
  const pending = stream(session)
  await waitFor(() => throttler.queue.size === 1, { what: 'the third stream waits: max-connections 2' })
  t.equal(throttler.trips[TRIP.max_connections], 1)
  const refused = await stream(session)
  t.equal(refused.status, 503, 'the fourth is refused: max-pending 1')
  t.equal(refused.retryAfter, '1')
  t.equal(throttler.trips[TRIP.max_pending], 1)
  up.release()
  await waitFor(() => { up.release(); return throttler.current === 0 }, { what: 'all served' })
  t.same((await Promise.all([...first, pending])).map((r) => r.status), [200, 200, 200])
})

t.test('HTTP/1.1 requests: a breaker\'s 503 carries one Retry-After (not the default\'s as well)', async (t) => {
  const up = await heldUpstream(false)
  const { port, throttler } = await gateway(up.origin, { maxPending: 0, maxRequests: 1, maxConnections: 0 })
  const get = (): Promise<http.IncomingMessage & { text: string }> => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { host: HOST } }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => resolve(Object.assign(res, { text })))
    }).on('error', reject)
  })
  const running = get()
  await waitFor(() => up.held.length === 1, { what: 'one request in flight' })
  const over = await get()
  t.equal(over.statusCode, 503)
  const names = over.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
  t.equal(names.filter((n) => n === 'retry-after').length, 1, 'one Retry-After header')
  t.equal(throttler.trips[TRIP.max_requests], 1)
  up.release()
  t.equal((await running).statusCode, 200)
})

t.test('a gRPC call over h2c refused by max-requests gets UNAVAILABLE (gRPC\'s 503)', async (t) => {
  const up = await heldUpstream(true)
  const { port, throttler } = await gateway(up.origin, { maxPending: 0, maxRequests: 1, maxConnections: 0 }, 'h2c')
  const raw = (b: Buffer): Buffer => b
  const Client = makeGenericClientConstructor({
    Ping: { path: '/test.Held/Ping', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  }, 'Held')
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.default_authority': HOST }) as unknown as {
    Ping(req: Buffer, done: (err: ServiceError | null) => void): void
    close(): void
  }
  t.teardown(() => client.close())
  const call = (): Promise<ServiceError | null> => new Promise((resolve) => client.Ping(Buffer.alloc(0), (err) => resolve(err)))
  const first = call()
  await waitFor(() => up.held.length === 1, { what: 'one call at the upstream' })
  const refused = await call()
  t.equal(refused?.code, grpcStatus.UNAVAILABLE, 'UNAVAILABLE')
  t.match(refused?.details, /too many requests in flight for rev \(circuit breaker\)/)
  t.equal(throttler.trips[TRIP.max_requests], 1, 'counted as a max_requests trip')
  up.release()
  await first // the held upstream answers plain HTTP/2, not gRPC: whatever the client makes of it
})

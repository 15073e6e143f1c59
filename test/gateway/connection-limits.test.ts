// Client connection deadlines and the per-listener cap (config-sluice client-header-timeout,
// client-idle-timeout, max-connections) on a real `sluice serve`: sockets that send nothing, stop
// inside the h2 preface or inside a head are closed at the header deadline (plain and TLS ports);
// idle keep-alive connections and h2 sessions at the idle deadline, while a slow request in
// flight is never cut; past max-connections the longest-idle connection makes room, and the
// admin listener keeps answering while a data port is flooded with idle sockets.
import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, startSluice, type SluiceProcess } from '../fixtures/sluice.ts'
import { readSettings } from '../../control/settings/read-settings.ts'
import type { ConfigMap } from '../../control/resources/types.ts'
import { configSluiceYaml, secretYaml, selfSigned } from '../tls/certs.ts'
import { closeSession, h2Connect, h2Request, tlsIngress, tlsPortOf } from '../protocols/fixtures/routes.ts'
import { coreBackend, kingress, send, yamlDocs } from './helpers.ts'

const HOST = 'limits.example.com'
const TLS_HOST = 'tls.limits.example.com'
const CERT = selfSigned(TLS_HOST)

const backend = await startBackend('web')
t.teardown(() => backend.close())

function routes(): Record<string, string> {
  return {
    'routes.yaml': yamlDocs(
      ...coreBackend('web', backend.port),
      kingress('plain', [{ hosts: [HOST], paths: [{ splits: [{ service: 'web' }] }] }]),
      tlsIngress('secure', [{ hosts: [TLS_HOST], paths: [{ splits: [{ service: 'web' }] }] }], [{ hosts: [TLS_HOST], secretName: 'cert' }]),
    ),
    'secret.yaml': secretYaml('cert', CERT.cert, CERT.key),
  }
}

/** A client socket that remembers when it was closed by the server. */
interface Client { socket: net.Socket; closed: boolean; data: string }

function track(socket: net.Socket): Client {
  const c: Client = { socket, closed: false, data: '' }
  socket.setEncoding('latin1')
  socket.on('data', (d: string) => { c.data += d })
  socket.on('error', () => {}) // a reset is one way of being closed
  socket.on('close', () => { c.closed = true })
  return c
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => resolve(track(socket)))
    socket.once('error', reject)
  })
}

/** One keep-alive HTTP/1.1 GET on a client socket; resolves with the answer's head once it is complete. */
async function keepAliveGet(c: Client, host = HOST): Promise<string> {
  const from = c.data.length
  c.socket.write(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`)
  const ok = await eventually(() => {
    const got = c.data.slice(from)
    const m = /content-length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(got)
    return m !== null && got.length >= got.indexOf('\r\n\r\n') + 4 + Number(m[1])
  }, 5000)
  if (!ok) throw new Error(`no complete answer on a kept-alive connection; got ${JSON.stringify(c.data.slice(from))}`)
  return c.data.slice(from)
}

const closedSoon = (c: Client, ms = 5000): Promise<boolean> => eventually(() => c.closed, ms)

t.test('config-sluice keys: durations, defaults and located errors', async (t) => {
  const cm = (data: Record<string, string>): ConfigMap => ({
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-sluice', namespace: 'knative-serving' }, data,
  }) as ConfigMap
  const d = readSettings([]).settings.sluice
  t.match(d, { clientHeaderTimeoutSeconds: 30, clientIdleTimeoutSeconds: 300, maxConnections: 20_000 })
  const ok = readSettings([cm({ 'client-header-timeout': '300ms', 'client-idle-timeout': '1m30s', 'max-connections': '50' })])
  t.same(ok.errors, [])
  t.match(ok.settings.sluice, { clientHeaderTimeoutSeconds: 0.3, clientIdleTimeoutSeconds: 90, maxConnections: 50 })
  const bad = readSettings([cm({ 'client-header-timeout': '0', 'client-idle-timeout': 'soon', 'max-connections': '0' })])
  t.same(bad.errors.map((e) => e.path), ['data.client-header-timeout', 'data.client-idle-timeout', 'data.max-connections'])
  t.match(bad.errors[0]!.message, /client-header-timeout must be a positive duration such as "30s".*got "0"/)
  t.match(bad.settings.sluice, { clientHeaderTimeoutSeconds: 30, clientIdleTimeoutSeconds: 300, maxConnections: 20_000 }, 'bad values keep the defaults')
})

t.test('deadlines (client-header-timeout 300ms, client-idle-timeout 500ms)', async (t) => {
  const s = await startSluice({ ...routes(), 'config-sluice.yaml': configSluiceYaml({ 'client-header-timeout': '300ms', 'client-idle-timeout': '500ms' }) })
  t.teardown(() => s.stop())
  const tlsPort = await tlsPortOf(s)

  t.test('a socket that never sends a byte is closed at the header deadline', async (t) => {
    for (const [name, port] of [['public', s.port], ['internal', s.internalPort], ['tls', tlsPort]] as const) {
      const t0 = performance.now()
      const c = await connect(port)
      t.ok(await closedSoon(c), `${name}: closed`)
      t.ok(performance.now() - t0 >= 250, `${name}: not before the deadline`)
      t.equal(c.data, '', `${name}: nothing was answered`)
    }
  })

  t.test('stalled inside the h2 preface, or after it without HEADERS: closed', async (t) => {
    for (const bytes of ['PR', 'PRI * HTTP/2.0\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']) {
      const c = await connect(s.port)
      c.socket.write(bytes)
      t.ok(await closedSoon(c), `${JSON.stringify(bytes)}: closed`)
    }
  })

  t.test('stalled inside an HTTP/1.1 head: closed', async (t) => {
    const c = await connect(s.port)
    c.socket.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nx-slow: `)
    t.ok(await closedSoon(c))
  })

  t.test('TLS handshake done, no request: closed', async (t) => {
    const socket = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: TLS_HOST, ca: [CERT.cert], ALPNProtocols: ['http/1.1'] })
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    const c = track(socket as unknown as net.Socket)
    t.ok(await closedSoon(c))
  })

  t.test('an HTTP/1.1 keep-alive connection is closed after the idle timeout, not before', async (t) => {
    const c = await connect(s.port)
    const first = await keepAliveGet(c)
    t.match(first, /^HTTP\/1\.1 200/)
    // a second request well inside the idle timeout is served on the same connection
    t.match(await keepAliveGet(c), /^HTTP\/1\.1 200/)
    const idleFrom = performance.now()
    t.ok(await closedSoon(c), 'closed once idle')
    t.ok(performance.now() - idleFrom >= 400, 'after the idle timeout')
  })

  t.test('an h2c session with nothing in flight is closed after the idle timeout', async (t) => {
    const session = await h2Connect(`http://127.0.0.1:${s.port}`)
    t.teardown(() => closeSession(session))
    const r = await h2Request(session, { ':method': 'GET', ':path': '/', ':authority': HOST, ':scheme': 'http' })
    t.equal(r.status, 200)
    let goaway = -1
    session.on('goaway', (code) => { goaway = code })
    session.on('error', () => {})
    t.ok(await eventually(() => session.closed || session.destroyed, 5000), 'the server ended the session')
    t.equal(goaway, 0, 'with GOAWAY NO_ERROR')
  })

  t.test('a request in flight longer than both timeouts is not cut', async (t) => {
    const r = await send(s.port, HOST, { path: '/?delay=900' })
    t.equal(r.status, 200)
    t.equal(r.complete, true)
    const session = await h2Connect(`http://127.0.0.1:${s.port}`)
    t.teardown(() => closeSession(session))
    const h2 = await h2Request(session, { ':method': 'GET', ':path': '/?delay=900', ':authority': HOST, ':scheme': 'http' })
    t.equal(h2.status, 200, 'nor an h2 stream')
  })
})

t.test('max-connections (5 per listener, default deadlines)', async (t) => {
  const s = await startSluice({ ...routes(), 'config-sluice.yaml': configSluiceYaml({ 'max-connections': '5' }) })
  t.teardown(() => s.stop())
  const clients: Client[] = []
  t.teardown(() => { for (const c of clients) c.socket.destroy() })

  t.test('one more connection closes the longest-idle one, not the oldest', async (t) => {
    // Five connections turn idle in order c0..c4; then c0 is used again and is the newest idle.
    for (let i = 0; i < 5; i++) {
      const c = await connect(s.port)
      clients.push(c)
      t.match(await keepAliveGet(c), /^HTTP\/1\.1 200/)
    }
    t.match(await keepAliveGet(clients[0]!), /^HTTP\/1\.1 200/)
    const sixth = await connect(s.port)
    clients.push(sixth)
    t.ok(await closedSoon(clients[1]!), 'c1, idle the longest, was closed')
    t.match(await keepAliveGet(sixth), /^HTTP\/1\.1 200/, 'the new connection is served')
    t.same(clients.map((c) => c.closed), [false, true, false, false, false, false], 'only c1')
  })

  t.test('a connection with a request in flight is never the one closed', async (t) => {
    const slow = send(s.port, HOST, { path: '/?delay=1500' })
    // The slow request's connection is busy; the next connections push out idle ones only.
    for (let i = 0; i < 6; i++) clients.push(await connect(s.port))
    const r = await slow
    t.equal(r.status, 200)
    t.equal(r.complete, true)
  })

  t.test('the admin listener answers while a data port is flooded with idle sockets', async (t) => {
    const flood: Client[] = []
    t.teardown(() => { for (const c of flood) c.socket.destroy() })
    for (let i = 0; i < 200; i++) flood.push(await connect(s.port))
    t.ok(await eventually(() => flood.filter((c) => !c.closed).length <= 5), 'the listener holds at most max-connections')
    const health = await s.admin('/healthz')
    t.equal(health.status, 200)
    t.equal((await s.admin('/readyz')).status, 200)
    const r = await send(s.port, HOST)
    t.equal(r.status, 200, 'a new client of the flooded port is served too')
  })

  t.test('a reload applies new limits', async (t) => {
    await reload(s, () => s.write('config-sluice.yaml', configSluiceYaml({ 'max-connections': '5', 'client-header-timeout': '300ms' })))
    const c = await connect(s.port)
    clients.push(c)
    t.ok(await closedSoon(c), 'a silent socket is closed at the new header deadline')
  })
})

/** Makes an edit and waits until the control loop applied it (the log says so once more). */
async function reload(s: SluiceProcess, edit: () => void): Promise<void> {
  const count = (): number => s.logs().split('configuration applied').length
  const before = count()
  edit()
  if (!await eventually(() => count() > before, 10_000)) throw new Error(`no reload seen; logs:\n${s.logs()}`)
}

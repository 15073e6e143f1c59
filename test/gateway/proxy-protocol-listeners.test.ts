// config-sluice enable-proxy-protocol on a real `sluice serve`: real clients write a PROXY header
// (v1 or v2) and then HTTP/1.1, h2c or TLS on the same connection, and the backend sees the
// header's source as the client (X-Forwarded-For, Forwarded), as do plugins (ip-filter). A
// connection without a header is closed unanswered; the internal listener never takes one.
import t from 'tap'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { Duplex } from 'node:stream'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { coreBackend, kingress, rawConversation, yamlDocs } from './helpers.ts'
import { docs, expectReady, hostOf, plugin, service } from '../plugins/fixtures/e2e.ts'
import { secretYaml, selfSigned } from '../tls/certs.ts'
import { tlsIngress, tlsPortOf } from '../protocols/fixtures/routes.ts'

const HOST = 'pp.example.com'
const TLS_HOST = 'tls.pp.example.com'
const CERT = selfSigned(TLS_HOST)

const configSluice = (data: Record<string, string>): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-sluice\n  namespace: knative-serving\ndata:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`

const backend = await startBackend('pp')
t.teardown(() => backend.close())
const s = await startSluice({
  'routes.yaml': yamlDocs(
    ...coreBackend('web', backend.port),
    kingress('plain', [{ hosts: [HOST], paths: [{ splits: [{ service: 'web' }] }] }]),
    tlsIngress('secure', [{ hosts: [TLS_HOST], paths: [{ splits: [{ service: 'web' }] }] }], [{ hosts: [TLS_HOST], secretName: 'cert' }]),
  ),
  'secret.yaml': secretYaml('cert', CERT.cert, CERT.key),
  'filtered.yaml': docs(service('filtered', backend.origin, 'deny'), plugin('deny', 'ip-filter', { deny: ['203.0.113.0/24'] })),
  // A short header deadline: connections past their header must be counted busy, not cut by it.
  'config-sluice.yaml': configSluice({ 'enable-proxy-protocol': 'true', 'client-header-timeout': '1s' }),
})
t.teardown(() => s.stop())
await expectReady(s)
const tlsPort = await tlsPortOf(s)

const v1 = (src: string, dst = '10.0.0.1'): Buffer =>
  Buffer.from(`PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${dst} 40000 80\r\n`)

function v2tcp4(src: number[]): Buffer {
  const b = Buffer.alloc(28)
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(b, 0)
  b[12] = 0x21 // v2, PROXY
  b[13] = 0x11 // TCP over IPv4
  b.writeUInt16BE(12, 14)
  Buffer.from(src).copy(b, 16)
  Buffer.from([10, 0, 0, 1]).copy(b, 20)
  b.writeUInt16BE(40000, 24)
  b.writeUInt16BE(443, 26)
  return b
}

/** A socket to the port that writes `header` before anything the client writes. */
function withHeader(port: number, header: Buffer): net.Socket {
  const sock = net.connect(port, '127.0.0.1')
  sock.write(header)
  return sock
}

interface Seen { status: number; headers: Record<string, string> }

function get(port: number, host: string, header: Buffer, path = '/'): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, createConnection: () => withHeader(port, header) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.statusCode === 200 && body.startsWith('{') ? (JSON.parse(body) as { headers: Record<string, string> }).headers : {} }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('HTTP/1.1 after a v1 header: the backend sees the PROXY source', async (t) => {
  const r = await get(s.port, HOST, v1('203.0.113.7'))
  t.equal(r.status, 200)
  t.equal(r.headers['x-forwarded-for'], '203.0.113.7')
  t.equal(r.headers.forwarded, `for=203.0.113.7;host=${HOST};proto=http`)
  const r6 = await get(s.port, HOST, v1('2001:db8::7', '2001:db8::1'))
  t.equal(r6.headers['x-forwarded-for'], '2001:db8::7')
  t.equal(r6.headers.forwarded, `for="[2001:db8::7]";host=${HOST};proto=http`)
})

t.test('HTTP/1.1 after a v2 header', async (t) => {
  const r = await get(s.port, HOST, v2tcp4([198, 51, 100, 9]))
  t.equal(r.status, 200)
  t.equal(r.headers['x-forwarded-for'], '198.51.100.9')
})

t.test('a header arriving byte by byte, then the request', async (t) => {
  const header = v1('192.0.2.44')
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(s.port, '127.0.0.1')
    let out = ''
    sock.setEncoding('latin1')
    sock.on('data', (d: string) => { out += d; if (out.includes('\r\n\r\n') && out.includes('}')) { sock.destroy(); resolve(out) } })
    sock.on('error', reject)
    sock.on('connect', async () => {
      for (const b of header) await new Promise<void>((r) => sock.write(Buffer.from([b]), () => r()))
      sock.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`)
    })
  })
  t.match(reply, /^HTTP\/1\.1 200/)
  t.match(reply, /"x-forwarded-for":"192\.0\.2\.44"/)
})

t.test('h2c after a header', async (t) => {
  const session = http2.connect(`http://127.0.0.1:${s.port}`, { createConnection: () => withHeader(s.port, v1('203.0.113.8')) })
  t.teardown(() => session.close())
  const body = await new Promise<string>((resolve, reject) => {
    const st = session.request({ ':path': '/', ':authority': HOST })
    let b = ''
    st.setEncoding('utf8')
    st.on('data', (d: string) => { b += d })
    st.on('end', () => resolve(b))
    st.on('error', reject)
  })
  t.equal((JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-for'], '203.0.113.8')
})

t.test('plugins see the PROXY source (ip-filter denies it)', async (t) => {
  t.equal((await get(s.port, hostOf('filtered'), v1('203.0.113.9'))).status, 403)
  t.equal((await get(s.port, hostOf('filtered'), v1('198.51.100.9'))).status, 200)
})

t.test('without a valid header the connection is closed unanswered', async (t) => {
  const plain = await rawConversation(s.port, `GET / HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, 10_000)
  t.same(plain, { text: '', closed: true })
  const bad = await rawConversation(s.port, `PROXY TCP4 300.0.0.1 10.0.0.1 1 2\r\nGET / HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, 10_000)
  t.same(bad, { text: '', closed: true })
  const tooLong = await rawConversation(s.port, `PROXY UNKNOWN ${'x'.repeat(200)}`, 10_000)
  t.same(tooLong, { text: '', closed: true })
})

t.test('the internal listener never takes a header', async (t) => {
  const r = await rawConversation(s.internalPort, `${v1('203.0.113.7').toString()}GET / HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`, 10_000)
  t.match(r.text, /^HTTP\/1\.1 400/)
})

/** An HTTPS GET over `socket` (a PROXY header already on its way). */
function httpsGet(socket: Duplex, path = '/'): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: TLS_HOST, path,
      createConnection: () => tls.connect({ socket, servername: TLS_HOST, ca: CERT.cert }),
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: (JSON.parse(body) as { headers: Record<string, string> }).headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('TLS: a header, then the ClientHello in a later write', async (t) => {
  const header = v1('203.0.113.21')
  const sock = net.connect(tlsPort, '127.0.0.1')
  await new Promise<void>((r) => sock.once('connect', r))
  await new Promise<void>((r) => sock.write(header, () => r()))
  const r = await httpsGet(sock)
  t.equal(r.status, 200)
  t.equal(r.headers['x-forwarded-for'], '203.0.113.21')
  t.equal(r.headers['x-forwarded-proto'], 'https')
})

/** A stream to the TLS port whose first write (the ClientHello) carries `header` in the same segment. */
function joinedWithHeader(header: Buffer): Duplex {
  const sock = net.connect(tlsPort, '127.0.0.1')
  let first = true
  // The TLS client writes through this stream; its first write (the ClientHello) carries the header.
  const joined = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      sock.write(first ? Buffer.concat([header, chunk]) : chunk, cb)
      first = false
    },
    final(cb) { sock.end(cb) },
    destroy(err, cb) { sock.destroy(); cb(err) },
  })
  sock.on('data', (d: Buffer) => joined.push(d))
  sock.on('end', () => joined.push(null))
  sock.on('error', (e) => joined.destroy(e))
  return joined
}

t.test('TLS: header and ClientHello in one segment (bytes read past the header are replayed)', async (t) => {
  const r = await httpsGet(joinedWithHeader(v2tcp4([198, 51, 100, 22])))
  t.equal(r.status, 200)
  t.equal(r.headers['x-forwarded-for'], '198.51.100.22')
  // The connection is tracked like any other: a request in flight outlives client-header-timeout (1s).
  const slow = await httpsGet(joinedWithHeader(v1('198.51.100.23')), '/?delay=2500')
  t.equal(slow.status, 200)
  t.equal(slow.headers['x-forwarded-for'], '198.51.100.23')
})

t.test('a header that never completes is closed at client-header-timeout', async (t) => {
  const r = await rawConversation(s.port, 'PROXY TCP4 203.0.113.7', 20_000)
  t.same(r, { text: '', closed: true })
  const tlsR = await rawConversation(tlsPort, 'PROXY TCP4 203.0.113.7', 20_000)
  t.same(tlsR, { text: '', closed: true })
})

t.test('TLS without a header: closed before any handshake', async (t) => {
  await t.rejects(new Promise((resolve, reject) => {
    const c = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: TLS_HOST, ca: CERT.cert }, () => resolve(c))
    c.on('error', reject)
  }))
})

t.test('turned off by a reload: new connections need no header', async (t) => {
  const before = (JSON.parse((await s.admin('/debug/routes')).body) as { version: number }).version
  s.write('config-sluice.yaml', configSluice({ 'enable-proxy-protocol': 'false' }))
  await waitFor(async () => (JSON.parse((await s.admin('/debug/routes')).body) as { version: number }).version > before, { what: 'the reload' })
  const r = await rawConversation(s.port, `GET / HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`, 10_000)
  t.match(r.text, /^HTTP\/1\.1 200/)
  t.match(r.text, /"x-forwarded-for":"127\.0\.0\.1"/)
})

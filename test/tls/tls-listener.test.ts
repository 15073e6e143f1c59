import t from 'tap'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls, { type TLSSocket } from 'node:tls'
import type { AddressInfo } from 'node:net'
import type { Http2SecureServer } from 'node:http2'
import { promisify } from 'node:util'
import { loadFiles } from '../../control/sources/load.ts'
import { buildCertTable } from '../../control/tls/certificates.ts'
import { CertContextCache } from '../../control/tls/context-cache.ts'
import { createTlsServer, type TlsRequest, type TlsResponse } from '../../gateway/tls/tls-listener.ts'
import type { CertTable } from '../../gateway/tls/cert-table.ts'
import { configSluiceYaml, ingressYaml, secretYaml, selfSigned, type TestCert } from './certs.ts'

const A = selfSigned('a.example.com')
const B = selfSigned('b.example.com')
const W = selfSigned('*.w.example.com')
const D = selfSigned('default.example.com')
const ALL_CAS = [A.cert, B.cert, W.cert, D.cert]

const cache = new CertContextCache()
/** The table the control plane would build: a, b, *.w and (optionally) a default certificate. */
function tableOf(certs: { a: TestCert; withDefault: boolean }): CertTable {
  const docs = [
    secretYaml('a', certs.a.cert, certs.a.key), secretYaml('b', B.cert, B.key), secretYaml('w', W.cert, W.key),
    secretYaml('fallback', D.cert, D.key),
    ingressYaml('one', [{ hosts: ['a.example.com'], secretName: 'a' }, { hosts: ['*.w.example.com'], secretName: 'w' }]),
    ingressYaml('two', [{ hosts: ['b.example.com'], secretName: 'b' }]),
  ]
  if (certs.withDefault) docs.push(configSluiceYaml({ 'default-certificate': 'default/fallback' }))
  const loaded = loadFiles([{ file: 'all.yaml', text: docs.join('---\n') }])
  const r = buildCertTable(loaded.resources, undefined, { cache })
  if (loaded.errors.length + r.errors.length > 0) throw new Error('fixture has errors')
  return r.table
}

/** Answers with what the gateway would see: protocol version and authority. */
function echo(req: TlsRequest, res: TlsResponse): void {
  const host = 'authority' in req ? req.authority : req.headers.host
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ httpVersion: req.httpVersion, host }))
}

async function start(getTable: () => CertTable, opts: Parameters<typeof createTlsServer>[2] = {}): Promise<{ server: Http2SecureServer; port: number }> {
  const server = createTlsServer(getTable, echo, opts)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

function stop(server: Http2SecureServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

interface Got { status: number; body: { httpVersion: string; host: string }; cn: string; fingerprint: string; alpn: string | false | null; reused: boolean }

/** One HTTPS/1.1 request to 127.0.0.1 with the given SNI name; the client trusts `ca`. */
/** `opts` reach tls.connect too (ALPNProtocols, session…), which the https types do not list. */
function get(port: number, servername: string | undefined, opts: https.RequestOptions & tls.ConnectionOptions = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/', ca: ALL_CAS, agent: false,
      ...(servername === undefined ? {} : { servername, headers: { host: servername } }),
      ...opts,
    }, (res) => {
      const socket = res.socket as TLSSocket
      const cert = socket.getPeerCertificate()
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { data += c })
      res.on('end', () => resolve({
        status: res.statusCode!, body: JSON.parse(data), cn: String(cert.subject.CN), fingerprint: cert.fingerprint256,
        alpn: socket.alpnProtocol, reused: req.reusedSocket,
      }))
    })
    req.on('error', reject)
    req.end()
  })
}

const fingerprint = (c: TestCert): string => new X509Certificate(c.cert).fingerprint256

t.test('several hosts on one listener: SNI picks the certificate, ALPN picks the protocol', async (t) => {
  const table = tableOf({ a: A, withDefault: true })
  const { server, port } = await start(() => table)
  t.teardown(() => stop(server))

  for (const [name, cn] of [['a.example.com', 'a.example.com'], ['b.example.com', 'b.example.com'], ['x.w.example.com', '*.w.example.com'], ['B.EXAMPLE.COM', 'b.example.com']] as const) {
    const r = await get(port, name, { ALPNProtocols: ['http/1.1'] })
    t.equal(r.cn, cn, `${name} gets ${cn}`)
    t.equal(r.alpn, 'http/1.1')
    t.equal(r.body.httpVersion, '1.1')
    t.equal(r.status, 200)
  }
  // An HTTPS client that offers no ALPN at all is served HTTP/1.1.
  const plain = await get(port, 'a.example.com')
  t.equal(plain.alpn, false)
  t.equal(plain.body.httpVersion, '1.1')

  // Unknown SNI and no SNI at all (an IP address) get the default certificate.
  t.equal((await get(port, 'other.org', { checkServerIdentity: () => undefined })).cn, 'default.example.com')
  t.equal((await get(port, undefined, { checkServerIdentity: () => undefined })).cn, 'default.example.com')

  // HTTP/2 over TLS, SNI b.example.com.
  const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'b.example.com', ca: ALL_CAS })
  t.teardown(() => session.close())
  const stream = session.request({ ':path': '/', ':authority': 'b.example.com' })
  let data = ''
  stream.setEncoding('utf8')
  stream.on('data', (c: string) => { data += c })
  await new Promise((resolve) => stream.on('end', resolve))
  t.equal(session.alpnProtocol, 'h2')
  t.equal((session.socket as TLSSocket).getPeerCertificate().subject.CN, 'b.example.com')
  t.same(JSON.parse(data), { httpVersion: '2.0', host: 'b.example.com' })
})

t.test('curl --http2 and --http1.1 with SNI via --resolve', async (t) => {
  const table = tableOf({ a: A, withDefault: false })
  const { server, port } = await start(() => table)
  t.teardown(() => stop(server))
  const dir = mkdtempSync(join(tmpdir(), 'sluice-curl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'ca.pem'), ALL_CAS.join(''))
  const curl = async (host: string, proto: string): Promise<string> => (await promisify(execFile)('curl', [
    '-sS', proto, '--cacert', join(dir, 'ca.pem'), '--resolve', `${host}:${port}:127.0.0.1`,
    '-w', '\n%{http_version}', `https://${host}:${port}/`,
  ])).stdout
  t.equal(await curl('a.example.com', '--http2'), `{"httpVersion":"2.0","host":"a.example.com:${port}"}\n2`)
  t.equal(await curl('b.example.com', '--http2'), `{"httpVersion":"2.0","host":"b.example.com:${port}"}\n2`)
  t.equal(await curl('y.w.example.com', '--http2'), `{"httpVersion":"2.0","host":"y.w.example.com:${port}"}\n2`)
  t.equal(await curl('a.example.com', '--http1.1'), `{"httpVersion":"1.1","host":"a.example.com:${port}"}\n1.1`)
})

t.test('unknown SNI without a default certificate: the handshake fails, the server carries on', async (t) => {
  const table = tableOf({ a: A, withDefault: false })
  const tlsErrors: string[] = []
  const { server, port } = await start(() => table, { onTlsError: (err) => { tlsErrors.push(err.message) } })
  t.teardown(() => stop(server))
  const failed = (servername: string | undefined): Promise<Error> => new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) })
    s.on('secureConnect', () => { s.destroy(); reject(new Error('handshake succeeded')) })
    s.on('error', resolve)
  })
  t.match((await failed('nope.example.org')).message, /alert|handshake|socket/i)
  t.match((await failed(undefined)).message, /alert|handshake|socket/i, 'no SNI and no default certificate')
  t.equal(tlsErrors.length, 2, 'reported through onTlsError')
  t.equal((await get(port, 'a.example.com')).cn, 'a.example.com', 'still serving')
})

t.test('TLS below 1.2 is refused', async (t) => {
  const table = tableOf({ a: A, withDefault: true })
  const { server, port } = await start(() => table)
  t.teardown(() => stop(server))
  const err = await new Promise<Error | null>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', ca: ALL_CAS, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
    s.on('secureConnect', () => { s.destroy(); resolve(null) })
    s.on('error', resolve)
  })
  t.ok(err, `refused: ${err?.message}`)
  const ok = await new Promise<string | null>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', ca: ALL_CAS, maxVersion: 'TLSv1.2' })
    s.on('secureConnect', () => { resolve(s.getProtocol()); s.destroy() })
    s.on('error', reject)
  })
  t.equal(ok, 'TLSv1.2')
})

t.test('a certificate rotated while connections are open', async (t) => {
  const A2 = selfSigned('a.example.com')
  let table = tableOf({ a: A, withDefault: true })
  const { server, port } = await start(() => table)
  t.teardown(() => stop(server))

  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ALL_CAS.concat(A2.cert) })
  t.teardown(() => agent.destroy())
  const before = await get(port, 'a.example.com', { agent })
  t.equal(before.fingerprint, fingerprint(A))

  const h2 = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca: ALL_CAS })
  t.teardown(() => h2.close())
  const h2get = async (): Promise<number> => {
    const s = h2.request({ ':path': '/', ':authority': 'a.example.com' })
    s.resume()
    const [headers] = await Promise.all([new Promise<http2.IncomingHttpHeaders>((resolve) => s.on('response', resolve)), new Promise((r) => s.on('end', r))])
    return Number(headers[':status'])
  }
  t.equal(await h2get(), 200)

  // A TLS session from before the rotation, to check it is not resumed with the old certificate.
  const session = await new Promise<Buffer>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', ca: ALL_CAS })
    s.once('session', (sess: Buffer) => { resolve(sess); s.destroy() })
    s.on('error', reject)
  })
  const resumed = (sess: Buffer): Promise<{ reused: boolean; fingerprint: string }> => new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.example.com', ca: ALL_CAS.concat(A2.cert), session: sess })
    s.on('secureConnect', () => { resolve({ reused: s.isSessionReused(), fingerprint: s.getPeerCertificate().fingerprint256 }); s.destroy() })
    s.on('error', reject)
  })
  t.equal((await resumed(session)).reused, true, 'sessions resume while nothing changed')

  table = tableOf({ a: A2, withDefault: true })

  const kept = await get(port, 'a.example.com', { agent })
  t.equal(kept.reused, true, 'the keep-alive connection is still open')
  t.equal(kept.status, 200)
  t.equal(kept.fingerprint, fingerprint(A), 'and keeps the keys it negotiated')
  t.equal(await h2get(), 200, 'the HTTP/2 session keeps working too')

  const fresh = await get(port, 'a.example.com', { ca: ALL_CAS.concat(A2.cert) })
  t.equal(fresh.reused, false)
  t.equal(fresh.fingerprint, fingerprint(A2), 'a new connection gets the new certificate')
  const after = await resumed(session)
  t.same(after, { reused: false, fingerprint: fingerprint(A2) }, 'an old session is not resumed with the old certificate')
  t.equal((await get(port, 'b.example.com')).fingerprint, fingerprint(B), 'other hosts unchanged')
})

t.test('HTTP/1.1 upgrade requests reach onUpgrade', async (t) => {
  const table = tableOf({ a: A, withDefault: false })
  const { server, port } = await start(() => table, {
    onUpgrade: (req, socket) => {
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`)
    },
  })
  t.teardown(() => stop(server))
  const upgraded = await new Promise<string>((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, servername: 'a.example.com', ca: ALL_CAS, agent: false,
      headers: { host: 'a.example.com', connection: 'Upgrade', upgrade: 'websocket' },
    })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(String(res.headers.upgrade)) })
    req.on('response', () => reject(new Error('got a plain response')))
    req.on('error', reject)
    req.end()
  })
  t.equal(upgraded, 'websocket')
})

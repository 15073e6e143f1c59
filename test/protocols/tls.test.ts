// The TLS listener end to end: KIngress spec.tls[] with Secrets in the config directory, two hosts
// with their own self-signed certificates plus a default certificate (config-sluice
// default-certificate) on one port. Real clients (Node https and http2, curl, grpc-js) check
// that each SNI name gets its certificate, ALPN picks h2 or http/1.1, the backend sees
// X-Forwarded-Proto: https, and a certificate rotated by rewriting its Secret file reaches new
// connections while an open keep-alive connection goes on working.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { coreBackend, yamlDocs, type Echo } from '../gateway/helpers.ts'
import { configSluiceYaml, secretYaml, selfSigned } from '../tls/certs.ts'
import { pingClient, roundTrips, startPingServer, unary } from './fixtures/grpc.ts'
import { closeSession, curl, fingerprintOf, h2Connect, h2Request, httpsGet, namedService, tlsIngress, tlsPortOf } from './fixtures/routes.ts'

const A = selfSigned('a.example.com', ['a.example.com', 'grpc.a.example.com'])
const A2 = selfSigned('a.example.com', ['a.example.com', 'grpc.a.example.com'])
const B = selfSigned('b.example.com')
const D = selfSigned('default.example.com')
const CAS = [A.cert, A2.cert, B.cert, D.cert]

const backend = await startBackend('web')
t.teardown(() => backend.close())
const ping = await startPingServer('ping')
t.teardown(() => ping.close())

const route = (name: string, host: string, service: string, tlsHosts: string[], secret: string): object =>
  tlsIngress(name, [{ hosts: [host], paths: [{ splits: [{ service }] }] }], [{ hosts: tlsHosts, secretName: secret }])

const s = await startSluice({
  'backend.yaml': yamlDocs(...coreBackend('web', backend.port), ...namedService('ping', ping.port, { name: 'http2' })),
  'secret-a.yaml': secretYaml('a', A.cert, A.key),
  'secret-b.yaml': secretYaml('b', B.cert, B.key),
  'secret-default.yaml': secretYaml('fallback', D.cert, D.key),
  'config-sluice.yaml': configSluiceYaml({ 'default-certificate': 'default/fallback' }),
  'routes.yaml': yamlDocs(
    route('a', 'a.example.com', 'web', ['a.example.com', 'grpc.a.example.com'], 'a'),
    route('a-grpc', 'grpc.a.example.com', 'ping', ['grpc.a.example.com'], 'a'),
    route('b', 'b.example.com', 'web', ['b.example.com'], 'b'),
    // a host with no tls entry of its own: served with the default certificate
    tlsIngress('c', [{ hosts: ['c.example.com'], paths: [{ splits: [{ service: 'web' }] }] }], []),
  ),
})
t.teardown(() => s.stop())
const port = await tlsPortOf(s)

const dir = mkdtempSync(join(tmpdir(), 'sluice-protocols-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('Node https: each SNI name gets its own certificate and a 200 from the backend', async (t) => {
  for (const [host, cert] of [['a.example.com', A], ['b.example.com', B]] as const) {
    const r = await httpsGet(port, host, { ca: CAS, path: '/hello', alpn: ['http/1.1'] })
    t.equal(r.status, 200, `${host}: 200`)
    t.equal(r.fingerprint, fingerprintOf(cert.cert), `${host}: its own certificate`)
    t.equal(r.alpn, 'http/1.1', `${host}: ALPN http/1.1`)
    const seen = JSON.parse(r.text) as Echo
    t.equal(seen.headers.host, host)
    t.equal(seen.headers['x-forwarded-proto'], 'https', `${host}: X-Forwarded-Proto: https`)
    t.equal(seen.headers.forwarded, `for=127.0.0.1;host=${host};proto=https`)
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  }
})

t.test('the default certificate for other names and for clients without SNI', async (t) => {
  const anyName = () => undefined
  const other = await httpsGet(port, 'c.example.com', { ca: CAS, checkServerIdentity: anyName })
  t.equal(other.fingerprint, fingerprintOf(D.cert), 'an unlisted SNI name gets the default certificate')
  t.equal(other.status, 200, 'and its route answers')
  const none = await httpsGet(port, undefined, { ca: CAS, host: 'b.example.com', checkServerIdentity: anyName })
  t.equal(none.fingerprint, fingerprintOf(D.cert), 'no SNI gets the default certificate')
  t.equal(none.status, 200, 'routing is by Host, not SNI')
})

t.test('Node http2 client over TLS (ALPN h2)', async (t) => {
  const session = await h2Connect(`https://127.0.0.1:${port}`, { servername: 'b.example.com', ca: CAS })
  t.teardown(() => closeSession(session))
  const socket = session.socket as TLSSocket
  t.equal(socket.alpnProtocol, 'h2')
  t.equal(socket.getPeerCertificate().fingerprint256, fingerprintOf(B.cert))
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    h2Request(session, { ':method': 'GET', ':path': `/h2/${i}`, ':authority': 'b.example.com' })))
  t.same(replies.map((r) => r.status), Array(20).fill(200))
  const seen = JSON.parse(replies[0]!.text) as Echo
  t.equal(seen.url, '/h2/0')
  t.equal(seen.headers['x-forwarded-proto'], 'https')
  t.same(Object.keys(seen.headers).filter((k) => k.startsWith(':')), [])
})

t.test('curl --http2 --cacert --resolve negotiates HTTP/2', async (t) => {
  const ca = join(dir, 'a.pem')
  writeFileSync(ca, A.cert)
  const r = await curl(['--http2', '--cacert', ca, '--resolve', `a.example.com:${port}:127.0.0.1`,
    '-w', '\n%{http_version} %{http_code}', `https://a.example.com:${port}/curl`])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.equal(lines.at(-1), '2 200', 'HTTP/2 and 200')
  const seen = JSON.parse(lines.slice(0, -1).join('\n')) as Echo
  t.equal(seen.url, '/curl')
  t.equal(seen.headers['x-forwarded-proto'], 'https')

  const wrong = await curl(['--http2', '--cacert', ca, '--resolve', `b.example.com:${port}:127.0.0.1`, `https://b.example.com:${port}/`])
  t.equal(wrong.code, 60, 'b.example.com is not served with the certificate of a (curl: peer certificate not trusted)')
})

t.test('gRPC over TLS', async (t) => {
  const client = pingClient(port, 'grpc.a.example.com', CAS)
  t.teardown(() => client.close())
  const { res, err } = await unary(client, 'Ping', 'tls')
  t.error(err)
  t.equal(res?.msg, 'tls - pong')
  t.equal(ping.calls.at(-1)?.metadata['x-forwarded-proto'], 'https')
  t.same(await roundTrips(client, 10, 'secure'), Array.from({ length: 10 }, (_, i) => `secure ${i} - pong`), 'bidi streaming over TLS')
})

t.test('a certificate rotated by rewriting its Secret file', async (t) => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const h2 = await h2Connect(`https://127.0.0.1:${port}`, { servername: 'a.example.com', ca: CAS })
  t.teardown(() => closeSession(h2))

  const before = await httpsGet(port, 'a.example.com', { ca: CAS, agent })
  t.equal(before.fingerprint, fingerprintOf(A.cert))
  t.equal((await h2Request(h2, { ':path': '/', ':authority': 'a.example.com' })).status, 200)

  s.write('secret-a.yaml', secretYaml('a', A2.cert, A2.key))
  const fresh = await waitFor(async () => {
    const r = await httpsGet(port, 'a.example.com', { ca: CAS })
    return r.fingerprint === fingerprintOf(A2.cert) && r
  }, { what: 'a new connection to get the new certificate', timeoutMs: 30_000, everyMs: 50 })
  t.equal(fresh.fingerprint, fingerprintOf(A2.cert), 'a new connection gets the new certificate')
  t.equal(fresh.status, 200)

  const kept = await httpsGet(port, 'a.example.com', { ca: CAS, agent })
  t.equal(kept.reused, true, 'the keep-alive connection from before is still open')
  t.equal(kept.status, 200, 'and still works')
  t.equal(kept.fingerprint, fingerprintOf(A.cert), 'with the certificate it was opened with')
  const h2After = await h2Request(h2, { ':path': '/after', ':authority': 'a.example.com' })
  t.equal(h2After.status, 200, 'an h2 session from before the rotation keeps working')

  const b = await httpsGet(port, 'b.example.com', { ca: CAS })
  t.equal(b.fingerprint, fingerprintOf(B.cert), 'other hosts keep their certificates')
})

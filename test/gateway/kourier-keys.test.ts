// config-kourier's keys in config-sluice, on a real `sluice serve`: trusted-hops-count and
// use-remote-address (which X-Forwarded-For entries survive), disable-server-header (and its
// Kourier spelling disable-envoy-server-header), stream-idle-timeout (504 before the response
// starts, min'd with the revision's idle timeout), listen-ip-addresses (one port on several
// addresses), cipher-suites (TLS 1.2 handshakes limited to the list, TLS 1.3 untouched) and the
// global access log with an Envoy-style template; then parsing and located errors for each key.
import t from 'tap'
import tls from 'node:tls'
import http from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice, type SluiceProcess } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { coreBackend, kingress, send, yamlDocs } from './helpers.ts'
import { expectReady, tableVersion } from '../plugins/fixtures/e2e.ts'
import { secretYaml, selfSigned } from '../tls/certs.ts'
import { tlsIngress, tlsPortOf } from '../protocols/fixtures/routes.ts'
import { readSettings } from '../../control/settings/read-settings.ts'
import { configMap, src } from '../control/fixtures.ts'
import { compileAccessLogTemplate } from '../../gateway/access-log.ts'
import { lastEntries } from '../../gateway/forward-headers.ts'

const HOST = 'keys.example.com'
const TLS_HOST = 'tls.keys.example.com'

const configSluice = (data: Record<string, string>): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-sluice\n  namespace: knative-serving\ndata:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`

const backend = await startBackend('keys', (req, res) => {
  if (!req.url?.startsWith('/server')) return false
  res.writeHead(200, { server: 'upstream/1.0', 'content-type': 'text/plain' })
  res.end('ok\n')
  return true
})
t.teardown(() => backend.close())

const routes = yamlDocs(...coreBackend('web', backend.port), kingress('plain', [{ hosts: [HOST], paths: [{ splits: [{ service: 'web' }] }] }]))

/** Replace config-sluice and wait until the configuration that carries it is applied. */
async function reconfigure(s: SluiceProcess, data: Record<string, string>): Promise<void> {
  const before = await tableVersion(s)
  s.write('config-sluice.yaml', configSluice(data))
  await waitFor(async () => (await tableVersion(s)) > before, { what: 'the new config-sluice to be applied', timeoutMs: 30_000 })
}

async function seenHeaders(s: SluiceProcess, headers: Record<string, string>, from = '127.0.0.1'): Promise<Record<string, string>> {
  const r = await send(s.port, HOST, { headers, localAddress: from })
  if (r.status !== 200) throw new Error(`status ${r.status}: ${r.text}`)
  return (JSON.parse(r.text) as { headers: Record<string, string> }).headers
}

t.test('forwarded-header trust: trusted-hops-count, use-remote-address, trusted-proxies', async (t) => {
  const s = await startSluice({ 'routes.yaml': routes })
  t.teardown(() => s.stop())
  await expectReady(s)
  const spoof = { 'x-forwarded-for': '192.0.2.1, 198.51.100.2, 203.0.113.3', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'lb.example', forwarded: 'for=192.0.2.1, for=198.51.100.2;host="a,b", for=203.0.113.3', 'x-real-ip': '192.0.2.1' }

  // Default (0 hops, use-remote-address true): Sluice is the edge, only the peer counts.
  let h = await seenHeaders(s, spoof)
  t.equal(h['x-forwarded-for'], '127.0.0.1')
  t.equal(h['x-forwarded-proto'], 'http')

  await reconfigure(s, { 'trusted-hops-count': '2' })
  h = await seenHeaders(s, spoof)
  t.equal(h['x-forwarded-for'], '198.51.100.2, 203.0.113.3, 127.0.0.1', 'the last two entries are kept, the peer appended')
  t.equal(h.forwarded, `for=198.51.100.2;host="a,b", for=203.0.113.3, for=127.0.0.1;host=${HOST};proto=http`, 'Forwarded likewise, quoted commas kept')
  t.equal(h['x-forwarded-proto'], 'https', 'the nearest proxy\'s X-Forwarded-Proto is kept')
  t.equal(h['x-forwarded-host'], 'lb.example')
  t.equal(h['x-real-ip'], undefined, 'proxy-only headers still need trusted-proxies')
  h = await seenHeaders(s, { 'x-forwarded-for': '203.0.113.3' })
  t.equal(h['x-forwarded-for'], '203.0.113.3, 127.0.0.1', 'a shorter list is kept whole')

  // Envoy without use_remote_address reads the client one entry further left: one more hop.
  await reconfigure(s, { 'use-remote-address': 'false' })
  h = await seenHeaders(s, spoof)
  t.equal(h['x-forwarded-for'], '203.0.113.3, 127.0.0.1')
  await reconfigure(s, { 'use-remote-address': 'false', 'trusted-hops-count': '1' })
  h = await seenHeaders(s, spoof)
  t.equal(h['x-forwarded-for'], '198.51.100.2, 203.0.113.3, 127.0.0.1')

  // A trusted proxy (by address) keeps everything, whatever the hop count.
  await reconfigure(s, { 'trusted-hops-count': '1', 'trusted-proxies': '127.0.0.2' })
  h = await seenHeaders(s, spoof, '127.0.0.2')
  t.equal(h['x-forwarded-for'], '192.0.2.1, 198.51.100.2, 203.0.113.3, 127.0.0.2')
  t.equal(h['x-real-ip'], '192.0.2.1')
  h = await seenHeaders(s, spoof, '127.0.0.1')
  t.equal(h['x-forwarded-for'], '203.0.113.3, 127.0.0.1', 'other peers get the hop count')
})

t.test('server header and stream-idle-timeout', async (t) => {
  const s = await startSluice({ 'routes.yaml': routes, 'config-sluice.yaml': configSluice({ 'stream-idle-timeout': '1s' }) })
  t.teardown(() => s.stop())
  await expectReady(s)

  let r = await send(s.port, HOST, { path: '/server' })
  t.equal(r.headers.server, 'sluice', 'by default Sluice writes its own, as Envoy does')
  // Before the response starts: the gateway answers (Kourier's test accepts 408 or 504).
  r = await send(s.port, HOST, { path: '/?delay=3000' })
  t.equal(r.status, 504)
  r = await send(s.port, HOST, { path: '/?delay=100' })
  t.equal(r.status, 200, 'a response within the timeout passes')
  // After the response started: a stream silent longer than the timeout is cut.
  r = await send(s.port, HOST, { path: '/?stream=2&every=2500' })
  t.equal(r.status, 200)
  t.equal(r.complete, false, 'the silent stream was cut')

  await reconfigure(s, { 'disable-envoy-server-header': 'true', 'stream-idle-timeout': '0s' })
  r = await send(s.port, HOST, { path: '/server' })
  t.equal(r.headers.server, 'upstream/1.0', 'Kourier\'s spelling passes the upstream\'s through')
  r = await send(s.port, HOST, { path: '/?delay=1500' })
  t.equal(r.status, 200, '0s turns the timeout off')
  await reconfigure(s, { 'disable-server-header': 'false', 'disable-envoy-server-header': 'true' })
  r = await send(s.port, HOST, { path: '/server' })
  t.equal(r.headers.server, 'sluice', 'Sluice\'s own spelling wins over the alias')
})

t.test('listen-ip-addresses, cipher-suites and the access log on one Sluice', async (t) => {
  const cert = selfSigned(TLS_HOST)
  const s = await startSluice({
    'routes.yaml': yamlDocs(
      ...coreBackend('web', backend.port),
      kingress('plain', [{ hosts: [HOST], paths: [{ splits: [{ service: 'web' }] }] }]),
      tlsIngress('secure', [{ hosts: [TLS_HOST], paths: [{ splits: [{ service: 'web' }] }] }], [{ hosts: [TLS_HOST], secretName: 'cert' }]),
    ),
    'secret.yaml': secretYaml('cert', cert.cert, cert.key),
    'config-sluice.yaml': configSluice({
      'listen-ip-addresses': '127.0.0.1, ::1',
      'cipher-suites': 'ECDHE-ECDSA-AES128-GCM-SHA256,ECDHE-ECDSA-CHACHA20-POLY1305',
      'enable-service-access-logging': 'true',
      'service-access-log-template': 'ACCESS %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %REQ(X-TEST):5% %REQ(X-NONE?USER-AGENT)% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% 100%%',
    }),
  })
  t.teardown(() => s.stop())
  await expectReady(s)
  const tlsPort = await tlsPortOf(s)

  t.equal((await send(s.port, HOST)).status, 200, 'IPv4 address')
  const v6 = await new Promise<number | string>((resolve) => {
    http.get({ host: '::1', port: s.port, headers: { host: HOST } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', (e) => resolve(e.message))
  })
  t.equal(v6, 200, 'IPv6 address, same port')

  const handshake = (opts: tls.ConnectionOptions): Promise<string> => new Promise((resolve) => {
    const c = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: TLS_HOST, ca: cert.cert, ...opts }, () => {
      const name = c.getCipher().name
      c.destroy()
      resolve(name)
    })
    c.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`))
  })
  t.equal(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'ECDHE-ECDSA-AES128-GCM-SHA256')
  t.match(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }), /^error/, 'a TLS 1.2 suite outside the list is refused')
  t.match(await handshake({ minVersion: 'TLSv1.3' }), /^TLS_/, 'TLS 1.3 keeps its default suites')

  await send(s.port, HOST, { path: '/logged?x=1', headers: { 'x-test': 'abcdefgh', 'user-agent': 'probe/1' } })
  const line = await waitFor(() => /^ACCESS GET \/logged.*$/m.exec(s.logs())?.[0], { what: 'the access log line', timeoutMs: 10_000 })
  t.equal(line, 'ACCESS GET /logged?x=1 200 abcde probe/1 127.0.0.1 100%')
  // Local answers are logged too.
  await send(s.port, 'nowhere.example.com', { path: '/missing' })
  t.ok(await waitFor(() => /^ACCESS GET \/missing 404 - - 127\.0\.0\.1 100%$/m.test(s.logs()), { what: 'the 404 line' }))

  // Addresses are read when the listeners open: a change says a restart is needed.
  await reconfigure(s, { 'listen-ip-addresses': '127.0.0.1', 'cipher-suites': 'ECDHE-ECDSA-AES128-GCM-SHA256' })
  await waitFor(() => s.logs().includes('restart Sluice to listen on the new addresses'), { what: 'the restart warning' })
  t.ok(s.logs().includes('cipher-suites changed; restart Sluice'))
})

t.test('parsing, defaults and located errors', async (t) => {
  const d = readSettings([]).settings.sluice
  t.match(d, {
    enableProxyProtocol: false, trustedHopsCount: 0, useRemoteAddress: true, disableServerHeader: false,
    streamIdleTimeoutSeconds: 0, listenIpAddresses: null, cipherSuites: null, enableServiceAccessLogging: false, serviceAccessLogTemplate: '',
  })
  const ok = readSettings([configMap('config-sluice', {
    'enable-proxy-protocol': 'True', 'trusted-hops-count': '3', 'use-remote-address': '0', 'disable-envoy-server-header': 't',
    'stream-idle-timeout': '5m', 'listen-ip-addresses': '0.0.0.0, ::', 'cipher-suites': 'ecdhe-rsa-aes128-gcm-sha256, TLS_AES_128_GCM_SHA256',
    'enable-service-access-logging': 'true', 'service-access-log-template': '%REQ(:METHOD)%',
  })])
  t.same(ok.errors, [])
  t.match(ok.settings.sluice, {
    enableProxyProtocol: true, trustedHopsCount: 3, useRemoteAddress: false, disableServerHeader: true, streamIdleTimeoutSeconds: 300,
    listenIpAddresses: ['0.0.0.0', '::'], cipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_AES_128_GCM_SHA256'],
    enableServiceAccessLogging: true, serviceAccessLogTemplate: '%REQ(:METHOD)%',
  })

  const bad = readSettings([configMap('config-sluice', {
    'enable-proxy-protocol': 'yes', 'trusted-hops-count': '-1', 'stream-idle-timeout': 'soon', 'listen-ip-addresses': '0.0.0.0, localhost',
    'cipher-suites': 'ECDHE-ECDSA-AES128-GCM-SHA256, NOT-A-CIPHER', 'service-access-log-template': '%RESP(SERVER)% %BOGUS%',
  }, { source: src('config/sluice.yaml', 0, 4) })])
  t.same(bad.errors.map((e) => e.path).sort(), ['data.cipher-suites', 'data.enable-proxy-protocol', 'data.listen-ip-addresses', 'data.service-access-log-template', 'data.stream-idle-timeout', 'data.trusted-hops-count'])
  const msg = (key: string): string => bad.errors.find((e) => e.path === `data.${key}`)!.message
  t.match(msg('cipher-suites'), /config-sluice: cipher-suites: unknown cipher "NOT-A-CIPHER"/)
  t.match(msg('listen-ip-addresses'), /"localhost" is not an IP address/)
  t.match(msg('service-access-log-template'), /%RESP\(SERVER\)% is not supported/)
  t.equal(bad.errors[0]!.file, 'config/sluice.yaml')
  t.match(bad.settings.sluice, { enableProxyProtocol: false, cipherSuites: null, listenIpAddresses: null }, 'bad values keep the defaults')

  t.equal(typeof compileAccessLogTemplate('%START_TIME% "%REQ(:AUTHORITY)%" %BYTES_SENT% %DURATION%'), 'object')
  t.match(compileAccessLogTemplate('50% off'), /unterminated/)
  t.equal(lastEntries('a, "b,c", d', 2), '"b,c", d')
  t.equal(lastEntries('for="x\\",y", for=z', 1), 'for=z')
})

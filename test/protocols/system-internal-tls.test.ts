// config-network system-internal-tls, against real TLS upstreams with certificates made here: TLS
// 1.3 to the Services KIngress splits name (Serving's port 443, named https), trusting the CA in
// Secret routing-serving-certs (ca.crt) and in trust-bundle ConfigMaps, and accepting only the
// SANs kn-routing or kn-user-<namespace>, as Kourier configures Envoy. rewriteHost paths stay plain.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { WebSocket, WebSocketServer } from 'ws'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { send, yamlDocs } from '../gateway/helpers.ts'
import { readSettings } from '../../control/settings/read-settings.ts'
import { readInternalTrust } from '../../control/tls/internal-trust.ts'
import { emptyResourceSet, type ConfigMap, type ResourceSet, type Secret } from '../../control/resources/types.ts'

// ---- certificates: a CA and leaves it signs (openssl, ECDSA P-256) ----

interface Pem { cert: string; key: string }

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
}

function makeCa(cn: string): Pem {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-ca-'))
  try {
    openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', 'key.pem', '-out', 'cert.pem')
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A leaf for the DNS names `sans`, signed by `ca`. */
function makeLeaf(ca: Pem, sans: string[]): Pem {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-leaf-'))
  try {
    writeFileSync(join(dir, 'ca.pem'), ca.cert)
    writeFileSync(join(dir, 'ca.key'), ca.key)
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}\nbasicConstraints=CA:FALSE\n`)
    openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${sans[0]}`, '-keyout', 'key.pem', '-out', 'req.csr')
    openssl(dir, 'x509', '-req', '-in', 'req.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'cert.pem')
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const routingCa = makeCa('knative-serving-ca')
const bundleCa = makeCa('trust-bundle-ca')
const strangerCa = makeCa('nobody-trusts-me')

// ---- upstreams: each answers with what its TLS connection looked like ----

interface Seen { upstream: string; httpVersion: string; alpn: string | false | null; servername: string | false; tls: string | null; host: string }

async function httpsUpstream(name: string, pem: Pem, opts: { maxVersion?: 'TLSv1.2' } = {}): Promise<number> {
  const server = https.createServer({ ...pem, ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}) }, (req, res) => {
    const sock = req.socket as TLSSocket
    const seen: Seen = { upstream: name, httpVersion: req.httpVersion, alpn: sock.alpnProtocol, servername: (sock as TLSSocket & { servername: string | false }).servername, tls: sock.getProtocol(), host: req.headers.host ?? '' }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(seen))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return (server.address() as AddressInfo).port
}

/** HTTP/2 only (no HTTP/1.1 fallback), so a 200 proves h2 was negotiated by ALPN. */
async function h2Upstream(name: string, pem: Pem): Promise<number> {
  const server = http2.createSecureServer({ ...pem, allowHTTP1: false }, (req, res) => {
    const sock = req.socket as unknown as TLSSocket
    const seen: Seen = { upstream: name, httpVersion: req.httpVersion, alpn: sock.alpnProtocol, servername: (sock as TLSSocket & { servername: string | false }).servername, tls: sock.getProtocol(), host: req.headers[':authority'] ?? '' }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(seen))
  })
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => { for (const s of sessions) s.destroy(); server.close() })
  return (server.address() as AddressInfo).port
}

/** A WebSocket echo server behind TLS, answering with the SNI name it was asked for. */
async function wssUpstream(pem: Pem): Promise<number> {
  const server = https.createServer(pem, (_req, res) => res.end('not a websocket\n'))
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => {
    const sni = (req.socket as TLSSocket & { servername: string | false }).servername
    ws.on('message', (m) => ws.send(`${String(m)} via ${(req.socket as TLSSocket).getProtocol()} to ${sni}`))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close() })
  return (server.address() as AddressInfo).port
}

const ports = {
  queueProxy: await httpsUpstream('queue-proxy', makeLeaf(routingCa, ['kn-user-default'])),
  activator: await httpsUpstream('activator', makeLeaf(routingCa, ['kn-routing'])),
  wrongSan: await httpsUpstream('wrong-san', makeLeaf(routingCa, ['kn-user-elsewhere', 'wrong.example.com'])),
  bundle: await httpsUpstream('bundle', makeLeaf(bundleCa, ['kn-user-default'])),
  stranger: await httpsUpstream('stranger', makeLeaf(strangerCa, ['kn-user-default'])),
  tls12: await httpsUpstream('tls12', makeLeaf(routingCa, ['kn-user-default']), { maxVersion: 'TLSv1.2' }),
  h2: await h2Upstream('h2', makeLeaf(routingCa, ['kn-user-default'])),
  other: await httpsUpstream('other-ns', makeLeaf(routingCa, ['kn-user-other'])),
  websocket: await wssUpstream(makeLeaf(routingCa, ['kn-user-default'])),
}
const plain = await startBackend('plain-http')
t.teardown(() => plain.close())

// ---- configuration ----

const b64 = (s: string): string => Buffer.from(s).toString('base64')

/**
 * The revision's public Service as Serving writes it with system-internal-tls: port 443 named
 * https (plus `http2` on 81 for an h2 revision), Endpoints at 127.0.0.1:<upstream port>.
 */
function tlsService(name: string, port: number, opts: { h2?: boolean; namespace?: string } = {}): object[] {
  const namespace = opts.namespace ?? 'default'
  const svcPorts: object[] = [{ name: 'https', port: 443, targetPort: port }]
  if (opts.h2) svcPorts.unshift({ name: 'http2', port: 81, targetPort: 8013, appProtocol: 'kubernetes.io/h2c' })
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: svcPorts } },
    { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port }] }] },
  ]
}

function ingress(name: string, host: string, service: string, opts: { port?: number; namespace?: string; rewriteHost?: string } = {}): object {
  const namespace = opts.namespace ?? 'default'
  return {
    apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress', metadata: { name, namespace },
    spec: {
      rules: [{
        hosts: [host], visibility: 'ExternalIP',
        http: { paths: [{ ...(opts.rewriteHost ? { rewriteHost: opts.rewriteHost } : {}), splits: [{ serviceName: service, serviceNamespace: namespace, servicePort: opts.port ?? 443 }] }] },
      }],
    },
  }
}

const NAMES = ['queueProxy', 'activator', 'wrongSan', 'bundle', 'stranger', 'tls12', 'h2', 'websocket'] as const
const host = (n: string): string => `${n.toLowerCase()}.example.com`
const files: Record<string, string> = {
  'config-network.yaml': yamlDocs({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-network', namespace: 'knative-serving' }, data: { 'system-internal-tls': 'Enabled' } }),
  'trust.yaml': yamlDocs(
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'routing-serving-certs', namespace: 'knative-serving' }, data: { 'ca.crt': b64(routingCa.cert) } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'extra-cas', namespace: 'knative-serving', labels: { 'networking.knative.dev/trust-bundle': 'true' } }, data: { 'bundle.pem': bundleCa.cert } },
  ),
  'other.yaml': yamlDocs(...tlsService('other', ports.other, { namespace: 'other' }), ingress('other', 'other.example.com', 'other', { namespace: 'other' })),
  // A DomainMapping-style path: Host rewritten, the Service dialled in plain HTTP on port 80.
  'rewrite.yaml': yamlDocs(
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'plain', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: plain.port }] } },
    { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'plain', namespace: 'default' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port: plain.port }] }] },
    ingress('mapped', 'mapped.example.org', 'plain', { port: 80, rewriteHost: 'hello.default.example.com' }),
  ),
}
for (const n of NAMES) {
  files[`${n}.yaml`] = yamlDocs(...tlsService(n.toLowerCase(), ports[n], { h2: n === 'h2' }), ingress(n.toLowerCase(), host(n), n.toLowerCase()))
}
const s = await startSluice(files)
t.teardown(() => s.stop())

const seen = (text: string): Seen => JSON.parse(text) as Seen

// ---- through the gateway ----

t.test('a queue-proxy certificate (SAN kn-user-<ns>) signed by the routing-serving-certs CA: 200 over TLS 1.3', async (t) => {
  const r = await send(s.port, host('queueProxy'))
  t.equal(r.status, 200, r.text)
  const v = seen(r.text)
  t.equal(v.tls, 'TLSv1.3')
  t.equal(v.httpVersion, '1.1')
  t.equal(v.alpn, 'http/1.1', 'ALPN http/1.1 for an HTTP/1 backend')
  t.equal(v.servername, 'kn-user-default', 'SNI names the queue-proxy, not the public host')
  t.equal(v.host, host('queueProxy'), 'the Host header is the client\'s')
  // A second Host for the same backend must not change the SNI (undici would take it from Host).
  const again = await send(s.port, host('queueProxy'), { headers: { 'x-n': '2' } })
  t.equal(seen(again.text).servername, 'kn-user-default')
})

t.test('an activator certificate (SAN kn-routing) is accepted too', async (t) => {
  const r = await send(s.port, host('activator'))
  t.equal(r.status, 200, r.text)
  t.equal(seen(r.text).upstream, 'activator')
})

t.test('a certificate for other names is refused: 502', async (t) => {
  const r = await send(s.port, host('wrongSan'))
  t.equal(r.status, 502, r.text)
})

t.test('the queue-proxy SAN is per namespace: kn-user-other serves namespace other', async (t) => {
  const r = await send(s.port, 'other.example.com')
  t.equal(r.status, 200, r.text)
  t.equal(seen(r.text).servername, 'kn-user-other')
})

t.test('a CA from a ConfigMap labelled networking.knative.dev/trust-bundle is trusted', async (t) => {
  const r = await send(s.port, host('bundle'))
  t.equal(r.status, 200, r.text)
  t.equal(seen(r.text).upstream, 'bundle')
})

t.test('a CA nobody listed is not trusted: 502', async (t) => {
  const r = await send(s.port, host('stranger'))
  t.equal(r.status, 502, r.text)
})

t.test('an upstream that stops at TLS 1.2 is refused: 502', async (t) => {
  const r = await send(s.port, host('tls12'))
  t.equal(r.status, 502, r.text)
})

t.test('an h2 revision (port http2 beside https) gets HTTP/2 over TLS by ALPN h2', async (t) => {
  const r = await send(s.port, host('h2'))
  t.equal(r.status, 200, r.text)
  const v = seen(r.text)
  t.equal(v.httpVersion, '2.0')
  t.equal(v.alpn, 'h2')
  t.equal(v.tls, 'TLSv1.3')
})

t.test('a rewriteHost path (DomainMapping) stays plain HTTP', async (t) => {
  const before = plain.requests.length
  const r = await send(s.port, 'mapped.example.org')
  t.equal(r.status, 200, r.text)
  t.equal(plain.requests.length, before + 1)
  t.equal(plain.requests.at(-1)!.headers.host, 'hello.default.example.com')
})

t.test('a WebSocket upgrade goes through the same TLS', async (t) => {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`, { headers: { host: host('websocket') } })
  t.teardown(() => ws.terminate())
  const reply = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('hello'))
    ws.once('message', (m) => resolve(String(m)))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
  t.equal(reply, 'hello via TLSv1.3 to kn-user-default')
})

// ---- settings and trust, in process ----

const cm = (name: string, data: Record<string, string>, labels?: Record<string, string>, namespace = 'knative-serving'): ConfigMap =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: labels ?? {}, annotations: {} }, spec: undefined, data })

t.test('config-network keys: system-internal-tls, the older internal-encryption, cluster-local-domain-tls', async (t) => {
  const read = (data: Record<string, string>) => readSettings([cm('config-network', data)])
  t.equal(read({}).settings.systemInternalTls, false, 'off by default')
  t.equal(read({ 'system-internal-tls': 'Enabled' }).settings.systemInternalTls, true)
  t.equal(read({ 'system-internal-tls': 'enabled' }).settings.systemInternalTls, true, 'any case, as Knative')
  t.equal(read({ 'internal-encryption': 'true' }).settings.systemInternalTls, true, 'the deprecated key still works')
  t.equal(read({ 'internal-encryption': 'true', 'system-internal-tls': 'Disabled' }).settings.systemInternalTls, true,
    'Disabled does not override internal-encryption (knative/networking keeps it for compatibility)')
  t.equal(read({ 'internal-encryption': 'false', 'system-internal-tls': 'Enabled' }).settings.systemInternalTls, true)
  t.equal(read({ 'cluster-local-domain-tls': 'Enabled' }).settings.clusterLocalDomainTls, true)
  const bad = read({ 'system-internal-tls': 'yes', 'internal-encryption': 'maybe' })
  t.equal(bad.errors.length, 2)
  t.match(bad.errors.map((e) => `${e.path}: ${e.message}`).join('\n'), /data\.internal-encryption.*"true" or "false"[\s\S]*data\.system-internal-tls.*Enabled, Disabled/)
})

const rs = (secrets: Secret[], configMaps: ConfigMap[]): ResourceSet => ({ ...emptyResourceSet(), secrets, configMaps })
const routingSecret = (ca: string, namespace = 'knative-serving'): Secret =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'routing-serving-certs', namespace, labels: {}, annotations: {} }, spec: undefined, data: { 'ca.crt': b64(ca) } })

t.test('the trust chain: Secret and bundles joined, bad bundles left out with a warning, none at all an error', async (t) => {
  const label = { 'networking.knative.dev/trust-bundle': 'true' }
  const both = readInternalTrust(rs([routingSecret(routingCa.cert)], [cm('b', { 'a.pem': bundleCa.cert }, label)]))
  t.same(both.errors, [])
  t.ok(both.pem?.includes(routingCa.cert.trim()) && both.pem.includes(bundleCa.cert.trim()), 'both CAs are in the chain')

  const other = readInternalTrust(rs([routingSecret(routingCa.cert, 'default')], [cm('b', { 'a.pem': bundleCa.cert }, label, 'default')]))
  t.equal(other.pem, undefined, 'only the system namespace counts')
  t.match(other.errors[0]?.message ?? '', /no CA to check the upstreams with.*routing-serving-certs/)

  const broken = readInternalTrust(rs([], [cm('b', { 'bad.pem': 'not a pem', 'good.pem': bundleCa.cert }, label)]))
  t.equal(broken.pem, bundleCa.cert)
  t.equal(broken.warnings.length, 1)
  t.match(broken.warnings[0]!.message, /bad\.pem.*left out/)

  const keyInBundle = readInternalTrust(rs([], [cm('b', { 'k.pem': routingCa.key }, label)]))
  t.equal(keyInBundle.errors.length, 1, 'a private key is not a trust bundle')
})

// The admin listener's defences in a real `sluice serve`: DNS rebinding (a Host that is not an IP,
// localhost or an --admin-allowed-host name gets 421), the SLUICE_ADMIN_TOKEN bearer token (probes
// exempt, /metrics only with --admin-metrics-public), no credential from the configuration in any
// admin response or log line, and the internal listener on 127.0.0.1 whatever --host says.
import t from 'tap'
import bcrypt from 'bcryptjs'
import net from 'node:net'
import http from 'node:http'
import { createPublicKey } from 'node:crypto'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, request, startSluice } from '../fixtures/sluice.ts'
import { docs, plugin, service } from '../plugins/fixtures/e2e.ts'
import { secretYaml, selfSigned } from '../tls/certs.ts'

const backend = await startBackend('app')
t.teardown(() => backend.close())

const TOKEN = 'admin-token-5f1c9e0d7a'
const tls = selfSigned('secure.example')
const secrets = {
  basicPassword: 'basic-pass-8d2f71',
  jwtSecret: 'jwt-hs256-secret-0123456789abcdef0123',
  // public, but marked secret like every key field: its absence shows the mark works
  jwtPem: createPublicKey(tls.key).export({ type: 'spki', format: 'pem' }).toString(),
  authzHeader: 'authz-api-key-44c1b2',
  opaqueString: 'opaque-string-data-3b9d',
  opaqueData: 'opaque-base64-data-71ce',
  moduleKey: 'module-plugin-key-60af3c',
}
// The keys' body lines too: a partial copy is a leak as well.
/** bob's bcrypt hash: secret too, so it must not show either */
const bcryptHash = bcrypt.hashSync('bob-pass-77a1c3', 4)
const keyLines = [tls.key, secrets.jwtPem].flatMap((k) => k.split('\n')).filter((l) => l !== '' && !l.startsWith('-----'))
const forbidden = [...Object.values(secrets), bcryptHash, ...keyLines, Buffer.from(tls.key).toString('base64'), TOKEN]

const config = docs(
  secretYaml('site-cert', tls.cert, tls.key),
  `apiVersion: v1
kind: Secret
metadata:
  name: api-creds
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: ${JSON.stringify(JSON.stringify({ stringData: { apiKey: secrets.opaqueString } }))}
type: Opaque
stringData:
  apiKey: ${secrets.opaqueString}
data:
  dbPassword: ${Buffer.from(secrets.opaqueData).toString('base64')}
`,
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-sluice
data:
  default-certificate: default/site-cert
`,
  service('web', backend.origin, 'login'),
  `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: worker
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: ${JSON.stringify(backend.origin)}}
    spec:
      containers:
        - image: example.dev/app
          env:
            - name: API_KEY
              valueFrom:
                secretKeyRef: {name: api-creds, key: apiKey}
`,
  `apiVersion: v1
kind: Secret
metadata:
  name: login-users
type: Opaque
stringData:
  alice: ${secrets.basicPassword}
`,
  // A plain password only ever comes from a Secret; an inline value must be a hash (itself secret).
  plugin('login', 'basic-auth', { users: { alice: { secretKeyRef: { name: 'login-users', key: 'alice' } }, bob: bcryptHash }, realm: 'staff' }),
  plugin('tokens', 'jwt', { keys: [{ kid: 'k1', secret: secrets.jwtSecret }, { kid: 'k2', pem: secrets.jwtPem }], issuers: ['https://issuer.example'] }),
  service('leaky', backend.origin, 'leaky'),
  plugin('leaky', './leaky.mjs', { apiKey: secrets.moduleKey, mode: 'loud' }),
  plugin('authz', 'ext-authz', { url: 'http://127.0.0.1:9', extraHeaders: { 'x-api-key': secrets.authzHeader } }),
)

// A module plugin with a hand-written validate (no schema), careless enough to log its config.
const leaky = `export default {
  name: 'leaky',
  priority: 10,
  validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create: (config, ctx) => ({ onRequest() { ctx.log.warn('leaky plugin says ' + config.apiKey, { config, key: config.apiKey }) } }),
}
`

const s = await startSluice({ 'all.yaml': config, 'leaky.mjs': leaky }, {
  args: ['--admin-allowed-host', 'admin.example,ops.example', '--admin-allowed-host', 'third.example', '--host', '127.0.0.2'],
  env: { SLUICE_ADMIN_TOKEN: TOKEN },
})
t.teardown(() => s.stop())

const auth = { authorization: `Bearer ${TOKEN}` }
const admin = (host: string, path: string, headers: Record<string, string> = auth) => request(s.adminPort, host, path, { headers })
const PATHS = ['/debug/resources', '/debug/routes', '/debug/instances', '/debug/autoscaler', '/readyz', '/healthz', '/metrics', '/nope']

t.test('a Host that is not an IP, localhost or an allowed name gets 421, probes included', async (t) => {
  for (const host of ['evil.example', 'admin.example.evil.example', 'localhost.evil.example', 'evil.example@127.0.0.1', '127.0.0.1.nip.io', 'a b']) {
    for (const path of ['/debug/resources', '/healthz']) {
      const r = await admin(host, path)
      t.equal(r.status, 421, `${JSON.stringify(host)} ${path}`)
      t.notMatch(r.body, /"kind"/, 'nothing of the configuration')
    }
  }
})

t.test('IP literals, localhost and the --admin-allowed-host names are accepted', async (t) => {
  const port = s.adminPort
  for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `[::1]:${port}`, '10.1.2.3', '[2001:db8::1]', `localhost:${port}`, 'LocalHost.',
    'admin.example', `ops.example:${port}`, 'THIRD.example']) {
    t.equal((await admin(host, '/debug/routes')).status, 200, host)
  }
})

t.test('with SLUICE_ADMIN_TOKEN, every path but the probes needs the bearer token', async (t) => {
  for (const path of ['/debug/resources', '/debug/routes', '/debug/instances', '/debug/autoscaler', '/metrics', '/nope']) {
    const none = await admin('127.0.0.1', path, {})
    t.equal(none.status, 401, `${path} without a token`)
    t.equal(none.headers['www-authenticate'], 'Bearer realm="sluice-admin"')
    const wrong = await admin('127.0.0.1', path, { authorization: `Bearer ${TOKEN}x` })
    t.equal(wrong.status, 401, `${path} with a wrong token`)
    t.equal(wrong.headers['www-authenticate'], 'Bearer realm="sluice-admin", error="invalid_token"')
    t.equal((await admin('127.0.0.1', path, { authorization: `Basic ${TOKEN}` })).status, 401, `${path} with another scheme`)
  }
  t.equal((await admin('127.0.0.1', '/debug/routes', { authorization: `bearer ${TOKEN}` })).status, 200, 'the scheme is case-insensitive')
  t.equal((await admin('127.0.0.1', '/metrics')).status, 200)
  t.equal((await admin('127.0.0.1', '/nope')).status, 404, 'an unknown path is 404 once authorized')
  for (const path of ['/healthz', '/readyz']) t.equal((await admin('127.0.0.1', path, {})).status, 200, `${path} is open to probes`)
})

t.test('no secret value appears in any admin response', async (t) => {
  for (const path of PATHS) {
    for (const headers of [auth, {}]) {
      const r = await admin('127.0.0.1', path, headers)
      const text = JSON.stringify(r.headers) + r.body
      for (const f of forbidden) t.notOk(text.includes(f), `${path}${headers === auth ? '' : ' (no token)'} does not show ${JSON.stringify(f.slice(0, 24))}`)
    }
  }
})

t.test('/debug/resources keeps the shape: keys are shown, secret values are redacted', async (t) => {
  interface Obj { kind: string; metadata: { name: string; annotations?: Record<string, string> }; data?: Record<string, string>; stringData?: Record<string, string>; spec?: { config?: Record<string, unknown> } }
  const { objects } = JSON.parse((await admin('127.0.0.1', '/debug/resources')).body) as { objects: Obj[] }
  const find = (kind: string, name: string): Obj => objects.find((o) => o.kind === kind && o.metadata.name === name)!
  t.same(find('Secret', 'site-cert').data, { 'tls.crt': '<redacted>', 'tls.key': '<redacted>' })
  const creds = find('Secret', 'api-creds')
  t.same(creds.stringData, { apiKey: '<redacted>' })
  t.same(Object.keys(creds.data ?? {}).sort(), ['apiKey', 'dbPassword'])
  t.equal(creds.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], '<redacted>')
  t.same(find('Plugin', 'login').spec?.config, { users: { alice: { secretKeyRef: { name: 'login-users', key: 'alice' } }, bob: '<redacted>' }, realm: 'staff' },
    'user names, the realm and where a Secret is kept stay visible; a hash does not')
  t.same(find('Plugin', 'tokens').spec?.config, { keys: [{ kid: 'k1', secret: '<redacted>' }, { kid: 'k2', pem: '<redacted>' }], issuers: ['https://issuer.example'] })
  t.same(find('Plugin', 'leaky').spec?.config, { apiKey: '<redacted>', mode: '<redacted>' }, 'a plugin without a schema: all of its config')
  t.same(find('Plugin', 'authz').spec?.config, { url: 'http://127.0.0.1:9', extraHeaders: { 'x-api-key': '<redacted>' } })
  const worker = find('Service', 'worker') as unknown as { spec: { template: { spec: { containers: { env: unknown[] }[] } } } }
  t.same(worker.spec.template.spec.containers[0].env, [{ name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'api-creds', key: 'apiKey' } } }], 'which Secret an env var comes from stays visible')
  t.equal(find('ConfigMap', 'config-sluice').metadata.name, 'config-sluice', 'other objects are shown as they are')
})

t.test('neither the token nor any secret is logged', async (t) => {
  t.equal(await publicStatus('leaky.default.localhost'), 200)
  t.equal(await publicStatus('web.default.localhost', { authorization: `Basic ${Buffer.from(`alice:${secrets.basicPassword}`).toString('base64')}` }), 200)
  const logs = s.logs()
  t.match(logs, /sluice listening/)
  t.match(logs, /leaky plugin says <redacted> .*key=<redacted>/, 'a plugin logging its config: scrubbed')
  for (const f of forbidden) t.notOk(logs.includes(f), `the logs do not show ${JSON.stringify(f.slice(0, 24))}`)
})

/** The status of a GET to the public listener, which is on 127.0.0.2 (--host) in this file. */
function publicStatus(host: string, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.2', port: s.port, path: '/', headers: { ...headers, host }, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', reject)
  })
}

/** Can a TCP connection be opened to host:port? */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

t.test('the internal listener binds 127.0.0.1 by default, not --host', async (t) => {
  t.match(s.logs(), /sluice listening .*internalHost=127\.0\.0\.1/)
  t.ok(await connects('127.0.0.1', s.internalPort), 'on 127.0.0.1')
  t.notOk(await connects('127.0.0.2', s.internalPort), 'not on the --host address')
  t.ok(await connects('127.0.0.2', s.port), 'the public listener is on --host')
})

t.test('--admin-metrics-public opens /metrics only; --internal-host moves the internal listener', async (t) => {
  const p = await startSluice({ 'all.yaml': service('web', backend.origin) }, {
    args: ['--admin-metrics-public', '--internal-host', '127.0.0.3'],
    env: { SLUICE_ADMIN_TOKEN: TOKEN },
  })
  t.teardown(() => p.stop())
  t.equal((await request(p.adminPort, '127.0.0.1', '/metrics')).status, 200, '/metrics without a token')
  t.equal((await request(p.adminPort, 'evil.example', '/metrics')).status, 421, 'but still only for our Hosts')
  t.equal((await request(p.adminPort, '127.0.0.1', '/debug/routes')).status, 401, 'the rest still needs it')
  t.ok(await connects('127.0.0.3', p.internalPort), 'internal on --internal-host')
  t.notOk(await connects('127.0.0.1', p.internalPort), 'and not elsewhere')

  p.write('bad.yaml', plugin('oops', 'no-such-plugin'))
  t.ok(await eventually(async () => (await request(p.adminPort, '127.0.0.1', '/readyz')).body.includes('1 error;'), 5000, 25), 'a bad edit shows on /readyz')
  const open = await request(p.adminPort, '127.0.0.1', '/readyz')
  t.equal(open.status, 200, 'still serving the last good configuration')
  t.equal(open.body, 'ready: serving the last good configuration; the latest load has errors:\n1 error; send the admin token to see them\n', 'a probe gets the verdict, not the details')
  t.match((await request(p.adminPort, '127.0.0.1', '/readyz', { headers: auth })).body, /bad\.yaml:\d+:\d+ spec\.plugin: unknown plugin "no-such-plugin"/, 'with the token: the errors')
})

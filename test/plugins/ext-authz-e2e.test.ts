// config-sluice's extauthz-* keys (Kourier's) through the real `sluice serve`: a real gRPC
// Authorization server (grpc-js, the vendored Envoy protos) and a real HTTP one on 127.0.0.1.
// Allow with ok_response header edits, deny with denied_response, timeout, failure-mode-allow,
// the buffered body (string and pack-as-bytes, partial), context_extensions and metadata, probes
// left alone, the http protocol with a path prefix, and a bad key that keeps the last good config.
import t from 'tap'
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, startSluice, type HttpResult } from '../fixtures/sluice.ts'
import { expectReady, tableVersion } from './fixtures/e2e.ts'
import { PROTO_DIR } from '../../plugins/builtin/ext-authz-grpc.ts'

// --- a backend that echoes the request, its body included -------------------------------------

const backend = await startBackend('app', (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('base64') }))
  })
  return true
})
t.teardown(() => backend.close())
const reached = (url: string): number => backend.requests.filter((r) => r.url === url).length

// --- a real gRPC Authorization server --------------------------------------------------------

interface CheckRequest {
  attributes: {
    source?: { address?: { socket_address?: { address?: string; port_value?: number } } }
    request: { http: { method: string; path: string; host: string; scheme: string; protocol: string; headers: Record<string, string>; body?: string; raw_body?: Buffer; size?: number } }
    context_extensions?: Record<string, string>
  }
}
interface Seen { request: CheckRequest; client: string[] }
const checks: Seen[] = []
const held: (() => void)[] = []
const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [PROTO_DIR], keepCase: true, longs: Number, enums: Number, defaults: false })
const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } } }
const server = new grpc.Server()
server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
  Check(call: grpc.ServerUnaryCall<CheckRequest, unknown>, callback: grpc.sendUnaryData<unknown>) {
    checks.push({ request: call.request, client: call.metadata.get('client').map(String) })
    const p = call.request.attributes.request.http.path
    if (p.startsWith('/allow')) {
      callback(null, {
        status: { code: 0 },
        ok_response: {
          headers: [
            { header: { key: 'x-auth-user', value: 'alice' } },
            { header: { key: 'x-auth-group', value: 'admins' }, append: { value: true } },
          ],
          headers_to_remove: ['x-secret'],
        },
      })
    } else if (p.startsWith('/slow')) {
      // never answered while the test runs: the check times out
      held.push(() => callback(null, { status: { code: 0 } }))
    } else {
      callback(null, {
        status: { code: 7, message: 'failed' },
        denied_response: {
          status: { code: 401 },
          headers: [{ header: { key: 'www-authenticate', value: 'Bearer realm="e2e"' } }, { header: { key: 'x-deny-reason', value: 'policy' } }],
          body: 'denied by policy\n',
        },
      })
    }
  },
})
const grpcPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))))
t.teardown(() => { for (const h of held) h(); server.forceShutdown() })

// --- a real HTTP authorization server ---------------------------------------------------------

interface HttpCheck { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }
const httpChecks: HttpCheck[] = []
const authz = http.createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    httpChecks.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() })
    if ((req.url ?? '').startsWith('/check/allow')) res.writeHead(200).end()
    else res.writeHead(403, { 'content-type': 'text/plain' }).end('http says no\n')
  })
})
await new Promise<void>((resolve) => authz.listen(0, '127.0.0.1', resolve))
const httpAuthzPort = (authz.address() as AddressInfo).port
t.teardown(() => new Promise<void>((resolve) => { authz.closeAllConnections(); authz.close(() => resolve()) }))

// --- the configuration ------------------------------------------------------------------------

const service = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: web
  labels: {team: blue}
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: ${JSON.stringify(backend.origin)}}
    spec:
      containers:
        - image: example.dev/app
`
const configSluice = (data: Record<string, string>): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-sluice, namespace: knative-serving}\ndata:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`
// a generous timeout: the first check also opens the connection, on a machine that may be busy
const grpcKeys = { 'extauthz-host': `127.0.0.1:${grpcPort}`, 'extauthz-timeout': '3000', 'extauthz-max-request-body-bytes': '16' }

const s = await startSluice({ 'web.yaml': service, 'config-sluice.yaml': configSluice(grpcKeys) })
t.teardown(() => s.stop())
await expectReady(s)

const HOST = 'web.default.localhost'
function send(p: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string; port?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: opts.port ?? s.port, path: p, method: opts.method ?? 'GET', headers: { ...opts.headers, host: HOST }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`request ${p} timed out`)))
    req.on('error', reject)
    req.end(opts.body)
  })
}
interface Echo { url: string; headers: Record<string, string | undefined>; body: string }
const echo = (r: HttpResult): Echo => JSON.parse(r.body) as Echo
const lastCheck = (): CheckRequest => checks.at(-1)!.request

/** Writes config-sluice and waits until the new table is in place. */
async function reconfigure(data: Record<string, string>): Promise<void> {
  const before = await tableVersion(s)
  s.write('config-sluice.yaml', configSluice(data))
  const ok = await eventually(async () => (await tableVersion(s)) > before && (await s.admin('/readyz')).body === 'ready\n', 30_000, 25)
  if (!ok) throw new Error(`config-sluice did not apply; /readyz: ${(await s.admin('/readyz')).body}`)
}

t.test('grpc (the default protocol): allow applies ok_response header edits upstream', async (t) => {
  const r = await send('/allow/one?x=1', { headers: { 'x-secret': 'hide me', authorization: 'Bearer t', 'x-request-id': 'rid-1' } })
  t.equal(r.status, 200)
  const e = echo(r)
  t.equal(e.url, '/allow/one?x=1')
  t.equal(e.headers['x-auth-user'], 'alice', 'set from ok_response.headers')
  t.equal(e.headers['x-auth-group'], 'admins', 'append: true adds')
  t.equal(e.headers['x-secret'], undefined, 'headers_to_remove')
  t.equal(e.headers.authorization, 'Bearer t')

  const c = checks.at(-1)!
  t.same(c.client, ['kourier'], 'initial metadata client: kourier, as Kourier configures the gRPC service')
  const h = c.request.attributes.request.http
  t.equal(h.method, 'GET')
  t.equal(h.path, '/allow/one?x=1', 'path with the query, as Envoy')
  t.equal(h.host, HOST)
  t.equal(h.scheme, 'http')
  t.equal(h.protocol, 'HTTP/1.1')
  t.equal(h.headers[':authority'], HOST)
  t.equal(h.headers[':path'], '/allow/one?x=1')
  t.equal(h.headers[':method'], 'GET')
  t.equal(h.headers.authorization, 'Bearer t', 'every request header goes to a gRPC check')
  t.equal(h.headers['x-secret'], 'hide me')
  t.equal(h.body, undefined, 'no body, no body field')
  t.equal(h.headers['x-envoy-auth-partial-body'], undefined)
  t.equal(c.request.attributes.source?.address?.socket_address?.address, '127.0.0.1')
  t.same(c.request.attributes.context_extensions, {
    client: 'kourier', visibility: 'ExternalIP', team: 'blue',
    'serving.knative.dev/service': 'web', 'serving.knative.dev/route': 'web', 'serving.knative.dev/routeNamespace': 'default',
  }, 'client, visibility and the KIngress labels, as Kourier per virtual host')
})

t.test('grpc: deny sends denied_response status, headers and body to the client; the app never sees it', async (t) => {
  const r = await send('/private')
  t.equal(r.status, 401)
  t.equal(r.headers['www-authenticate'], 'Bearer realm="e2e"')
  t.equal(r.headers['x-deny-reason'], 'policy')
  t.equal(r.body, 'denied by policy\n')
  t.equal(reached('/private'), 0)
})

t.test('grpc: the body up to extauthz-max-request-body-bytes goes with the check; the app gets all of it', async (t) => {
  const small = await send('/allow/body', { method: 'POST', body: 'hello world', headers: { 'content-type': 'text/plain' } })
  t.equal(small.status, 200)
  t.equal(Buffer.from(echo(small).body, 'base64').toString(), 'hello world')
  let h = lastCheck().attributes.request.http
  t.equal(h.body, 'hello world')
  t.equal(h.size, 11)
  t.equal(h.headers['x-envoy-auth-partial-body'], 'false')

  const long = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const big = await send('/allow/big', { method: 'POST', body: long })
  t.equal(big.status, 200)
  t.equal(Buffer.from(echo(big).body, 'base64').toString(), long, 'the whole body reaches the app')
  h = lastCheck().attributes.request.http
  t.equal(h.body, long.slice(0, 16), 'the first 16 bytes are checked')
  t.equal(h.headers['x-envoy-auth-partial-body'], 'true')

  // chunked, in several writes
  const chunked = await new Promise<HttpResult>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, path: '/allow/chunked', method: 'PUT', headers: { host: HOST }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.write('part1-')
    setImmediate(() => { req.write('part2'); req.end() })
  })
  t.equal(chunked.status, 200)
  t.equal(Buffer.from(echo(chunked).body, 'base64').toString(), 'part1-part2')
  t.equal(lastCheck().attributes.request.http.body, 'part1-part2')
})

t.test('grpc: the body of an HTTP/2 (h2c) request, and HTTP/2 in the check', async (t) => {
  const session = http2.connect(`http://127.0.0.1:${s.port}`)
  t.teardown(() => session.close())
  const post = (p: string, body: string, end: boolean): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': p, ':authority': HOST }, { endStream: false })
    let text = ''
    let status = 0
    req.setEncoding('utf8')
    req.on('response', (h) => { status = Number(h[':status']) })
    req.on('data', (d: string) => { text += d })
    req.on('end', () => resolve({ status, body: text }))
    req.on('error', reject)
    req.write(body)
    if (end) req.end()
    else setImmediate(() => req.end('-tail'))
  })
  const r = await post('/allow/h2', 'over h2', true)
  t.equal(r.status, 200)
  t.equal(Buffer.from((JSON.parse(r.body) as Echo).body, 'base64').toString(), 'over h2')
  let h = lastCheck().attributes.request.http
  t.equal(h.protocol, 'HTTP/2')
  t.equal(h.body, 'over h2')
  t.equal(h.headers['x-envoy-auth-partial-body'], 'false')
  const long = await post('/allow/h2-long', 'x'.repeat(20), false)
  t.equal(long.status, 200)
  t.equal(Buffer.from((JSON.parse(long.body) as Echo).body, 'base64').toString(), `${'x'.repeat(20)}-tail`)
  h = lastCheck().attributes.request.http
  t.equal(h.body, 'x'.repeat(16))
  t.equal(h.headers['x-envoy-auth-partial-body'], 'true')
})

t.test('probes and status paths are not checked', async (t) => {
  const n = checks.length
  const probe = await send('/healthz', { headers: { 'k-network-probe': 'probe', 'k-network-hash': 'abc' } })
  t.equal(probe.status, 200)
  t.equal((await send('/.well-known/acme-challenge/token')).status, 200, 'ACME HTTP-01 challenges pass, as Kourier')
  t.equal((await s.admin('/healthz')).status, 200)
  t.equal((await s.admin('/readyz')).status, 200)
  t.equal(checks.length, n, 'the auth service saw none of them')
  t.equal((await send('/healthz')).status, 401, 'the same path without the probe header is checked')
  t.equal(checks.length, n + 1)
})

t.test('grpc: a check that times out denies with 403; failure-mode-allow lets it through', async (t) => {
  const r = await send('/slow/1')
  t.equal(r.status, 403)
  t.equal(reached('/slow/1'), 0)
  await reconfigure({ ...grpcKeys, 'extauthz-failure-mode-allow': 'true' })
  const open = await send('/slow/2')
  t.equal(open.status, 200)
  t.equal(reached('/slow/2'), 1)
})

t.test('grpc: pack-as-bytes sends raw_body', async (t) => {
  await reconfigure({ ...grpcKeys, 'extauthz-pack-as-bytes': 'true' })
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41])
  const r = await send('/allow/raw', { method: 'POST', body: bytes })
  t.equal(r.status, 200)
  t.same(Buffer.from(echo(r).body, 'base64'), bytes)
  const h = lastCheck().attributes.request.http
  t.equal(h.body, undefined)
  t.same(Buffer.from(h.raw_body!), bytes, 'bytes that are not UTF-8 arrive intact')
})

t.test('a bad extauthz key: a located error on /readyz, and the last good config keeps checking', async (t) => {
  const text = configSluice({ ...grpcKeys, 'extauthz-timeout': '2s' })
  s.write('config-sluice.yaml', text)
  const file = path.join(s.configDir, 'config-sluice.yaml')
  let body = ''
  t.ok(await eventually(async () => (body = (await s.admin('/readyz')).body).includes('extauthz-timeout'), 30_000, 25), body)
  const m = /\n(\/[^:]+):(\d+):(\d+) data\.extauthz-timeout: config-sluice: extauthz-timeout must be a whole number of milliseconds from 1 to 3600000, such as "2000", got "2s"\n$/.exec(body)
  t.ok(m, body)
  if (m !== null) {
    t.equal(m[1], file)
    const line = readFileSync(file, 'utf8').split('\n')[Number(m[2]) - 1]!
    t.equal(line.trim().startsWith('extauthz-timeout:'), true, `the key's line: ${line}`)
    t.equal(line.slice(Number(m[3]) - 1), '"2s"', 'the column of its value')
  }
  t.equal((await send('/private-2')).status, 401, 'the last good table still checks')

  s.write('config-sluice.yaml', configSluice({ ...grpcKeys, 'extauthz-protocol': 'grpcs' }))
  t.ok(await eventually(async () => (body = (await s.admin('/readyz')).body).includes('extauthz-protocol must be one of grpc, http, https, got "grpcs"'), 30_000, 25), body)
})

t.test('http protocol with a path prefix', async (t) => {
  await reconfigure({ 'extauthz-host': `127.0.0.1:${httpAuthzPort}`, 'extauthz-protocol': 'http', 'extauthz-path-prefix': '/check', 'extauthz-max-request-body-bytes': '4' })
  const grpcBefore = checks.length
  const ok = await send('/allow/h?q=1', { method: 'POST', body: 'abcdefgh', headers: { authorization: 'Basic x', cookie: 'c=1' } })
  t.equal(ok.status, 200)
  t.equal(Buffer.from(echo(ok).body, 'base64').toString(), 'abcdefgh')
  const c = httpChecks.at(-1)!
  t.equal(c.url, '/check/allow/h?q=1', 'path prefix + original path and query')
  t.equal(c.method, 'POST')
  t.equal(c.headers.client, 'kourier', 'Kourier adds client: kourier to HTTP checks')
  t.equal(c.headers.authorization, 'Basic x')
  t.equal(c.headers.cookie, undefined, 'only Authorization, as Envoy\'s HTTP service by default')
  t.equal(c.body, 'abcd', 'the first 4 bytes')
  t.equal(c.headers['x-envoy-auth-partial-body'], 'true')

  const no = await send('/nope')
  t.equal(no.status, 403)
  t.equal(no.body, 'http says no\n')
  t.equal(checks.length, grpcBefore, 'the gRPC service is no longer asked')
})

t.test('extauthz-host removed: no checks', async (t) => {
  await reconfigure({})
  const n = httpChecks.length
  t.equal((await send('/nope-again')).status, 200)
  t.equal(httpChecks.length, n)
})

// The status writes' connection pool (control/sources/kubernetes/api-pool.ts) against a plain HTTP
// server standing in for the API server: requests share kept-alive connections, the kubeconfig's
// path prefix is kept, an exec credential plugin's new token is used by the next batch, and a 401
// is an ApiError that makes the next request read the credentials again.
import t, { type Test } from 'tap'
import http from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { ApiError, ApiPool } from '../../control/sources/kubernetes/api-pool.ts'

interface Seen { method: string; url: string; auth: string | undefined; type: string | undefined; body: string }

async function server(t: Test, answer: (s: Seen) => { status: number; body: unknown }): Promise<{ url: string; seen: Seen[]; connections: () => number }> {
  const seen: Seen[] = []
  let connections = 0
  const srv = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body }
      seen.push(s)
      const a = answer(s)
      res.writeHead(a.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(a.body))
    })
  })
  srv.on('connection', () => { connections++ })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()) }))
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen, connections: () => connections }
}

/** A kubeconfig whose user gets its token from an exec plugin printing `file` (an ExecCredential that is already expired, so it runs each time). */
function execKubeConfig(server: string, file: string): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(file)}, 'utf8'))`] } }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  })
  return kc
}

function credential(file: string, token: string): void {
  writeFileSync(file, JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token, expirationTimestamp: '2000-01-01T00:00:00Z' } }))
}

t.test('kept-alive connections, the path prefix, a rotated exec token', async (t) => {
  const s = await server(t, (r) => ({ status: 200, body: { metadata: { resourceVersion: String(r.body.length) } } }))
  const file = join(mkdtempSync(join(tmpdir(), 'api-pool-')), 'cred.json')
  credential(file, 'one')
  const pool = ApiPool.for(execKubeConfig(`${s.url}/prefix/`, file), { connections: 2, credentialsTtlMs: 60_000 })!
  t.teardown(() => pool.close())
  const out = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.request('PUT', `/apis/x/v1/namespaces/ns/things/t${i}/status`, { status: { i } })))
  t.equal(s.seen.length, 20)
  t.ok(s.connections() <= 2, `at most 2 connections for 20 requests (${s.connections()})`)
  t.ok(s.seen.every((r) => r.url.startsWith('/prefix/apis/x/v1/') && r.auth === 'Bearer one' && r.type === 'application/json' && r.method === 'PUT'))
  t.same(out[0], { metadata: { resourceVersion: String(s.seen.find((r) => r.url.endsWith('/t0/status'))!.body.length) } }, 'the parsed answer')

  // The plugin's token changes: requests within the TTL keep the one read for their batch…
  credential(file, 'two')
  await pool.request('PUT', '/apis/x/v1/namespaces/ns/things/a/status', {})
  t.equal(s.seen.at(-1)!.auth, 'Bearer one')
  // …the next batch reads the credentials again.
  const fresh = ApiPool.for(execKubeConfig(s.url, file), { credentialsTtlMs: 0 })!
  t.teardown(() => fresh.close())
  await fresh.request('PUT', '/apis/x/v1/namespaces/ns/things/a/status', {})
  t.equal(s.seen.at(-1)!.auth, 'Bearer two')
  credential(file, 'three')
  await fresh.request('PUT', '/apis/x/v1/namespaces/ns/things/a/status', {})
  t.equal(s.seen.at(-1)!.auth, 'Bearer three')
})

t.test('an answer that is not 2xx: an ApiError with the code and the Status message; a 401 reads the credentials again', async (t) => {
  let status = 409
  const s = await server(t, () => ({ status, body: { kind: 'Status', code: status, message: `answer ${status}` } }))
  const file = join(mkdtempSync(join(tmpdir(), 'api-pool-')), 'cred.json')
  credential(file, 'old')
  const pool = ApiPool.for(execKubeConfig(s.url, file), { credentialsTtlMs: 60_000 })!
  t.teardown(() => pool.close())
  const err = await pool.request('PUT', '/apis/x/v1/namespaces/ns/things/a/status', {}).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof ApiError)
  t.equal((err as ApiError).code, 409)
  t.equal((err as ApiError).message, 'answer 409')
  status = 401
  credential(file, 'new')
  await t.rejects(pool.request('PUT', '/apis/x/v1/namespaces/ns/things/a/status', {}), { code: 401 })
  t.equal(s.seen.at(-1)!.auth, 'Bearer old', 'the cached token until the server rejects it')
  status = 200
  await pool.request('PUT', '/apis/x/v1/namespaces/ns/things/a/status', {})
  t.equal(s.seen.at(-1)!.auth, 'Bearer new', 'read again after the 401')
})

t.test('a cluster behind a proxy stays on client-node\'s path', async (t) => {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://k8s.example', skipTLSVerify: false, proxyUrl: 'http://proxy.example:3128' }],
    users: [{ name: 'u', token: 't' }], contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }], currentContext: 'ctx',
  })
  t.equal(ApiPool.for(kc), undefined)
})

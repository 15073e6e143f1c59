// ext-authz plugin against a real node:http auth service on 127.0.0.1: what the check carries,
// allow/deny/error outcomes, header copying both ways, body limits, timeouts and keep-alive.
import t, { type Test } from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import plugin from '../../plugins/builtin/ext-authz.ts'
import type { LocalResponse, PluginContext, PluginInstance, RequestContext } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest } from '../../plugins/testing.ts'

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders }
interface AuthServer {
  url: string
  seen: Seen[]
  connections: number
  handler: (req: IncomingMessage, res: ServerResponse) => void
}

async function authServer(t: Test): Promise<AuthServer> {
  const state: AuthServer = { url: '', seen: [], connections: 0, handler: (_req, res) => res.end() }
  const server = http.createServer((req, res) => {
    state.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    state.handler(req, res)
  })
  server.on('connection', () => state.connections++)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return state
}

function make(t: Test, raw: unknown, pctx: PluginContext = fakePluginContext()): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(v.issues.map((i) => `${i.path}: ${i.message}`).join('; '))
  const inst = plugin.create(v.config, pctx)
  t.teardown(() => (inst as unknown as { close(): Promise<void> }).close())
  return inst
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

async function run(inst: PluginInstance, ctx: RequestContext): Promise<LocalResponse | undefined> {
  return (await inst.onRequest!(ctx)) ?? undefined
}

t.test('config validation', async (t) => {
  t.same(problems({}), ['url: required: a string'])
  t.same(problems({ url: 'ftp://authz:8080' }), ['url: must be an http://, https:// or grpc:// URL such as http://authz.example:8080, got "ftp://authz:8080"'])
  t.same(problems({ url: 'authz:8080' }), ['url: must be an http://, https:// or grpc:// URL such as http://authz.example:8080, got "authz:8080"'])
  t.same(problems({ url: 'http://authz:8080/?a=1' }), ['url: must not have a query, fragment or credentials'])
  t.same(problems({ url: 'http://authz:8080', pathPrefix: 'check' }), ['pathPrefix: must start with /, got "check"'])
  t.same(problems({ url: 'http://authz:8080', allowedRequestHeaders: ['x y', 'x-*'] }), ['allowedRequestHeaders[0]: "x y" is not a header name or name-prefix* pattern'])
  t.same(problems({ url: 'http://authz:8080', allowedClientHeaders: 'www-authenticate' }), ['allowedClientHeaders: must be a list of a string, got string "www-authenticate"'])
  t.same(problems({ url: 'http://authz:8080', extraHeaders: { 'bad name': 'x', ok: 'a\nb' } }), ['extraHeaders.bad name: not a valid header name', 'extraHeaders.ok: value must be printable ASCII'])
  t.same(problems({ url: 'http://authz:8080', timeout: '0s' }), ['timeout: must be a duration such as "500ms", "30s" or a number of seconds, got string "0s"'])
  t.same(problems({ url: 'http://authz:8080', statusOnError: 99 }), ['statusOnError: must be a whole number from 200 to 599, got number 99'])
  t.match(problems({ url: 'http://authz:8080', failureMode: 'allow' })[0], /^failureMode: unknown field; known fields: url, pathPrefix/)
  const v = plugin.validate({ url: 'http://authz:8080' })
  t.ok(v.ok)
  if (v.ok) {
    t.equal(v.config.timeout, 2000)
    t.equal(v.config.failureModeAllow, false)
    t.equal(v.config.statusOnError, 403)
    t.same(v.config.allowedRequestHeaders, ['authorization', 'cookie', 'x-forwarded-*'])
    t.same(v.config.allowedClientHeaders, ['*'])
  }
})

t.test('allow: the check carries method, prefixed path, chosen headers; upstream gets chosen headers', async (t) => {
  const srv = await authServer(t)
  srv.handler = (_req, res) => {
    res.setHeader('x-user', 'alice')
    res.setHeader('x-auth-groups', 'admins')
    res.setHeader('set-cookie', ['a=1', 'b=2'])
    res.setHeader('x-other', 'no')
    res.end('ok')
  }
  const inst = make(t, {
    url: srv.url,
    pathPrefix: '/check/',
    allowedUpstreamHeaders: ['X-User', 'x-auth-*'],
    extraHeaders: { 'x-ext-authz-client': 'sluice', visibility: 'ExternalIP' },
  })
  const ctx = fakeRequest({
    method: 'POST',
    url: '/api/items?page=2',
    host: 'app.example.com',
    headers: { authorization: 'Bearer abc', cookie: 'sid=1', 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', 'x-secret': 'no', 'x-user': 'mallory', 'content-length': '12' },
  })
  t.equal(await run(inst, ctx), undefined)
  t.equal(srv.seen.length, 1)
  const s = srv.seen[0]
  t.equal(s.method, 'POST')
  t.equal(s.url, '/check/api/items?page=2')
  t.equal(s.headers.authorization, 'Bearer abc')
  t.equal(s.headers.cookie, 'sid=1')
  t.equal(s.headers['x-forwarded-for'], '10.0.0.1')
  t.equal(s.headers['x-forwarded-proto'], 'https')
  t.equal(s.headers['x-forwarded-host'], 'app.example.com')
  t.equal(s.headers['x-ext-authz-client'], 'sluice')
  t.equal(s.headers.visibility, 'ExternalIP')
  t.equal(s.headers['x-secret'], undefined)
  t.equal(s.headers['x-user'], undefined)
  t.equal(s.headers.host, new URL(srv.url).host, 'Host names the auth service')
  t.not(s.headers['content-length'], '12', 'the client body length is not claimed for the bodiless check')
  // upstream headers: overwritten or added; unlisted ones (set-cookie, x-other) not copied
  t.same(ctx.requestHeaders.getAll('x-user'), ['alice'])
  t.equal(ctx.requestHeaders.get('x-auth-groups'), 'admins')
  t.equal(ctx.requestHeaders.get('set-cookie'), undefined)
  t.equal(ctx.requestHeaders.get('x-other'), undefined)

  // an x-forwarded-host from the client side (a proxy in front) is kept as is
  const ctx2 = fakeRequest({ url: '/', host: 'internal', headers: { 'x-forwarded-host': 'public.example.com' } })
  t.equal(await run(inst, ctx2), undefined)
  t.equal(srv.seen[1].headers['x-forwarded-host'], 'public.example.com')
  t.equal(srv.seen[1].method, 'GET')
})

t.test('url base path and methods; repeated values copied upstream', async (t) => {
  const srv = await authServer(t)
  srv.handler = (_req, res) => {
    res.setHeader('x-role', ['a', 'b'])
    res.writeHead(204).end()
  }
  const inst = make(t, { url: `${srv.url}/authz/`, pathPrefix: '/v1', allowedUpstreamHeaders: ['x-role'] })
  const ctx = fakeRequest({ method: 'HEAD', url: '/x', headers: { 'x-role': 'spoof' } })
  t.equal(await run(inst, ctx), undefined, '204 allows')
  t.equal(srv.seen[0].url, '/authz/v1/x')
  t.equal(srv.seen[0].method, 'HEAD')
  t.same(ctx.requestHeaders.getAll('x-role'), ['a', 'b'])
  const del = fakeRequest({ method: 'DELETE', url: '/y' })
  t.equal(await run(inst, del), undefined)
  t.equal(srv.seen[1].method, 'DELETE')
})

t.test('deny: status, body and client headers of the auth response reach the client', async (t) => {
  const srv = await authServer(t)
  srv.handler = (req, res) => {
    if (req.url === '/login') {
      res.writeHead(302, { location: 'https://sso.example.com/?next=%2Flogin', 'set-cookie': ['state=1', 'nonce=2'] }).end()
      return
    }
    if (req.url === '/big') {
      res.writeHead(403, { 'content-type': 'text/plain' })
      res.end('x'.repeat(100_000))
      return
    }
    if (req.url === '/boom') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('auth broke')
      return
    }
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="sso"', 'content-type': 'application/json', 'x-debug': 'secret', connection: 'keep-alive' })
    res.end('{"error":"no"}')
  }
  const inst = make(t, { url: srv.url, maxBodyBytes: 1000 })
  const r = await run(inst, fakeRequest({ url: '/private' }))
  t.equal(r?.status, 401)
  t.equal(r?.body?.toString(), '{"error":"no"}')
  t.equal(r?.headers?.['www-authenticate'], 'Bearer realm="sso"')
  t.equal(r?.headers?.['content-type'], 'application/json')
  t.equal(r?.headers?.['x-debug'], 'secret', 'default * passes every header')
  t.equal(r?.headers?.['content-length'], undefined, 'framing headers are not copied')
  t.equal(r?.headers?.connection, undefined)
  t.equal(r?.headers?.['keep-alive'], undefined)

  const redirect = await run(inst, fakeRequest({ url: '/login' }))
  t.equal(redirect?.status, 302)
  t.equal(redirect?.headers?.location, 'https://sso.example.com/?next=%2Flogin')
  t.same(redirect?.headers?.['set-cookie'], ['state=1', 'nonce=2'])

  const big = await run(inst, fakeRequest({ url: '/big' }))
  t.equal(big?.status, 403)
  t.equal(big?.body?.length, 1000, 'the body is cut at maxBodyBytes')

  const boom = await run(inst, fakeRequest({ url: '/boom' }))
  t.equal(boom?.status, 500, 'a 5xx answer is a denial with that status')
  t.equal(boom?.body?.toString(), 'auth broke')

  const picky = make(t, { url: srv.url, allowedClientHeaders: ['WWW-Authenticate'], maxBodyBytes: 0 })
  const p = await run(picky, fakeRequest({ url: '/private' }))
  t.same(p?.headers, { 'www-authenticate': 'Bearer realm="sso"' })
  t.equal(p?.body?.length, 0)
  // the next check on the same pool still works after a cut body
  t.equal((await run(picky, fakeRequest({ url: '/big' })))?.status, 403)
})

t.test('timeouts and connection errors: 403 by default, statusOnError, or allow', async (t) => {
  const srv = await authServer(t)
  srv.handler = () => {} // never answers: only the check's timeout can end it (teardown closes the sockets)
  const warnings: Record<string, unknown>[] = []
  const noop = (): void => {}
  const log = { info: noop, error: noop, warn: (_m: string, f?: Record<string, unknown>) => { warnings.push(f ?? {}) } }
  const pctx: PluginContext = { ...fakePluginContext(), log }

  const strict = make(t, { url: srv.url, timeout: '100ms' }, pctx)
  t.same(await run(strict, fakeRequest()), { status: 403 }, 'the timeout cut the check short')
  t.same(await run(strict, fakeRequest()), { status: 403 })
  t.equal(warnings.length, 1, 'failures are logged at most once per 10 s')
  t.equal(warnings[0].error, 'timed out after 100 ms')

  const custom = make(t, { url: srv.url, timeout: '100ms', statusOnError: 503 })
  t.same(await run(custom, fakeRequest()), { status: 503 })

  const open = make(t, { url: srv.url, timeout: '100ms', failureModeAllow: true })
  t.equal(await run(open, fakeRequest()), undefined)

  const dead = make(t, { url: 'http://127.0.0.1:1' }, pctx)
  t.same(await run(dead, fakeRequest()), { status: 403 })
  t.equal(warnings[1].error, 'ECONNREFUSED')
  const deadOpen = make(t, { url: 'http://127.0.0.1:1', failureModeAllow: true })
  t.equal(await run(deadOpen, fakeRequest()), undefined)
})

t.test('checks reuse keep-alive connections', async (t) => {
  const srv = await authServer(t)
  srv.handler = (_req, res) => res.end('ok')
  const inst = make(t, { url: srv.url })
  for (let i = 0; i < 20; i++) t.equal(await run(inst, fakeRequest({ url: `/r${i}` })), undefined)
  t.equal(srv.seen.length, 20)
  // undici frees a connection just after the body ends, so back-to-back checks may open a second
  t.ok(srv.connections <= 2, `20 sequential checks used ${srv.connections} connections`)
  // concurrent checks open more connections, bounded by the pool
  const few = make(t, { url: srv.url, connections: 2 })
  const before = srv.connections
  // Checks are held until the pool has opened both its connections, so they surely overlap.
  const held: { end(): void }[] = []
  srv.handler = (_req, res) => {
    held.push(res)
    if (srv.connections - before >= 2) for (const r of held.splice(0)) r.end()
  }
  await Promise.all(Array.from({ length: 10 }, () => run(few, fakeRequest())))
  t.equal(srv.connections - before, 2)
})

// cors: preflights answered at the gateway, CORS headers on actual responses (also local ones),
// origin matching (exact, '*', wildcard subdomains), and config errors.
import t from 'tap'
import plugin from '../../plugins/builtin/cors.ts'
import type { PluginInstance, RequestContext } from '../../plugins/api.ts'
import type { FakeRequestOptions } from '../../plugins/testing.ts'
import { fakePluginContext, fakeRequest, isLocalResponse } from '../../plugins/testing.ts'

function make(raw: unknown): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(JSON.stringify(v.issues))
  return plugin.create(v.config, fakePluginContext())
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

const preflightReq = (origin: string, extra: Record<string, string> = {}): RequestContext =>
  fakeRequest({ method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'PUT', ...extra } })

/** the request phase, then (as the gateway does) the response phase on an upstream 200 */
function roundTrip(p: PluginInstance, ctx: RequestContext): Record<string, string[]> {
  if (p.onRequest!(ctx) !== undefined) throw new Error('short-circuited')
  ctx.status = 200
  ctx.responseHeaders.set('content-type', 'text/plain')
  p.onResponseHeaders!(ctx)
  return headerMap(ctx)
}

function headerMap(ctx: RequestContext): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [k, v] of ctx.responseHeaders.entries()) (out[k] ??= []).push(v)
  return out
}

t.test('defaults', async (t) => {
  const v = plugin.validate(undefined)
  t.ok(v.ok)
  if (v.ok) {
    t.same(v.config.origins, ['*'])
    t.same(v.config.methods, ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'])
    t.equal(v.config.credentials, false)
  }
  t.equal(plugin.name, 'cors')
  t.equal(plugin.priority, 2000)
})

t.test('preflight from an allowed origin is answered with 204 at the gateway', async (t) => {
  const p = make({ origins: ['https://app.example.com'], methods: ['GET', 'PUT'], credentials: true, maxAge: '10m' })
  const ctx = preflightReq('https://app.example.com', { 'access-control-request-headers': 'x-token, content-type' })
  const r = p.onRequest!(ctx)
  t.ok(isLocalResponse(r))
  if (!isLocalResponse(r)) return
  t.equal(r.status, 204)
  t.same(r.headers, {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-methods': 'GET, PUT',
    vary: 'Origin, Access-Control-Request-Headers',
    'access-control-allow-headers': 'x-token, content-type',
    'access-control-allow-credentials': 'true',
    'access-control-max-age': '600',
  })
  t.equal(r.body, undefined)
  // the response phase then runs on this local response: it must not add anything twice
  ctx.status = 204
  for (const [k, v] of Object.entries(r.headers ?? {})) ctx.responseHeaders.add(k, v as string)
  p.onResponseHeaders!(ctx)
  t.equal(ctx.responseHeaders.getAll('vary').length, 1)
  t.equal(ctx.responseHeaders.getAll('access-control-allow-origin').length, 1)
})

t.test('preflight with "*" and no credentials answers "*", varying only by the echoed headers', async (t) => {
  const p = make({})
  const r = p.onRequest!(preflightReq('https://anything.test'))
  if (!isLocalResponse(r)) return t.fail('expected a local response')
  t.equal(r.status, 204)
  t.same(r.headers, {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, HEAD, PUT, PATCH, POST, DELETE',
    vary: 'Access-Control-Request-Headers',
  })
  const fixed = make({ allowHeaders: ['x-a'] }).onRequest!(preflightReq('https://anything.test'))
  t.same(isLocalResponse(fixed) && fixed.headers?.vary, undefined, 'nothing echoed: no Vary')
})

t.test('preflight: configured allowHeaders win over the requested ones', async (t) => {
  const p = make({ allowHeaders: ['X-One', 'X-Two'] })
  const r = p.onRequest!(preflightReq('https://a.test', { 'access-control-request-headers': 'x-other' }))
  if (!isLocalResponse(r)) return t.fail('expected a local response')
  t.equal(r.headers?.['access-control-allow-headers'], 'X-One, X-Two')
  t.equal(r.headers?.vary, undefined)
})

t.test('preflight from a disallowed origin gets 403 and no CORS headers', async (t) => {
  const p = make({ origins: ['https://app.example.com'] })
  const r = p.onRequest!(preflightReq('https://evil.test'))
  if (!isLocalResponse(r)) return t.fail('expected a local response')
  t.equal(r.status, 403)
  t.notOk(Object.keys(r.headers ?? {}).some((k) => k.startsWith('access-control-')))
})

t.test('OPTIONS without Access-Control-Request-Method is an ordinary request', async (t) => {
  const p = make({ origins: ['https://a.test'] })
  const h = roundTrip(p, fakeRequest({ method: 'OPTIONS', headers: { origin: 'https://a.test' } }))
  t.same(h['access-control-allow-origin'], ['https://a.test'])
})

t.test('actual request from an allowed origin', async (t) => {
  const p = make({ origins: ['https://a.test', 'https://b.test'], exposeHeaders: ['X-Total', 'ETag'], credentials: true })
  const h = roundTrip(p, fakeRequest({ headers: { origin: 'https://b.test' } }))
  t.same(h['access-control-allow-origin'], ['https://b.test'])
  t.same(h['access-control-allow-credentials'], ['true'])
  t.same(h['access-control-expose-headers'], ['X-Total, ETag'])
  t.same(h.vary, ['Origin'])
})

t.test('"*" without credentials sends "*"; with credentials it echoes the origin', async (t) => {
  const star = roundTrip(make({}), fakeRequest({ headers: { origin: 'https://x.test' } }))
  t.same(star['access-control-allow-origin'], ['*'])
  t.equal(star.vary, undefined, 'a constant answer does not vary')
  t.equal(star['access-control-allow-credentials'], undefined)
  const cred = roundTrip(make({ credentials: true }), fakeRequest({ headers: { origin: 'https://x.test' } }))
  t.same(cred['access-control-allow-origin'], ['https://x.test'])
  t.same(cred.vary, ['Origin'])
})

t.test('a disallowed origin gets no CORS headers (only Vary)', async (t) => {
  const h = roundTrip(make({ origins: ['https://a.test'], exposeHeaders: ['X-Total'] }), fakeRequest({ headers: { origin: 'https://evil.test' } }))
  t.same(Object.keys(h).filter((k) => k.startsWith('access-control-')), [])
  t.same(h.vary, ['Origin'])
})

t.test('no Origin header: no CORS headers', async (t) => {
  const h = roundTrip(make({ origins: ['https://a.test'] }), fakeRequest())
  t.same(Object.keys(h).filter((k) => k.startsWith('access-control-')), [])
  t.same(h.vary, ['Origin'], 'caches must still key on Origin')
})

t.test('the upstream\'s own Access-Control-Allow-Origin is replaced, its Vary kept', async (t) => {
  const p = make({ origins: ['https://a.test'] })
  const ctx = fakeRequest({ headers: { origin: 'https://a.test' } })
  p.onRequest!(ctx)
  ctx.status = 200
  ctx.responseHeaders.add('access-control-allow-origin', '*')
  ctx.responseHeaders.add('vary', 'Accept-Encoding')
  p.onResponseHeaders!(ctx)
  t.same(ctx.responseHeaders.getAll('access-control-allow-origin'), ['https://a.test'])
  t.same(ctx.responseHeaders.getAll('vary'), ['Accept-Encoding', 'Origin'])
})

t.test('a local response of another plugin (401) gets CORS headers too', async (t) => {
  const p = make({ origins: ['https://a.test'] })
  const ctx = fakeRequest({ headers: { origin: 'https://a.test' } })
  p.onRequest!(ctx)
  ctx.status = 401
  ctx.responseHeaders.set('www-authenticate', 'Basic realm="x"')
  p.onResponseHeaders!(ctx)
  t.equal(ctx.responseHeaders.get('access-control-allow-origin'), 'https://a.test')
})

t.test('wildcard subdomains', async (t) => {
  const p = make({ origins: ['https://*.example.com', 'http://*.dev.test:8080'] })
  const allowed = (o: string): boolean => {
    const r = p.onRequest!(preflightReq(o))
    return isLocalResponse(r) && r.status === 204
  }
  t.ok(allowed('https://a.example.com'))
  t.ok(allowed('https://a.b.example.com'))
  t.ok(allowed('https://A.Example.com'), 'host case does not matter')
  t.ok(allowed('http://x.dev.test:8080'))
  t.notOk(allowed('https://example.com'), 'the bare domain is not a subdomain')
  t.notOk(allowed('http://a.example.com'), 'scheme must match')
  t.notOk(allowed('https://a.example.com:8443'), 'port must match')
  t.notOk(allowed('https://a.example.com.evil.test'))
  t.notOk(allowed('https://evilexample.com'))
  t.notOk(allowed('http://x.dev.test'))
})

t.test('never touches ctx.state (a Map made on first use)', async (t) => {
  const p = make({ origins: ['https://a.test'], credentials: true })
  const cases: FakeRequestOptions[] = [{ headers: { origin: 'https://a.test' } }, { method: 'OPTIONS', headers: { origin: 'https://a.test', 'access-control-request-method': 'GET' } }, {}]
  for (const o of cases) {
    const ctx = fakeRequest(o)
    Object.defineProperty(ctx, 'state', { get() { throw new Error('ctx.state used') } })
    p.onRequest!(ctx)
    ctx.status = 200
    p.onResponseHeaders!(ctx)
  }
  t.pass()
})

t.test('config errors', async (t) => {
  t.same(problems({ origins: ['https://a.test', 'example.com', 'https://*.x.test/path'] }), [
    'origins[1]: "example.com" is not an origin: use "*", scheme://host[:port] or https://*.example.com',
    'origins[2]: "https://*.x.test/path" is not an origin: use "*", scheme://host[:port] or https://*.example.com',
  ])
  t.same(problems({ origins: [] }), ['origins: needs at least 1 item'])
  t.same(problems({ origins: ['*', 'https://a.test'] }), ['origins: "*" allows every origin; list it alone'])
  t.same(problems({ methods: ['GET', 'GET POST'] }), ['methods[1]: "GET POST" is not a method name'])
  t.same(problems({ allowHeaders: ['x-ok', 'bad header'], exposeHeaders: [3] }), [
    'allowHeaders[1]: "bad header" is not a header name',
    'exposeHeaders[0]: must be a string, got number 3',
  ])
  t.same(problems({ credentials: 'yes' }), ['credentials: must be true or false, got string "yes"'])
  t.same(problems({ maxAge: 'ten minutes' }), ['maxAge: must be a duration such as "500ms", "30s" or a number of seconds, got string "ten minutes"'])
  t.same(problems({ origin: ['*'] }), ['origin: unknown field; known fields: origins, methods, allowHeaders, exposeHeaders, credentials, maxAge'])
})

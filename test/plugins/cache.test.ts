// cache plugin: phases driven the way the gateway drives them (onRequest, then either the local
// answer or an upstream response through onResponseHeaders and onResponseData), checking what is
// stored, what is served, and the X-Cache markers; at the end, issue 10's cache poisoning through
// X-Forwarded-Host, replayed against a real Sluice.
import t, { type Test } from 'tap'
import plugin from '../../plugins/builtin/cache.ts'
import type { LocalResponse, PluginInstance } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest, type FakeRequestOptions } from '../../plugins/testing.ts'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { send } from '../gateway/helpers.ts'
import { docs, expectReady, hostOf, plugin as pluginYaml, service } from './fixtures/e2e.ts'

function make(raw: unknown = {}): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(v.issues.map((i) => `${i.path}: ${i.message}`).join('; '))
  return plugin.create(v.config, fakePluginContext())
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

interface Upstream {
  status?: number
  headers?: Record<string, string | string[]>
  body?: string | Buffer[]
  /** set ctx.error before the end */
  error?: boolean
}

interface Outcome {
  /** 'local' when the plugin answered, 'upstream' when the request went on */
  from: 'local' | 'upstream'
  status: number
  headers: Record<string, string | string[]>
  body: string
  xcache: string | undefined
}

let calls = 0

/** One request through the plugin; `up` answers when the plugin lets it through. */
function exchange(inst: PluginInstance, req: FakeRequestOptions, up: Upstream = {}): Outcome {
  const ctx = fakeRequest(req)
  const local = inst.onRequest!(ctx) as LocalResponse | undefined
  if (local !== undefined) {
    ctx.status = local.status
    for (const [k, v] of Object.entries(local.headers ?? {})) for (const one of typeof v === 'string' ? [v] : v) ctx.responseHeaders.add(k, one)
    inst.onResponseHeaders!(ctx)
    return { from: 'local', status: ctx.status, headers: flat(ctx), body: local.body?.toString() ?? '', xcache: ctx.responseHeaders.get('x-cache') }
  }
  calls++
  ctx.status = up.status ?? 200
  const body = typeof up.body === 'string' || up.body === undefined ? [Buffer.from(up.body ?? 'hello')] : up.body
  const headers = { 'content-type': 'text/plain', ...up.headers }
  for (const [k, v] of Object.entries(headers)) for (const one of typeof v === 'string' ? [v] : v) ctx.responseHeaders.add(k, one)
  inst.onResponseHeaders!(ctx)
  const out: Buffer[] = []
  if (req.method !== 'HEAD') for (const c of body) out.push(inst.onResponseData!(ctx, c, false))
  if (up.error === true) ctx.error = new Error('upstream reset')
  out.push(inst.onResponseData!(ctx, Buffer.alloc(0), true))
  return { from: 'upstream', status: ctx.status, headers: flat(ctx), body: Buffer.concat(out).toString(), xcache: ctx.responseHeaders.get('x-cache') }
}

function flat(ctx: ReturnType<typeof fakeRequest>): Record<string, string | string[]> {
  const o: Record<string, string | string[]> = {}
  for (const [k, v] of ctx.responseHeaders.entries()) {
    const p = o[k]
    o[k] = p === undefined ? v : typeof p === 'string' ? [p, v] : [...p, v]
  }
  return o
}

const fresh = { 'cache-control': 'public, max-age=60' }

function withClock(t: Test, offset: { ms: number }): void {
  const real = Date.now
  Date.now = () => real() + offset.ms
  t.teardown(() => { Date.now = real })
}

t.test('config validation', async (t) => {
  t.same(problems({}), [])
  const v = plugin.validate({ maxSize: '64Mi', maxEntrySize: '512k' })
  t.ok(v.ok)
  if (v.ok) {
    t.equal(v.config.maxSize, 64 * 1024 * 1024)
    t.equal(v.config.maxEntrySize, 512_000)
    t.same(v.config.statuses, [200, 203, 204, 301, 404, 410])
    t.equal(v.config.statusHeader, 'x-cache')
  }
  t.same(problems({ maxSize: 'lots' }), ['maxSize: must be a size such as 1048576, "512Ki", "64Mi" or "1G" (at least 1024), got "lots"'])
  t.same(problems({ maxSize: 100 }), ['maxSize: must be a size such as 1048576, "512Ki", "64Mi" or "1G" (at least 1024), got 100'])
  t.same(problems({ maxSize: '1Mi', maxEntrySize: '2Mi' }), ['maxEntrySize: must not exceed maxSize (1048576 bytes)'])
  t.same(problems({ statuses: [200, 206] }), ['statuses[1]: 206 responses cannot be stored'])
  t.same(problems({ statuses: [200, 99] }), ['statuses[1]: must be a whole number from 200 to 599, got number 99'])
  t.same(problems({ statusHeader: 'x cache' }), ['statusHeader: "x cache" is not a valid header name'])
  t.match(problems({ ttl: 5 })[0], /^ttl: unknown field; known fields: maxSize, maxEntrySize/)
})

t.test('a fresh response is stored, then served by the gateway with Age and X-Cache: HIT', async (t) => {
  const inst = make()
  const miss = exchange(inst, { url: '/a?x=1' }, { headers: { ...fresh, etag: '"v1"', connection: 'keep-alive', 'x-app': 'yes' }, body: [Buffer.from('hel'), Buffer.from('lo')] })
  t.equal(miss.from, 'upstream')
  t.equal(miss.xcache, 'MISS')
  t.equal(miss.body, 'hello')
  const hit = exchange(inst, { url: '/a?x=1' })
  t.equal(hit.from, 'local')
  t.equal(hit.status, 200)
  t.equal(hit.body, 'hello')
  t.equal(hit.xcache, 'HIT')
  t.equal(hit.headers.age, '0')
  t.equal(hit.headers['content-length'], '5')
  t.equal(hit.headers['x-app'], 'yes')
  t.equal(hit.headers.etag, '"v1"')
  t.equal(hit.headers['content-type'], 'text/plain')
  t.equal(hit.headers.connection, undefined, 'hop-by-hop headers are not stored')
  // HEAD is served from the GET entry, without a body
  const head = exchange(inst, { method: 'HEAD', url: '/a?x=1' })
  t.equal(head.from, 'local')
  t.equal(head.body, '')
  t.equal(head.headers['content-length'], '5')
  // the key holds host, path and query
  t.equal(exchange(inst, { url: '/a?x=2' }).from, 'upstream')
  t.equal(exchange(inst, { url: '/a?x=1', host: 'other.example.com' }).from, 'upstream')
  // If-None-Match on a hit: 304
  const nm = exchange(inst, { url: '/a?x=1', headers: { 'if-none-match': 'W/"v0", W/"v1"' } })
  t.equal(nm.status, 304)
  t.equal(nm.body, '')
  t.equal(nm.headers['content-length'], undefined)
  t.equal(exchange(inst, { url: '/a?x=1', headers: { 'if-none-match': '"v2"' } }).status, 200)
})

t.test('Age grows with time, and entries expire', async (t) => {
  const clock = { ms: 0 }
  withClock(t, clock)
  const inst = make()
  exchange(inst, { url: '/' }, { headers: { 'cache-control': 'max-age=10', age: '3' } })
  clock.ms = 2_500
  const hit = exchange(inst, { url: '/' })
  t.equal(hit.headers.age, '5', 'initial Age + time in the cache')
  clock.ms = 7_100
  t.equal(exchange(inst, { url: '/' }).from, 'upstream', 'fresh for max-age minus the initial Age')
  // an Age at or beyond max-age: never stored
  const old = make()
  exchange(old, { url: '/' }, { headers: { 'cache-control': 'max-age=10', age: '10' } })
  t.equal(exchange(old, { url: '/' }).from, 'upstream')
})

t.test('freshness: s-maxage wins, Expires counts from Date, maxTtl caps', async (t) => {
  const inst = make()
  const s = exchange(inst, { url: '/s' }, { headers: { 'cache-control': 'max-age=60, s-maxage=0' } })
  t.equal(s.xcache, 'BYPASS', 's-maxage=0 beats max-age=60 for a shared cache')
  exchange(inst, { url: '/s2' }, { headers: { 'cache-control': 'max-age=0, s-maxage=60' } })
  t.equal(exchange(inst, { url: '/s2' }).xcache, 'HIT')
  const date = new Date(Date.now()).toUTCString()
  const later = new Date(Date.now() + 120_000).toUTCString()
  exchange(inst, { url: '/e' }, { headers: { date, expires: later } })
  t.equal(exchange(inst, { url: '/e' }).xcache, 'HIT')
  t.equal(exchange(inst, { url: '/bad' }, { headers: { expires: 'not a date' } }).xcache, 'BYPASS')
  t.equal(exchange(inst, { url: '/past' }, { headers: { date, expires: 'Thu, 01 Jan 1970 00:00:00 GMT' } }).xcache, 'BYPASS')
  t.equal(exchange(inst, { url: '/m' }, { headers: { 'cache-control': 'max-age=abc' } }).xcache, 'BYPASS', 'a malformed max-age is stale, not absent')

  const clock = { ms: 0 }
  withClock(t, clock)
  const capped = make({ maxTtl: '2s' })
  exchange(capped, { url: '/' }, { headers: fresh })
  clock.ms = 1_500
  t.equal(exchange(capped, { url: '/' }).xcache, 'HIT')
  clock.ms = 2_100
  t.equal(exchange(capped, { url: '/' }, { headers: fresh }).xcache, 'MISS', 'expired at maxTtl despite max-age=60')
})

t.test('responses that are not stored get X-Cache: BYPASS', async (t) => {
  const inst = make()
  const cases: [string, Upstream][] = [
    ['no freshness', { headers: {} }],
    ['no-store', { headers: { 'cache-control': 'no-store, max-age=60' } }],
    ['private', { headers: { 'cache-control': 'private, max-age=60' } }],
    ['no-cache', { headers: { 'cache-control': 'no-cache, max-age=60' } }],
    ['set-cookie', { headers: { ...fresh, 'set-cookie': 'sid=1' } }],
    ['vary *', { headers: { ...fresh, vary: 'Accept, *' } }],
    ['500', { status: 500, headers: fresh }],
    ['302', { status: 302, headers: fresh }],
    ['content-range', { status: 200, headers: { ...fresh, 'content-range': 'bytes 0-4/10' } }],
    ['too big', { headers: { ...fresh, 'content-length': String(2 * 1024 * 1024) } }],
  ]
  for (const [name, up] of cases) {
    const url = `/${name.replace(/\W/g, '')}`
    t.equal(exchange(inst, { url }, up).xcache, 'BYPASS', name)
    t.equal(exchange(inst, { url }, up).from, 'upstream', `${name}: not stored`)
  }
  // statuses other than 200 that are stored by default
  for (const status of [203, 204, 301, 404, 410]) {
    exchange(inst, { url: `/s${status}` }, { status, headers: fresh, body: status === 204 ? '' : 'x' })
    const hit = exchange(inst, { url: `/s${status}` })
    t.equal(hit.status, status, `${status} served from the cache`)
    if (status === 204) t.equal(hit.headers['content-length'], undefined, 'no Content-Length on 204')
  }
  // requests the cache never handles
  for (const req of [{ method: 'POST' }, { method: 'DELETE' }, { headers: { range: 'bytes=0-1' } }, { headers: { 'cache-control': 'no-store' } }] as FakeRequestOptions[]) {
    t.equal(exchange(inst, { url: '/s203', ...req }, { headers: fresh }).xcache, 'BYPASS', JSON.stringify(req))
  }
  t.equal(exchange(inst, { url: '/s203' }).xcache, 'HIT', 'those did not disturb the entry')
})

t.test('request directives: no-cache and max-age=0 refresh, max-age limits age, only-if-cached', async (t) => {
  const clock = { ms: 0 }
  withClock(t, clock)
  const inst = make()
  exchange(inst, { url: '/' }, { headers: fresh, body: 'v1' })
  const refreshed = exchange(inst, { url: '/', headers: { 'cache-control': 'no-cache' } }, { headers: fresh, body: 'v2' })
  t.equal(refreshed.from, 'upstream')
  t.equal(refreshed.xcache, 'MISS')
  t.equal(exchange(inst, { url: '/' }).body, 'v2', 'the refreshed copy replaced the old one')
  t.equal(exchange(inst, { url: '/', headers: { 'cache-control': 'max-age=0' } }, { headers: fresh, body: 'v3' }).body, 'v3')
  t.equal(exchange(inst, { url: '/', headers: { pragma: 'no-cache' } }, { headers: fresh, body: 'v4' }).body, 'v4')
  t.equal(exchange(inst, { url: '/', headers: { pragma: 'no-cache', 'cache-control': 'max-stale' } }).body, 'v4', 'Pragma is ignored next to Cache-Control')
  clock.ms = 10_000
  t.equal(exchange(inst, { url: '/', headers: { 'cache-control': 'max-age=20' } }).xcache, 'HIT')
  t.equal(exchange(inst, { url: '/', headers: { 'cache-control': 'max-age=5' } }, { headers: fresh, body: 'v5' }).body, 'v5', 'too old for this client')
  const no = exchange(inst, { url: '/missing', headers: { 'cache-control': 'only-if-cached' } })
  t.equal(no.status, 504)
  t.equal(no.from, 'local')
  t.equal(exchange(inst, { url: '/', headers: { 'cache-control': 'only-if-cached' } }).xcache, 'HIT')

  const stubborn = make({ honorRequestNoCache: false })
  exchange(stubborn, { url: '/' }, { headers: fresh })
  t.equal(exchange(stubborn, { url: '/', headers: { 'cache-control': 'no-cache' } }).xcache, 'HIT')
})

t.test('Vary: one entry per variant; HEAD misses do not store', async (t) => {
  const inst = make()
  const up = (body: string): Upstream => ({ headers: { ...fresh, vary: 'Accept-Encoding' }, body })
  exchange(inst, { url: '/v', headers: { 'accept-encoding': 'gzip' } }, up('gz'))
  exchange(inst, { url: '/v', headers: { 'accept-encoding': 'br' } }, up('br'))
  t.equal(exchange(inst, { url: '/v', headers: { 'accept-encoding': 'gzip' } }).body, 'gz')
  t.equal(exchange(inst, { url: '/v', headers: { 'accept-encoding': 'br' } }).body, 'br')
  t.equal(exchange(inst, { url: '/v' }, up('plain')).from, 'upstream', 'no header is its own variant')
  t.equal(exchange(inst, { url: '/v' }).body, 'plain')
  t.equal(exchange(inst, { url: '/v', headers: { 'accept-encoding': 'zstd' } }, up('z')).from, 'upstream')

  const head = exchange(inst, { method: 'HEAD', url: '/h' }, { headers: fresh })
  t.equal(head.xcache, 'MISS')
  t.equal(exchange(inst, { url: '/h' }, { headers: fresh }).from, 'upstream', 'a HEAD response cannot serve a GET')
  t.equal(exchange(inst, { method: 'HEAD', url: '/h' }).from, 'local')
})

t.test('authorization, set-cookie and the shared-cache rules', async (t) => {
  const inst = make()
  const auth = { authorization: 'Bearer x' }
  t.equal(exchange(inst, { url: '/p', headers: auth }, { headers: { 'cache-control': 'max-age=60' } }).xcache, 'BYPASS')
  t.equal(exchange(inst, { url: '/p', headers: auth }, { headers: { 'cache-control': 'public, max-age=60' } }).xcache, 'MISS')
  t.equal(exchange(inst, { url: '/p', headers: auth }).xcache, 'HIT')
  t.equal(exchange(inst, { url: '/q', headers: auth }, { headers: { 'cache-control': 's-maxage=60' } }).xcache, 'MISS')

  const cookies = make({ cacheSetCookie: true })
  const miss = exchange(cookies, { url: '/c' }, { headers: { ...fresh, 'set-cookie': ['a=1', 'b=2'] } })
  t.equal(miss.xcache, 'MISS')
  t.same(miss.headers['set-cookie'], ['a=1', 'b=2'], 'the first client still gets its cookies')
  const hit = exchange(cookies, { url: '/c' })
  t.equal(hit.xcache, 'HIT')
  t.equal(hit.headers['set-cookie'], undefined, 'nobody else gets them')
})

t.test('size limits and incomplete bodies', async (t) => {
  const inst = make({ maxSize: '4Ki', maxEntrySize: 1500 })
  const chunk = Buffer.alloc(600, 'a')
  const big = exchange(inst, { url: '/big' }, { headers: fresh, body: [chunk, chunk, chunk] })
  t.equal(big.body.length, 1800, 'the client gets the whole body')
  t.equal(big.xcache, 'MISS', 'no content-length: collected until too big')
  t.equal(exchange(inst, { url: '/big' }, { headers: fresh }).from, 'upstream', 'not stored')

  t.equal(exchange(inst, { url: '/short' }, { headers: { ...fresh, 'content-length': '10' }, body: 'abc' }).from, 'upstream')
  t.equal(exchange(inst, { url: '/short' }, { headers: fresh }).from, 'upstream', 'truncated bodies are not stored')
  exchange(inst, { url: '/err' }, { headers: fresh, error: true })
  t.equal(exchange(inst, { url: '/err' }, { headers: fresh }).from, 'upstream', 'errored responses are not stored')

  // LRU by bytes: ~1.3 KiB entries, 4 KiB budget
  for (let i = 0; i < 3; i++) exchange(inst, { url: `/e${i}` }, { headers: fresh, body: [Buffer.alloc(1200, 'x')] })
  t.equal(exchange(inst, { url: '/e0' }).from, 'local', 'touch e0 so e1 is the oldest')
  exchange(inst, { url: '/e3' }, { headers: fresh, body: [Buffer.alloc(1200, 'x')] })
  t.equal(exchange(inst, { url: '/e1' }, { headers: fresh }).from, 'upstream', 'e1 evicted')
  t.equal(exchange(inst, { url: '/e0' }).from, 'local')
})

t.test('no marker when another plugin answered first; custom or no status header', async (t) => {
  const inst = make()
  const ctx = fakeRequest()
  ctx.status = 401
  inst.onResponseHeaders!(ctx)
  t.equal(ctx.responseHeaders.get('x-cache'), undefined)
  t.equal(inst.onResponseData!(ctx, Buffer.from('x'), false).toString(), 'x')

  const named = make({ statusHeader: 'CDN-Cache' })
  const ctx2 = fakeRequest()
  named.onRequest!(ctx2)
  ctx2.status = 200
  ctx2.responseHeaders.set('cache-control', 'max-age=5')
  named.onResponseHeaders!(ctx2)
  t.equal(ctx2.responseHeaders.get('cdn-cache'), 'MISS')

  const silent = make({ statusHeader: '' })
  t.equal(exchange(silent, { url: '/' }, { headers: fresh }).xcache, undefined)
  t.equal(exchange(silent, { url: '/' }).from, 'local')
})

t.test('a few thousand requests stay on the hit path', async (t) => {
  const inst = make()
  calls = 0
  exchange(inst, { url: '/hot' }, { headers: fresh })
  for (let i = 0; i < 2000; i++) exchange(inst, { url: '/hot' })
  t.equal(calls, 1)
})

// --- cache poisoning through forwarding headers (issue 10) ------------------------------------

t.test('the key is the routed host, scheme and target: forwarded values the upstream got never share it', async (t) => {
  const inst = make()
  // what the upstream got when a trusted proxy passed a client's X-Forwarded-Host/-Proto through
  const miss = exchange(inst, { url: '/page', headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' } }, { headers: fresh, body: 'evil page' })
  t.equal(miss.xcache, 'MISS')
  // Sluice's own values (equal to the routed host and scheme), or none: another entry
  const normal = exchange(inst, { url: '/page', headers: { 'x-forwarded-host': 'example.com', 'x-forwarded-proto': 'http' } }, { headers: fresh, body: 'good page' })
  t.equal(normal.from, 'upstream', 'the evil variant is not served to a normal request')
  t.equal(exchange(inst, { url: '/page' }).body, 'good page')
  t.equal(exchange(inst, { url: '/page', headers: { 'x-forwarded-host': 'EXAMPLE.com' } }).body, 'good page', 'host compared case-insensitively')
  t.equal(exchange(inst, { url: '/page', headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' } }).body, 'evil page')
})

t.test('regression: X-Forwarded-Host: evil.example does not change what others get (real Sluice)', async (t) => {
  // a backend that builds absolute links from X-Forwarded-Host, as many frameworks do
  const backend = await startBackend('page', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, max-age=300' })
    res.end(`<a href="//${String(req.headers['x-forwarded-host'])}/login">login</a>`)
    return true
  })
  t.teardown(() => backend.close())
  const s = await startSluice({
    'app.yaml': docs(service('app', backend.origin, 'cache'), pluginYaml('cache', 'cache')),
    // 127.0.0.1 plays a trusted proxy that passes client headers through; 127.0.0.2 is a client
    'config-sluice.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-sluice, namespace: knative-serving}\ndata: {trusted-proxies: 127.0.0.1}\n',
  })
  t.teardown(() => s.stop())
  await expectReady(s)
  const host = hostOf('app')
  const good = `<a href="//${host}/login">login</a>`
  const get = (path: string, from: string, headers: Record<string, string> = {}) => send(s.port, host, { path, localAddress: from, headers })

  // the issue's attack, from a client: the header is overwritten before the backend sees it
  const attack = await get('/', '127.0.0.2', { 'X-Forwarded-Host': 'evil.example' })
  t.equal(attack.headers['x-cache'], 'MISS')
  t.equal(attack.text, good, 'the attacker gets the real page')
  const victim = await get('/', '127.0.0.2')
  t.equal(victim.headers['x-cache'], 'HIT')
  t.equal(victim.text, good)
  t.equal(backend.requests.length, 1)

  // through a trusted proxy that passes the header on: the evil page exists, under its own key
  const proxied = await get('/other', '127.0.0.1', { 'X-Forwarded-Host': 'evil.example' })
  t.equal(proxied.text, '<a href="//evil.example/login">login</a>')
  const after = await get('/other', '127.0.0.2')
  t.equal(after.headers['x-cache'], 'MISS', 'a normal request does not get the stored evil page')
  t.equal(after.text, good)
  t.equal((await get('/other', '127.0.0.1')).text, good, 'nor does one through the proxy without the header')
})

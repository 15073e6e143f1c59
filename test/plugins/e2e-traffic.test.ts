// The traffic built-ins through the real `sluice serve` and real HTTP: cors (preflights at the
// gateway, origin rules, credentials, headers on a basic-auth 401), headers (request edits seen by
// the backend, response edits seen by the client), rate-limit (quota headers, 429, keys, state
// kept across unrelated reloads), cache (MISS/HIT, Vary, no-store, HEAD, 304) and access-log
// (attached to every route from config-sluice, one JSON line per request). One sluice process.
import t from 'tap'
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { OutgoingHttpHeaders } from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, request, startSluice, tempDir, type HttpResult } from '../fixtures/sluice.ts'
import { docs, echo, expectReady, hostOf, plugin, service, tableVersion } from './fixtures/e2e.ts'
import bcrypt from 'bcryptjs'

// The backend echoes requests as JSON; under /c/ it answers cacheable responses instead:
// ?cc= sets Cache-Control (default public, max-age=60), ?vary= sets Vary. Each body carries a
// counter, so a cached copy is told from a fresh one.
let served = 0
const backend = await startBackend('app', (req, res) => {
  const u = new URL(req.url ?? '/', 'http://x')
  if (!u.pathname.startsWith('/c/')) return false
  req.resume()
  const body = JSON.stringify({ n: ++served, url: req.url, lang: req.headers['accept-language'] ?? null })
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': u.searchParams.get('cc') ?? 'public, max-age=60',
    etag: `"v${served}"`,
  }
  const vary = u.searchParams.get('vary')
  if (vary !== null) headers.vary = vary
  res.writeHead(200, headers)
  res.end(req.method === 'HEAD' ? undefined : body)
  return true
})
t.teardown(() => backend.close())
const reached = (url: string, method = 'GET'): number => backend.requests.filter((r) => r.url === url && r.method === method).length

const logDir = tempDir('sluice-e2e-log-')
t.teardown(() => rmSync(logDir, { recursive: true, force: true }))
const LOG = path.join(logDir, 'access.log')

const up = backend.origin
const APP = 'https://app.example.com'

const rateLimits = (limitedRequests: number): string => docs(
  plugin('limit', 'rate-limit', { requests: limitedRequests, period: '60s' }),
  plugin('limit-key', 'rate-limit', { requests: 2, period: 60, key: 'header:x-api-key' }),
)

const files = {
  'settings.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-sluice
  namespace: knative-serving
data:
  plugins: access-log
---
${plugin('access-log', 'access-log', { path: LOG }, { namespace: 'knative-serving' })}`,
  'traffic.yaml': docs(
    service('cors', up, 'api-cors, api-auth'),
    service('cors-any', up, 'cors-any'),
    plugin('api-cors', 'cors', {
      origins: [APP, 'https://*.example.org'], methods: ['GET', 'POST'], exposeHeaders: ['x-request-id', 'x-backend'],
      credentials: true, maxAge: '10m',
    }),
    plugin('api-auth', 'basic-auth', { users: { alice: bcrypt.hashSync('wonderland', 5) } }),
    plugin('cors-any', 'cors', {}),

    service('hdr', up, 'hdr'),
    plugin('hdr', 'headers', {
      request: { set: { 'x-env': 'e2e', 'user-agent': 'sluice-e2e' }, add: { 'x-tag': ['a', 'b'] }, remove: ['x-remove-me'] },
      response: { set: { 'content-type': 'application/vnd.e2e+json', 'x-frame-options': 'DENY' }, add: { 'x-resp': ['one', 'two'] }, remove: ['x-backend'] },
    }),

    service('limited', up, 'limit'),
    service('limited-key', up, 'limit-key'),

    service('cached', up, 'cache'),
    plugin('cache', 'cache', { maxSize: '1Mi' }),
  ),
  'ratelimit.yaml': rateLimits(3),
}

const s = await startSluice(files)
t.teardown(() => s.stop())
await expectReady(s)

const get = (svc: string, p: string, headers: OutgoingHttpHeaders = {}, method = 'GET'): Promise<HttpResult> =>
  request(s.port, hostOf(svc), p, { headers, method })
const ALICE = { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` }

// --- cors -----------------------------------------------------------------------------------

t.test('cors', async (t) => {
  const preflight = (origin: string, p: string, extra: OutgoingHttpHeaders = {}): Promise<HttpResult> =>
    get('cors', p, { origin, 'access-control-request-method': 'POST', ...extra }, 'OPTIONS')

  t.test('a preflight is answered 204 at the gateway (before basic-auth); the backend sees nothing', async (t) => {
    const r = await preflight(APP, '/cors/pre', { 'access-control-request-headers': 'content-type, x-api' })
    t.equal(r.status, 204)
    t.equal(r.body, '')
    t.equal(r.headers['access-control-allow-origin'], APP)
    t.equal(r.headers['access-control-allow-methods'], 'GET, POST')
    t.equal(r.headers['access-control-allow-headers'], 'content-type, x-api', 'requested headers are echoed')
    t.equal(r.headers['access-control-allow-credentials'], 'true')
    t.equal(r.headers['access-control-max-age'], '600')
    t.equal(r.headers.vary, 'Origin, Access-Control-Request-Headers')
    t.equal(r.headers['www-authenticate'], undefined, 'a preflight carries no credentials and needs none')
    t.equal(r.headers['content-length'], undefined, 'no Content-Length on a 204 (RFC 9110 §8.6)')
    t.equal(backend.requests.filter((x) => x.url === '/cors/pre').length, 0)
  })

  t.test('wildcard subdomains match any depth, not the bare domain; other origins get 403', async (t) => {
    for (const o of ['https://a.example.org', 'https://a.b.example.org']) {
      const r = await preflight(o, '/cors/wild')
      t.equal(r.status, 204, o)
      t.equal(r.headers['access-control-allow-origin'], o)
    }
    for (const o of ['https://example.org', 'https://evil.example', 'http://app.example.com', 'https://app.example.com.evil.test']) {
      const r = await preflight(o, '/cors/refused')
      t.equal(r.status, 403, o)
      t.equal(r.headers['access-control-allow-origin'], undefined, o)
      t.equal(r.body, 'CORS origin not allowed\n')
    }
    t.equal(backend.requests.filter((x) => x.url === '/cors/wild' || x.url === '/cors/refused').length, 0)
  })

  t.test('an actual request from an allowed origin: the origin and credentials are echoed', async (t) => {
    const r = await get('cors', '/cors/get', { origin: APP, ...ALICE })
    t.equal(r.status, 200)
    t.equal(r.headers['access-control-allow-origin'], APP)
    t.equal(r.headers['access-control-allow-credentials'], 'true')
    t.equal(r.headers['access-control-expose-headers'], 'x-request-id, x-backend')
    t.match(r.headers.vary, /\bOrigin\b/)
    t.equal(echo(r).headers.origin, APP, 'the backend gets the actual request')
  })

  t.test('an actual request from another origin: served, but without CORS grants', async (t) => {
    const r = await get('cors', '/cors/other', { origin: 'https://evil.example', ...ALICE })
    t.equal(r.status, 200)
    t.equal(r.headers['access-control-allow-origin'], undefined)
    t.equal(r.headers['access-control-allow-credentials'], undefined)
    t.match(r.headers.vary, /\bOrigin\b/, 'still Vary: Origin, so a cache does not mix them up')
  })

  t.test('a basic-auth 401 still gets the CORS headers (response phases run on short-circuits)', async (t) => {
    const r = await get('cors', '/cors/401', { origin: APP })
    t.equal(r.status, 401)
    t.equal(r.headers['www-authenticate'], 'Basic realm="sluice"')
    t.equal(r.headers['access-control-allow-origin'], APP, 'the browser can read the 401')
    t.equal(r.headers['access-control-allow-credentials'], 'true')
    t.match(r.headers.vary, /\bOrigin\b/)
    t.equal(backend.requests.filter((x) => x.url === '/cors/401').length, 0)
  })

  t.test('origins "*" without credentials: a literal * and no Vary: Origin', async (t) => {
    const r = await get('cors-any', '/cors/any', { origin: 'https://whoever.test' })
    t.equal(r.status, 200)
    t.equal(r.headers['access-control-allow-origin'], '*')
    t.equal(r.headers['access-control-allow-credentials'], undefined)
    t.notMatch(r.headers.vary ?? '', /Origin/)
    const p = await get('cors-any', '/cors/any-pre', { origin: 'https://whoever.test', 'access-control-request-method': 'DELETE' }, 'OPTIONS')
    t.equal(p.status, 204)
    t.equal(p.headers['access-control-allow-origin'], '*')
    t.equal(p.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE')
  })

  t.test('a plain OPTIONS (no Access-Control-Request-Method) is not a preflight', async (t) => {
    const r = await get('cors-any', '/cors/options', { origin: 'https://whoever.test' }, 'OPTIONS')
    t.equal(r.status, 200)
    t.equal(echo(r).method, 'OPTIONS', 'it reached the backend')
  })
})

// --- headers --------------------------------------------------------------------------------

t.test('headers: request edits reach the backend, response edits reach the client', async (t) => {
  const r = await get('hdr', '/hdr', { 'x-remove-me': 'secret', 'x-tag': 'client', 'user-agent': 'curl/8', 'x-env': 'prod' })
  t.equal(r.status, 200)
  const e = echo(r)
  t.equal(e.headers['x-remove-me'], undefined, 'request remove')
  t.equal(e.headers['x-env'], 'e2e', 'request set overwrites')
  t.equal(e.headers['user-agent'], 'sluice-e2e', 'request set overwrites a standard header')
  t.equal(e.headers['x-tag'], 'client, a, b', 'request add appends to what the client sent')
  t.equal(r.headers['x-backend'], undefined, 'response remove')
  t.equal(r.headers['content-type'], 'application/vnd.e2e+json', 'response set overwrites the upstream value')
  t.equal(r.headers['x-frame-options'], 'DENY', 'response set adds a new header')
  t.equal(r.headers['x-resp'], 'one, two', 'response add, two values')
  t.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body), 'framing untouched')
})

// --- rate-limit -----------------------------------------------------------------------------

/** the `t` (seconds to the next token) in a RateLimit field */
const resetOf = (v: string | string[] | undefined): number => Number(/;t=(\d+)/.exec(String(v))?.[1] ?? NaN)

t.test('rate-limit', async (t) => {
  t.test('3 per minute: three pass with quota headers, the fourth gets 429 with Retry-After', async (t) => {
    for (let i = 0; i < 3; i++) {
      const r = await get('limited', `/rl/${i}`)
      t.equal(r.status, 200, `request ${i + 1}`)
      t.equal(r.headers['ratelimit-policy'], '"default";q=3;w=60')
      t.match(r.headers.ratelimit, new RegExp(`^"default";r=${2 - i};t=\\d+$`))
      // one token every 20 s (less the moments since the first request)
      const reset = resetOf(r.headers.ratelimit)
      t.ok(reset >= 1 && reset <= 20, `t=${reset}`)
    }
    const r = await get('limited', '/rl/over')
    t.equal(r.status, 429)
    t.equal(r.body, 'Too Many Requests\n')
    const retry = Number(r.headers['retry-after'])
    t.ok(retry >= 1 && retry <= 20, `Retry-After: ${r.headers['retry-after']}`)
    t.equal(r.headers['ratelimit-policy'], '"default";q=3;w=60')
    t.match(r.headers.ratelimit, /^"default";r=0;t=\d+$/)
    t.equal(reached('/rl/over'), 0, 'the backend never sees a limited request')
  })

  t.test('key header:x-api-key: one bucket per key', async (t) => {
    for (const i of [1, 2]) t.equal((await get('limited-key', `/rk/a${i}`, { 'x-api-key': 'A' })).status, 200)
    t.equal((await get('limited-key', '/rk/a3', { 'x-api-key': 'A' })).status, 429, 'key A is out')
    const b = await get('limited-key', '/rk/b1', { 'x-api-key': 'B' })
    t.equal(b.status, 200, 'key B has its own bucket')
    t.match(b.headers.ratelimit, /^"default";r=1;/)
    t.equal((await get('limited-key', '/rk/ip')).status, 200, 'without the header: the client address bucket')
  })

  t.test('limits survive an unrelated reload; a changed config starts over', async (t) => {
    t.equal((await get('limited', '/rl/before')).status, 429, 'still limited')
    const cacheMiss = await get('cached', '/c/reload')
    t.equal(cacheMiss.headers['x-cache'], 'MISS')

    const v0 = await tableVersion(s)
    s.write('other.yaml', service('other', up))
    t.ok(await eventually(async () => (await get('other', '/other').catch(() => null))?.status === 200, 30_000), 'the unrelated edit is live')
    t.ok(await tableVersion(s) > v0, 'a new table was compiled')
    const r = await get('limited', '/rl/after')
    t.equal(r.status, 429, 'the same rate-limit instance, with its empty bucket')
    t.equal((await get('limited-key', '/rk/a4', { 'x-api-key': 'A' })).status, 429, 'header buckets too')
    t.equal((await get('cached', '/c/reload')).headers['x-cache'], 'HIT', 'the cache instance (and its entries) is kept as well')
    t.equal(reached('/c/reload'), 1)

    // changing the plugin's config makes a new instance, with full buckets
    s.write('ratelimit.yaml', rateLimits(5))
    let fresh: HttpResult | undefined
    t.ok(await eventually(async () => {
      fresh = await get('limited', '/rl/new')
      return fresh.headers['ratelimit-policy'] === '"default";q=5;w=60'
    }, 30_000), 'the new config is live')
    t.equal(fresh?.status, 200, 'a new bucket')
    t.match(fresh?.headers.ratelimit, /^"default";r=4;/)
    t.equal((await get('limited-key', '/rk/a5', { 'x-api-key': 'A' })).status, 429, 'the unchanged Plugin keeps its state')
    await expectReady(s)
  })
})

// --- cache ----------------------------------------------------------------------------------

t.test('cache', async (t) => {
  t.test('first GET is a MISS, the second a HIT; the backend saw one request', async (t) => {
    const a = await get('cached', '/c/a')
    t.equal(a.status, 200)
    t.equal(a.headers['x-cache'], 'MISS')
    const b = await get('cached', '/c/a')
    t.equal(b.status, 200)
    t.equal(b.headers['x-cache'], 'HIT')
    t.equal(b.body, a.body, 'the same body')
    t.equal(b.headers['content-length'], String(Buffer.byteLength(a.body)))
    t.equal(b.headers['cache-control'], 'public, max-age=60')
    t.match(b.headers.age, /^\d+$/)
    t.equal(reached('/c/a'), 1)
  })

  t.test('HEAD is answered from the stored GET: headers and length, no body', async (t) => {
    const h = await get('cached', '/c/a', {}, 'HEAD')
    t.equal(h.status, 200)
    t.equal(h.headers['x-cache'], 'HIT')
    t.equal(h.body, '')
    t.equal(h.headers['content-length'], String(Buffer.byteLength((await get('cached', '/c/a')).body)))
    t.equal(reached('/c/a', 'HEAD'), 0)
    t.equal(reached('/c/a'), 1)
    // a HEAD miss does not fill the cache for GETs
    t.equal((await get('cached', '/c/head-first', {}, 'HEAD')).headers['x-cache'], 'MISS')
    t.equal((await get('cached', '/c/head-first')).headers['x-cache'], 'MISS')
    t.equal((await get('cached', '/c/head-first')).headers['x-cache'], 'HIT')
  })

  t.test('If-None-Match on a stored response: 304 from the cache', async (t) => {
    const full = await get('cached', '/c/a')
    const r = await get('cached', '/c/a', { 'if-none-match': String(full.headers.etag) })
    t.equal(r.status, 304)
    t.equal(r.body, '')
    t.equal(r.headers.etag, full.headers.etag)
    const cl = r.headers['content-length']
    t.ok(cl === undefined || cl === String(Buffer.byteLength(full.body)), `a 304 has no Content-Length, or the 200's (RFC 9110 §8.6), got ${cl}`)
    t.equal(reached('/c/a'), 1)
  })

  t.test('Vary: one stored variant per value of the named request header', async (t) => {
    const url = '/c/v?vary=accept-language'
    const en1 = await get('cached', url, { 'accept-language': 'en' })
    t.equal(en1.headers['x-cache'], 'MISS')
    const en2 = await get('cached', url, { 'accept-language': 'en' })
    t.equal(en2.headers['x-cache'], 'HIT')
    const fr1 = await get('cached', url, { 'accept-language': 'fr' })
    t.equal(fr1.headers['x-cache'], 'MISS', 'another language is another variant')
    t.equal(JSON.parse(fr1.body).lang, 'fr')
    const fr2 = await get('cached', url, { 'accept-language': 'fr' })
    t.equal(fr2.headers['x-cache'], 'HIT')
    t.equal(JSON.parse(fr2.body).lang, 'fr')
    const en3 = await get('cached', url, { 'accept-language': 'en' })
    t.equal(en3.headers['x-cache'], 'HIT')
    t.equal(JSON.parse(en3.body).lang, 'en', 'each variant keeps its own body')
    t.equal(reached(url), 2)
  })

  t.test('no-store (in the response or the request) bypasses the cache', async (t) => {
    const url = '/c/ns?cc=no-store'
    for (let i = 0; i < 2; i++) t.equal((await get('cached', url)).headers['x-cache'], 'BYPASS')
    t.equal(reached(url), 2, 'a no-store response is never stored')

    const before = reached('/c/a')
    const r = await get('cached', '/c/a', { 'cache-control': 'no-store' })
    t.equal(r.headers['x-cache'], 'BYPASS', 'the client asked for no-store')
    t.equal(reached('/c/a'), before + 1, 'that one went to the backend')

    const priv = '/c/private?cc=private,max-age=60'
    for (let i = 0; i < 2; i++) t.equal((await get('cached', priv)).headers['x-cache'], 'BYPASS')
    t.equal(reached(priv), 2, 'private responses are not stored in a shared cache')

    const post = await get('cached', '/c/a', {}, 'POST')
    t.equal(post.headers['x-cache'], 'BYPASS', 'POST is never served from the cache')
    t.equal(reached('/c/a', 'POST'), 1)
  })
})

// --- access-log -----------------------------------------------------------------------------

interface LogLine { method: string; host: string; path: string; status: number; revision: string; route: string; remote: string; durationMs: number; time: string }

function logLines(): LogLine[] {
  let text = ''
  try { text = readFileSync(LOG, 'utf8') } catch { return [] }
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogLine)
}

t.test('access-log from config-sluice: one JSON line per request on every route', async (t) => {
  await get('hdr', '/log/one?x=1')
  await get('cors', '/log/denied')
  await get('cached', '/log/head', {}, 'HEAD')
  const wanted = ['/log/one', '/log/denied', '/log/head']
  t.ok(await eventually(() => wanted.every((p) => logLines().some((l) => l.path === p)), 30_000), 'the lines are written')
  // A marker request logged after them: a stray second line for any of them would be written before it.
  await get('hdr', '/log/marker')
  t.ok(await eventually(() => logLines().some((l) => l.path === '/log/marker'), 30_000), 'the marker line is written')
  const lines = logLines()
  for (const p of wanted) t.equal(lines.filter((l) => l.path === p).length, 1, `one line for ${p}`)

  const one = lines.find((l) => l.path === '/log/one')!
  t.match(one, { method: 'GET', host: hostOf('hdr'), status: 200, revision: 'hdr-00001', route: 'default/hdr', remote: '127.0.0.1' })
  t.ok(one.durationMs >= 0 && !Number.isNaN(Date.parse(one.time)))
  const denied = lines.find((l) => l.path === '/log/denied')!
  t.match(denied, { status: 401, route: 'default/cors', revision: '' }, 'a short-circuit is logged too, before any revision was chosen')
  t.match(lines.find((l) => l.path === '/log/head')!, { method: 'HEAD', status: 200, route: 'default/cached', revision: 'cached-00001' })
  // every earlier test's requests are there as well: the global plugin is on every route
  for (const route of ['default/cors', 'default/cors-any', 'default/hdr', 'default/limited', 'default/limited-key', 'default/cached', 'default/other']) {
    t.ok(lines.some((l) => l.route === route), `lines for ${route}`)
  }
  t.ok(lines.some((l) => l.route === 'default/limited' && l.status === 429), 'rate-limited requests are logged with their 429')
  t.equal(lines.filter((l) => l.path === '/cors/pre').length, 1, 'the preflight answered at the gateway: one line')
})

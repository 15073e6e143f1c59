// rate-limit: token bucket refill and burst, 429 with RateLimit / RateLimit-Policy / Retry-After,
// the fields on allowed responses, keys (ip, route, header, X-Forwarded-For hops), the LRU bound,
// and config errors. The clock is performance.now(), replaced here by a hand-driven one.
import t from 'tap'
import plugin from '../../plugins/builtin/rate-limit.ts'
import type { LocalResponse, PluginInstance } from '../../plugins/api.ts'
import type { FakeRequestOptions } from '../../plugins/testing.ts'
import { fakePluginContext, fakeRequest, isLocalResponse } from '../../plugins/testing.ts'

let now = 1_000_000
const realNow = performance.now
performance.now = () => now
t.teardown(() => { performance.now = realNow })

function make(raw: unknown): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(JSON.stringify(v.issues))
  return plugin.create(v.config, fakePluginContext())
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

/** one request through onRequest (and onResponseHeaders when allowed); the 429 or the fields */
function hit(p: PluginInstance, o: FakeRequestOptions = {}): { limited: LocalResponse | undefined; ratelimit?: string; policy?: string } {
  const ctx = fakeRequest(o)
  const r = p.onRequest!(ctx)
  if (isLocalResponse(r)) {
    // the gateway runs the response phase on the local 429 too (with its headers copied in):
    // it must state the same quota, once
    ctx.status = r.status
    for (const [k, v] of Object.entries(r.headers ?? {})) ctx.responseHeaders.add(k, v as string)
    p.onResponseHeaders!(ctx)
    const again = ctx.responseHeaders.getAll('ratelimit')
    if (again.length !== 1 || again[0] !== r.headers?.ratelimit) throw new Error(`response phase changed the 429: ${again}`)
    return { limited: r }
  }
  ctx.status = 200
  p.onResponseHeaders!(ctx)
  return { limited: undefined, ratelimit: ctx.responseHeaders.get('ratelimit'), policy: ctx.responseHeaders.get('ratelimit-policy') }
}

const allowed = (p: PluginInstance, o: FakeRequestOptions = {}): boolean => hit(p, o).limited === undefined

t.test('name, priority, defaults', async (t) => {
  t.equal(plugin.name, 'rate-limit')
  t.equal(plugin.priority, 901)
  const v = plugin.validate({ requests: 10 })
  t.ok(v.ok)
  if (v.ok) t.same(v.config, { requests: 10, period: 1000, burst: 0, key: 'ip', trustedHops: 0, maxKeys: 100_000 })
})

t.test('a burst of `requests`, then 429 with the IETF fields and Retry-After', async (t) => {
  const p = make({ requests: 3, period: '1s' })
  t.same(hit(p), { limited: undefined, ratelimit: '"default";r=2;t=1', policy: '"default";q=3;w=1' })
  t.same(hit(p).ratelimit, '"default";r=1;t=1')
  t.same(hit(p).ratelimit, '"default";r=0;t=1')
  const r = hit(p).limited
  t.same(r, {
    status: 429,
    headers: {
      'ratelimit-policy': '"default";q=3;w=1',
      ratelimit: '"default";r=0;t=1',
      'retry-after': '1',
      'content-type': 'text/plain',
    },
    body: 'Too Many Requests\n',
  })
})

t.test('tokens refill continuously', async (t) => {
  const p = make({ requests: 3, period: '1s' })
  for (let i = 0; i < 3; i++) t.ok(allowed(p))
  t.notOk(allowed(p))
  now += 200 // 0.6 of a token
  t.notOk(allowed(p), 'refused requests do not consume')
  now += 140 // 1.02 tokens
  t.ok(allowed(p))
  t.notOk(allowed(p))
  now += 10_000 // refills to the bucket size, no further
  for (let i = 0; i < 3; i++) t.ok(allowed(p))
  t.notOk(allowed(p))
})

t.test('burst larger than the rate, long periods', async (t) => {
  const p = make({ requests: 2, period: '1m', burst: 5 })
  for (let i = 0; i < 5; i++) t.ok(allowed(p), `burst ${i}`)
  const r = hit(p).limited
  t.equal(r?.status, 429)
  t.equal(r?.headers?.['retry-after'], '30', 'one token every 30s')
  t.equal(r?.headers?.['ratelimit-policy'], '"default";q=2;w=60')
  t.equal(r?.headers?.ratelimit, '"default";r=0;t=30')
  now += 29_000
  t.equal(hit(p).limited?.headers?.['retry-after'], '1')
  now += 1_000
  t.same(hit(p).ratelimit, '"default";r=0;t=30')
})

t.test('a full bucket says t=0', async (t) => {
  const p = make({ requests: 2, period: '1s' })
  const ctx = fakeRequest()
  p.onRequest!(ctx)
  now += 5_000 // a slow response: the bucket refilled meanwhile
  ctx.status = 200
  p.onResponseHeaders!(ctx)
  t.equal(ctx.responseHeaders.get('ratelimit'), '"default";r=2;t=0')
})

t.test('the fields replace the upstream\'s own', async (t) => {
  const p = make({ requests: 2 })
  const ctx = fakeRequest()
  p.onRequest!(ctx)
  ctx.status = 200
  ctx.responseHeaders.add('ratelimit', '"upstream";r=9;t=9')
  p.onResponseHeaders!(ctx)
  t.same(ctx.responseHeaders.getAll('ratelimit'), ['"default";r=1;t=1'])
})

t.test('a response short-circuited before this plugin states the quota without using it', async (t) => {
  const p = make({ requests: 2, period: '1s' })
  t.ok(allowed(p, { remoteAddress: '10.9.0.1' }))
  const ctx = fakeRequest({ remoteAddress: '10.9.0.1' })
  ctx.status = 401 // say basic-auth refused it: this plugin's onRequest never ran
  p.onResponseHeaders!(ctx)
  t.equal(ctx.responseHeaders.get('ratelimit'), '"default";r=1;t=1')
  const fresh = fakeRequest({ remoteAddress: '10.9.0.2' })
  p.onResponseHeaders!(fresh)
  t.equal(fresh.responseHeaders.get('ratelimit'), '"default";r=2;t=0', 'an unknown client has a full bucket')
  t.equal(fresh.responseHeaders.get('ratelimit-policy'), '"default";q=2;w=1')
})

t.test('key ip: one bucket per TCP peer', async (t) => {
  const p = make({ requests: 1, period: '10s' })
  t.ok(allowed(p, { remoteAddress: '10.0.0.1' }))
  t.notOk(allowed(p, { remoteAddress: '10.0.0.1' }))
  t.ok(allowed(p, { remoteAddress: '10.0.0.2' }))
  t.notOk(allowed(p, { remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '1.2.3.4, 10.0.0.1' } }), 'X-Forwarded-For is ignored without trustedHops')
})

// ctx.requestHeaders carry the X-Forwarded-For Sluice wrote: what a trusted proxy sent, then the peer.
t.test('key ip with trustedHops reads X-Forwarded-For from the right', async (t) => {
  const one = make({ requests: 1, period: '10s', trustedHops: 1 })
  t.ok(allowed(one, { remoteAddress: '10.0.0.9', headers: { 'x-forwarded-for': '6.6.6.6, 2.2.2.2, 10.0.0.9' } }))
  t.notOk(allowed(one, { remoteAddress: '10.0.0.8', headers: { 'x-forwarded-for': '7.7.7.7,2.2.2.2,10.0.0.8' } }), 'same last hop, same bucket')
  t.ok(allowed(one, { remoteAddress: '10.0.0.9', headers: { 'x-forwarded-for': '2.2.2.3, 10.0.0.9' } }))
  t.ok(allowed(one, { remoteAddress: '10.0.0.9' }), 'no X-Forwarded-For: the peer')
  t.notOk(allowed(one, { remoteAddress: '10.0.0.9' }))

  const two = make({ requests: 1, period: '10s', trustedHops: 2 })
  t.ok(allowed(two, { headers: { 'x-forwarded-for': '1.1.1.1, 3.3.3.3, 4.4.4.4, 127.0.0.1' } }))
  t.notOk(allowed(two, { headers: { 'x-forwarded-for': '9.9.9.9, 3.3.3.3, 5.5.5.5, 127.0.0.1' } }), 'second from the right')
  const many = make({ requests: 1, period: '10s', trustedHops: 5 })
  t.ok(allowed(many, { headers: { 'x-forwarded-for': '1.1.1.1, 3.3.3.3, 127.0.0.1' } }))
  t.notOk(allowed(many, { headers: { 'x-forwarded-for': '1.1.1.1, 127.0.0.1' } }), 'shorter list: the leftmost entry')

  // from a peer that is not a trusted proxy Sluice keeps only the peer: the client's own
  // header (on ctx.req) cannot pick a fresh bucket
  const untrusted = make({ requests: 1, period: '10s', trustedHops: 1 })
  t.ok(allowed(untrusted, { remoteAddress: '10.0.0.7', headers: { 'x-forwarded-for': '10.0.0.7' } }))
  const spoof = fakeRequest({ remoteAddress: '10.0.0.7', headers: { 'x-forwarded-for': '8.8.8.8' } })
  spoof.requestHeaders.set('x-forwarded-for', '10.0.0.7')
  t.ok(isLocalResponse(untrusted.onRequest!(spoof)), 'same peer, same bucket')
})

t.test('key route: one bucket for everyone', async (t) => {
  const p = make({ requests: 2, period: '10s', key: 'route' })
  t.ok(allowed(p, { remoteAddress: '10.0.0.1' }))
  t.ok(allowed(p, { remoteAddress: '10.0.0.2' }))
  t.notOk(allowed(p, { remoteAddress: '10.0.0.3' }))
  const other = make({ requests: 2, period: '10s', key: 'route' })
  t.ok(allowed(other), 'another route (instance) has its own bucket')
})

t.test('key header:<name>, falling back to the ip', async (t) => {
  const p = make({ requests: 1, period: '10s', key: 'header:X-Api-Key' })
  t.ok(allowed(p, { headers: { 'x-api-key': 'alpha' }, remoteAddress: '10.0.0.1' }))
  t.notOk(allowed(p, { headers: { 'x-api-key': 'alpha' }, remoteAddress: '10.0.0.2' }), 'same key from elsewhere')
  t.ok(allowed(p, { headers: { 'x-api-key': 'beta' }, remoteAddress: '10.0.0.1' }))
  t.ok(allowed(p, { remoteAddress: '10.0.0.1' }), 'no header: by ip')
  t.notOk(allowed(p, { remoteAddress: '10.0.0.1' }))
  t.ok(allowed(p, { headers: { 'x-api-key': '10.0.0.5' }, remoteAddress: '10.0.0.9' }))
  t.ok(allowed(p, { remoteAddress: '10.0.0.5' }), 'a header value naming an IP does not drain that IP\'s bucket')
})

t.test('maxKeys bounds the buckets kept (least recently used go)', async (t) => {
  const p = make({ requests: 1, period: '1h', maxKeys: 2 })
  t.ok(allowed(p, { remoteAddress: 'a' }))
  t.ok(allowed(p, { remoteAddress: 'b' }))
  t.notOk(allowed(p, { remoteAddress: 'a' }))
  t.ok(allowed(p, { remoteAddress: 'c' })) // evicts b (a was used more recently)
  t.notOk(allowed(p, { remoteAddress: 'a' }))
  t.ok(allowed(p, { remoteAddress: 'b' }), 'b was forgotten')
})

t.test('the allowed path never touches ctx.state (a Map made on first use)', async (t) => {
  for (const key of ['ip', 'route', 'header:x-key']) {
    const p = make({ requests: 5, key })
    const ctx = fakeRequest({ headers: { 'x-key': 'k' } })
    Object.defineProperty(ctx, 'state', { get() { throw new Error('ctx.state used') } })
    t.equal(p.onRequest!(ctx), undefined, key)
    ctx.status = 200
    p.onResponseHeaders!(ctx)
    t.equal(ctx.responseHeaders.get('ratelimit'), '"default";r=4;t=1')
  }
})

t.test('config errors', async (t) => {
  t.same(problems({}), ['requests: required: a whole number from 1 to 1000000'])
  t.same(problems({ requests: 1.5, burst: 0 }), [
    'requests: must be a whole number from 1 to 1000000, got number 1.5',
    'burst: must be a whole number from 1 to 1000000, got number 0',
  ])
  t.same(problems({ requests: 5, period: '500ms' }), ['period: must be a whole number of seconds (at least 1s), got 500ms'])
  t.same(problems({ requests: 5, period: '1500ms' }), ['period: must be a whole number of seconds (at least 1s), got 1500ms'])
  t.same(problems({ requests: 5, period: 'soon' }), ['period: must be a duration such as "500ms", "30s" or a number of seconds, got string "soon"'])
  // lib/duration.ts: Go's syntax, a bare number is seconds, never negative
  t.same(problems({ requests: 5, period: '-1s' }), ['period: must be a duration such as "500ms", "30s" or a number of seconds, got string "-1s"'])
  t.same(problems({ requests: 5, period: -1 }), ['period: must be a duration such as "500ms", "30s" or a number of seconds, got number -1'])
  t.same(problems({ requests: 5, period: '1d' }), ['period: must be a duration such as "500ms", "30s" or a number of seconds, got string "1d"'])
  t.same(problems({ requests: 5, period: '60' }), [])
  t.same(problems({ requests: 5, period: '1m0.5s500ms' }), [])
  t.same(problems({ requests: 5, period: '.5m' }), [])
  t.same(problems({ requests: 5, key: 'user' }), ['key: must be "ip", "route" or "header:<name>", got "user"'])
  t.same(problems({ requests: 5, key: 'header:' }), ['key: must be "ip", "route" or "header:<name>", got "header:"'])
  t.same(problems({ requests: 5, key: 'header:x y' }), ['key: must be "ip", "route" or "header:<name>", got "header:x y"'])
  t.same(problems({ requests: 5, trustedHops: -1, maxKeys: 0 }), [
    'trustedHops: must be a whole number from 0 to 32, got number -1',
    'maxKeys: must be a whole number ≥ 1, got number 0',
  ])
  t.same(problems({ requests: 5, limit: 3 }), ['limit: unknown field; known fields: requests, period, burst, key, trustedHops, maxKeys'])
  t.same(problems({ requests: 5, period: '1m', key: 'header:X-Api-Key' }), [])
})

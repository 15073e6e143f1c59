// headers: remove, set and add on the upstream request and on the response; config errors.
import t from 'tap'
import plugin from '../../plugins/builtin/headers.ts'
import type { PluginInstance, RequestContext } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest } from '../../plugins/testing.ts'

function make(raw: unknown): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(JSON.stringify(v.issues))
  return plugin.create(v.config, fakePluginContext())
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

const pairs = (h: RequestContext['requestHeaders']): [string, string][] => [...h.entries()]

t.test('name and priority', async (t) => {
  t.equal(plugin.name, 'headers')
  t.equal(plugin.priority, 800)
})

t.test('request edits: remove, then set (overwrite), then add (append)', async (t) => {
  const p = make({
    request: {
      remove: ['X-Secret', 'cookie'],
      set: { 'X-Env': 'prod', Accept: 'application/json' },
      add: { 'X-Tag': ['a', 'b'], 'X-Env': 'extra' },
    },
  })
  t.equal(p.onResponseHeaders, undefined, 'no response edits: no response phase')
  const ctx = fakeRequest({ headers: { 'x-secret': 's', cookie: 'c=1', accept: 'text/html', 'x-env': 'dev', 'x-keep': 'k' } })
  t.equal(p.onRequest!(ctx), undefined)
  t.same(pairs(ctx.requestHeaders), [
    ['host', 'example.com'],
    ['x-keep', 'k'],
    ['x-env', 'prod'],
    ['accept', 'application/json'],
    ['x-tag', 'a'],
    ['x-tag', 'b'],
    ['x-env', 'extra'],
  ])
})

t.test('response edits', async (t) => {
  const p = make({ response: { set: { 'Cache-Control': 'no-store' }, add: { 'Set-Cookie': ['a=1', 'b=2'] }, remove: ['server', 'X-Powered-By'] } })
  t.equal(p.onRequest, undefined, 'no request edits: no request phase')
  const ctx = fakeRequest()
  ctx.status = 200
  const h = ctx.responseHeaders
  h.add('server', 'upstream/1.0')
  h.add('x-powered-by', 'php')
  h.add('cache-control', 'max-age=60')
  h.add('set-cookie', 'z=0')
  t.equal(p.onResponseHeaders!(ctx), undefined)
  t.same(pairs(h), [['set-cookie', 'z=0'], ['cache-control', 'no-store'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']])
  t.same(pairs(ctx.requestHeaders), [['host', 'example.com']], 'the request is untouched')
})

t.test('values are literal', async (t) => {
  const p = make({ request: { set: { 'x-v': '${host} $1 %{x}' } } })
  const ctx = fakeRequest()
  p.onRequest!(ctx)
  t.equal(ctx.requestHeaders.get('x-v'), '${host} $1 %{x}')
})

t.test('empty config: no phases at all', async (t) => {
  const p = make({})
  t.same(Object.keys(p), [])
})

t.test('config errors', async (t) => {
  t.same(problems({ request: { set: { 'bad name': 'x', 'x-ok': 'a\r\nb' } } }), [
    'request.set.bad name: "bad name" is not a header name',
    'request.set.x-ok: header values cannot hold control characters (CR, LF, NUL…) or characters beyond Latin-1',
  ])
  t.same(problems({ response: { remove: ['Content-Length', 'x ok'], add: { 'Transfer-Encoding': 'chunked' } } }), [
    'response.add.Transfer-Encoding: "Transfer-Encoding" is managed by the gateway and cannot be changed',
    'response.remove[0]: "Content-Length" is managed by the gateway and cannot be changed',
    'response.remove[1]: "x ok" is not a header name',
  ])
  t.same(problems({ request: { set: { a: 1 }, add: { b: [true] } } }), [
    'request.set.a: must be a string, got number 1',
    'request.add.b[0]: must be a string, got boolean true',
  ])
  t.same(problems({ response: { set: { 'x-price': '10 €' } } }), ['response.set.x-price: header values cannot hold control characters (CR, LF, NUL…) or characters beyond Latin-1'])
  t.same(problems({ request: { set: ['x'] } }), ['request.set: must be a map of a header value, got a list'])
  t.same(problems({ request: { replace: {} } }), ['request.replace: unknown field; known fields: set, add, remove'])
  t.same(problems({ requests: {} }), ['requests: unknown field; known fields: request, response'])
})

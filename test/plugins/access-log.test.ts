// access-log: one JSON line per request with the documented fields, written later in a batch
// (never inside onComplete), to a file or stdout; sampling, byte counts, errors, config errors.
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import plugin, { flushAccessLogs } from '../../plugins/builtin/access-log.ts'
import type { PluginInstance, RequestContext } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest } from '../../plugins/testing.ts'

const dir = t.testdir({})

function make(raw: unknown, route = { namespace: 'shop', name: 'cart' }): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(JSON.stringify(v.issues))
  return plugin.create(v.config, fakePluginContext(route, dir))
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

function served(status = 200): RequestContext {
  const ctx = fakeRequest({
    method: 'POST',
    url: '/items/7?token=secret',
    host: 'shop.example.com',
    remoteAddress: '10.1.2.3',
    headers: { 'x-request-id': 'req-1', 'user-agent': 'curl/8.5 "quoted"' },
  })
  ctx.revision = 'cart-00002'
  ctx.status = status
  return ctx
}

const lines = (file: string): Record<string, unknown>[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)) : []

t.test('name, priority, defaults', async (t) => {
  t.equal(plugin.name, 'access-log')
  t.equal(plugin.priority, 5)
  const v = plugin.validate(undefined)
  t.ok(v.ok)
  if (v.ok) t.same(v.config, { path: '', sampling: 1, countBytes: false })
})

t.test('one JSON line per request with every field, written after onComplete returns', async (t) => {
  const file = join(dir, 'a.log')
  const p = make({ path: 'a.log' }) // relative to the config file's directory
  t.same(Object.keys(p), ['onComplete'])
  const ctx = served()
  ctx.responseHeaders.set('content-length', '1234')
  const before = Date.now()
  p.onComplete!(ctx)
  t.same(lines(file), [], 'nothing written synchronously')
  await flushAccessLogs()
  const [l, more] = lines(file)
  t.equal(more, undefined)
  t.match(l, {
    method: 'POST',
    host: 'shop.example.com',
    path: '/items/7',
    status: 200,
    revision: 'cart-00002',
    route: 'shop/cart',
    remote: '10.1.2.3',
    requestId: 'req-1',
    userAgent: 'curl/8.5 "quoted"',
    bytes: 1234,
  })
  t.same(Object.keys(l), ['time', 'method', 'host', 'path', 'status', 'durationMs', 'revision', 'route', 'remote', 'requestId', 'userAgent', 'bytes'])
  t.type(l.durationMs, 'number')
  t.ok((l.durationMs as number) >= 0)
  const time = Date.parse(l.time as string)
  t.ok(time <= before + 1 && time > before - 5000, 'time is the arrival, ISO 8601')
  t.notMatch(JSON.stringify(l), /secret/, 'the query is not logged')
})

t.test('short-circuits and errors are logged; absent fields are left out', async (t) => {
  const file = join(dir, 'b.log')
  const p = make({ path: file })
  const ctx = fakeRequest({ url: '/x' })
  ctx.status = 502
  ctx.error = new Error('upstream reset')
  p.onComplete!(ctx)
  await flushAccessLogs()
  const [l] = lines(file)
  t.equal(l.status, 502)
  t.equal(l.error, 'upstream reset')
  t.equal(l.revision, '')
  t.notOk('requestId' in l || 'userAgent' in l || 'bytes' in l)
})

t.test('countBytes sums the body chunks', async (t) => {
  const file = join(dir, 'c.log')
  const p = make({ path: file, countBytes: true })
  t.type(p.onResponseData, 'function')
  const ctx = served()
  const chunk = Buffer.from('hello')
  t.equal(p.onResponseData!(ctx, chunk, false), chunk, 'chunks pass unchanged')
  p.onResponseData!(ctx, Buffer.alloc(1000), false)
  p.onResponseData!(ctx, Buffer.alloc(0), true)
  p.onComplete!(ctx)
  const local = served(401) // a local response: no chunks seen, its Content-Length is used
  local.responseHeaders.set('content-length', '13')
  p.onComplete!(local)
  await flushAccessLogs()
  t.same(lines(file).map((l) => l.bytes), [1005, 13])
})

t.test('routes logging to the same file share one stream, in order', async (t) => {
  const file = join(dir, 'd.log')
  const a = make({ path: file }, { namespace: 'ns', name: 'a' })
  const b = make({ path: 'd.log' }, { namespace: 'ns', name: 'b' })
  for (let i = 0; i < 50; i++) (i % 2 === 0 ? a : b).onComplete!(served(200 + i))
  await flushAccessLogs()
  const ls = lines(file)
  t.equal(ls.length, 50)
  t.same(ls.map((l) => l.status), Array.from({ length: 50 }, (_, i) => 200 + i))
  t.same(ls.slice(0, 2).map((l) => l.route), ['ns/a', 'ns/b'])
})

t.test('sampling', async (t) => {
  t.same(Object.keys(make({ path: join(dir, 'never.log'), sampling: 0 })), [], 'sampling 0: no phase at all')
  const file = join(dir, 'e.log')
  const p = make({ path: file, sampling: 0.25 })
  const random = Math.random
  const draws = [0.1, 0.3, 0.24, 0.25, 0.9]
  Math.random = () => draws.shift() ?? 1
  t.teardown(() => { Math.random = random })
  for (let i = 0; i < 5; i++) p.onComplete!(served(200 + i))
  await flushAccessLogs()
  t.same(lines(file).map((l) => l.status), [200, 202])
})

t.test('stdout by default', async (t) => {
  const out: string[] = []
  const write = process.stdout.write
  process.stdout.write = ((s: string, cb?: () => void) => { out.push(s); cb?.(); return true }) as typeof process.stdout.write
  t.teardown(() => { process.stdout.write = write })
  const p = make({})
  p.onComplete!(served())
  p.onComplete!(served(404))
  await flushAccessLogs()
  process.stdout.write = write
  const text = out.join('')
  t.same(text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).status), [200, 404])
  t.equal(out.filter((s) => s !== '').length, 1, 'both lines in one write')
})

t.test('config errors', async (t) => {
  t.same(problems({ sampling: 1.5 }), ['sampling: must be a number from 0 to 1, got number 1.5'])
  t.same(problems({ path: 5, countBytes: 'yes' }), [
    'path: must be a string, got number 5',
    'countBytes: must be true or false, got string "yes"',
  ])
  t.same(problems({ file: 'x.log' }), ['file: unknown field; known fields: path, sampling, countBytes'])
})

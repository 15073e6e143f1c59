// The plugin runner through real requests: ordering by priority, short-circuits, async phases,
// response phases in reverse, onComplete always, and a throwing plugin failing only its request.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice, request, tempDir } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'

const TRACER = path.resolve(import.meta.dirname, 'fixtures/tracer.ts')

const backend = await startBackend('app')
t.teardown(() => backend.close())

interface TracerOpts { priority: number; shortCircuit?: string; throwIn?: string; rejectIn?: string; async?: boolean; upperCaseBody?: boolean }

function setup(plugins: Record<string, TracerOpts>, logFile: string): string {
  const docs = Object.entries(plugins).map(([id, o]) => `---
apiVersion: sluice.dev/v1alpha1
kind: Plugin
metadata: {name: ${id}}
spec:
  plugin: ${TRACER}
  priority: ${o.priority}
  config: {id: ${id}, log: ${JSON.stringify(logFile)}${o.shortCircuit ? `, shortCircuit: ${o.shortCircuit}` : ''}${o.throwIn ? `, throwIn: ${o.throwIn}` : ''}${o.rejectIn ? `, rejectIn: ${o.rejectIn}` : ''}${o.async ? ', async: true' : ''}${o.upperCaseBody ? ', upperCaseBody: true' : ''}}
`)
  return `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: web
  annotations: {sluice.dev/plugins: "${Object.keys(plugins).join(', ')}"}
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: "${backend.origin}"}
    spec:
      containers: [{image: app}]
${docs.join('')}`
}

const dir = tempDir()
let n = 0
async function run(plugins: Record<string, TracerOpts>, url = '/') {
  const log = path.join(dir, `log-${n++}.txt`)
  writeFileSync(log, '')
  s.write('web.yaml', setup(plugins, log))
  const lines = (): string[] => readFileSync(log, 'utf8').trim().split('\n').filter((l) => l !== '')
  // onComplete runs as the response finishes, possibly after the client has the whole body; every
  // tracer logs exactly one onComplete line per request, so wait for all of them.
  const completed = (): boolean => lines().filter((l) => l.includes(':onComplete:')).length >= Object.keys(plugins).length
  // Wait until the new chain is live: the log gets this file's lines.
  await waitFor(async () => {
    await request(s.port, 'web.default.localhost', url).catch(() => null)
    return lines().length > 0
  }, { what: () => `the new plugin chain to run; logs:\n${s.logs().slice(-2000)}`, everyMs: 50 })
  await waitFor(completed, { what: 'onComplete of the warm-up request' })
  writeFileSync(log, '')
  backend.requests.length = 0
  const res = await request(s.port, 'web.default.localhost', url)
  await waitFor(completed, { what: () => `every plugin's onComplete (log so far: ${lines().join(' ')})` })
  return { res, log: lines(), seen: backend.requests.slice() }
}

const s = await startSluice({ 'web.yaml': setup({}, path.join(dir, 'none')) })
t.teardown(() => s.stop())

t.test('request phases by priority (higher first), response phases in reverse, onComplete always', async (t) => {
  const { res, log, seen } = await run({ low: { priority: 1 }, high: { priority: 100 }, mid: { priority: 50, async: true } })
  t.equal(res.status, 200)
  t.same(log, [
    'high:onRequest', 'mid:onRequest', 'low:onRequest',
    'high:onUpstream', 'mid:onUpstream', 'low:onUpstream',
    'low:onResponseHeaders', 'mid:onResponseHeaders', 'high:onResponseHeaders',
    'low:onComplete:200:ok', 'mid:onComplete:200:ok', 'high:onComplete:200:ok',
  ])
  t.equal(seen.length, 1)
  t.same(String(seen[0].headers['x-trace']).split(', '), [
    'high:onRequest', 'mid:onRequest', 'low:onRequest',
    'high:onUpstream:web-00001', 'mid:onUpstream:web-00001', 'low:onUpstream:web-00001',
  ], 'the upstream sees the request headers the plugins added, in order')
  t.same(String(res.headers['x-trace']).split(', '), ['low:onResponseHeaders:200', 'mid:onResponseHeaders:200', 'high:onResponseHeaders:200'])
})

t.test('a short-circuit in onRequest: no upstream request, later request phases skipped, response phases and onComplete run', async (t) => {
  const { res, log, seen } = await run({ guard: { priority: 100, shortCircuit: 'onRequest', async: true }, after: { priority: 1 } })
  t.equal(res.status, 418)
  t.equal(res.body, 'short-circuit by guard in onRequest\n')
  t.equal(res.headers['x-short'], 'guard')
  t.equal(seen.length, 0, 'the backend never saw the request')
  t.same(log, ['guard:onRequest', 'after:onResponseHeaders', 'guard:onResponseHeaders', 'after:onComplete:418:ok', 'guard:onComplete:418:ok'])
  t.same(String(res.headers['x-trace']).split(', '), ['after:onResponseHeaders:418', 'guard:onResponseHeaders:418'])
})

t.test('onResponseHeaders can replace the upstream response', async (t) => {
  const { res, seen } = await run({ swap: { priority: 5, shortCircuit: 'onResponseHeaders' } })
  t.equal(res.status, 418)
  t.equal(res.body, 'short-circuit by swap in onResponseHeaders\n')
  t.equal(seen.length, 1, 'the upstream was asked')
})

t.test('a throwing plugin fails its request with 500; onComplete still runs with the error', async (t) => {
  const { res, log, seen } = await run({ bad: { priority: 10, throwIn: 'onUpstream' }, ok: { priority: 1 } })
  t.equal(res.status, 500)
  t.match(res.body, /plugin default\/bad failed/)
  t.equal(seen.length, 0)
  t.ok(log.includes('bad:onComplete:500:error') && log.includes('ok:onComplete:500:error'), log.join(' '))
  t.match(s.logs(), /plugin failed; answering 500 plugin=default\/bad/)
  const m = await s.admin('/metrics')
  t.match(m.body, /sluice_plugin_errors_total\{plugin="default\/bad"\} [1-9]/)
  // The gateway goes on: the next route without the bad plugin is fine.
  const again = await run({ ok: { priority: 1 } })
  t.equal(again.res.status, 200)
})

t.test('a rejecting async plugin also gives 500', async (t) => {
  const { res } = await run({ bad: { priority: 10, rejectIn: 'onRequest' } })
  t.equal(res.status, 500)
})

t.test('onResponseData rewrites the streamed body; a throwing onComplete does not fail the request', async (t) => {
  const { res, log } = await run({ upper: { priority: 1, upperCaseBody: true, throwIn: 'onComplete' } })
  t.equal(res.status, 200)
  t.match(res.body, /"BACKEND":"APP"/)
  t.ok(log.includes('upper:onComplete:200:ok'))
  t.match(s.logs(), /plugin onComplete failed/)
})

t.test('a bad plugin config keeps the last good table and is reported with its position', async (t) => {
  const before = await request(s.port, 'web.default.localhost', '/')
  s.write('web.yaml', setup({ x: { priority: 1 } }, '/tmp/unused').replace('shortCircuit', 'x').replace('config: {id: x', 'config: {id: x, shortCircuit: nope'))
  await waitFor(async () => (await s.admin('/readyz')).body.includes('spec.config.shortCircuit'), { what: 'the error on /readyz', everyMs: 50 })
  t.match((await s.admin('/readyz')).body, /web\.yaml:\d+:\d+ spec\.config\.shortCircuit: must be one of/)
  const after = await request(s.port, 'web.default.localhost', '/')
  t.equal(after.status, before.status, 'still served by the last good table')
})

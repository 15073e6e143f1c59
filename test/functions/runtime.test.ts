// The function runtimes as processes: health endpoints, HTTP bodies by content type, CloudEvents in
// and a CloudEvent reply in binary mode, errors, and a graceful SIGTERM.
import t from 'tap'
import net from 'node:net'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { freePort } from '../../control/runtime/free-port.ts'
import { NODE_RUNTIME, PYTHON_RUNTIME } from '../../bin/cli/func/project.ts'
import { eventually } from '../fixtures/sluice.ts'
import { CE_HEADERS, createProject, send, start, trySend, type Proc } from './helpers.ts'

const hasPython = spawnSync('python3', ['--version']).status === 0

async function serve(t: Test, file: string, args: string[], cwd: string): Promise<{ port: number; proc: Proc }> {
  const port = await freePort()
  const proc = start(file, args, { cwd, env: { PORT: String(port) } })
  t.teardown(() => { if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL') })
  t.ok(await eventually(async () => (await trySend(port, '/health/readiness')).status === 200), `ready: ${proc.output()}`)
  return { port, proc }
}

t.test('node http: bodies, query, status and headers, errors', async (t) => {
  const dir = await createProject('node', 'http', 'greeter')
  const { port } = await serve(t, process.execPath, [NODE_RUNTIME, dir], dir)
  t.match(await send(port, '/health/liveness'), { status: 200, body: 'OK' })
  t.match(await send(port, '/?name=Ada'), { status: 200, body: 'Hello from greeter, Ada!\n', headers: { 'content-type': 'text/plain; charset=utf-8' } })
  const json = await send(port, '/', { body: '{"n":1}', headers: { 'content-type': 'application/json' } })
  t.match(json, { status: 200, headers: { 'content-type': 'application/json' } })
  t.same(JSON.parse(json.body), { received: { n: 1 } })
  const form = await send(port, '/', { body: 'a=1&b=two', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.same(JSON.parse(form.body), { received: { a: '1', b: 'two' } })
  t.match(await send(port, '/', { body: '{nope', headers: { 'content-type': 'application/json' } }), { status: 400, body: /not valid application\/json/ })
})

t.test('typescript cloudevents: the reply is a binary-mode CloudEvent', async (t) => {
  const dir = await createProject('typescript', 'cloudevents', 'echo')
  // deployed shape: no argument, the function folder from SLUICE_FUNCTION_DIR
  const port = await freePort()
  const proc = start(process.execPath, [NODE_RUNTIME], { cwd: path.dirname(dir), env: { PORT: String(port), SLUICE_FUNCTION_DIR: path.basename(dir) } })
  t.teardown(() => { proc.child.kill('SIGKILL') })
  t.ok(await eventually(async () => (await trySend(port, '/health/readiness')).status === 200), proc.output())
  const r = await send(port, '/', { headers: CE_HEADERS, body: '{"n":1}' })
  t.equal(r.status, 200, r.body)
  t.match(r.headers, { 'ce-type': 'echo.response', 'ce-source': 'echo', 'ce-specversion': '1.0', 'content-type': /application\/json/ })
  t.ok(r.headers['ce-id'], 'the reply gets an id')
  t.same(JSON.parse(r.body), { received: { n: 1 } })
  // structured mode in, binary out
  const structured = await send(port, '/', { headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: 's1', type: 'example.ping', source: '/test', datacontenttype: 'application/json', data: { s: true } }) })
  t.same(JSON.parse(structured.body), { received: { s: true } })
  t.match(await send(port, '/'), { status: 400, body: /expected a CloudEvent/ })
  t.match(proc.output(), /"msg":"received example.ping from \/test"/, 'context.log writes JSON lines')
})

t.test('node: what a handler returns, as the answer', async (t) => {
  const dir = await createProject('node', 'http', 'shapes')
  writeFileSync(path.join(dir, 'index.js'), [
    'export function handle(context) {',
    '  switch (context.query.as) {',
    '    case "buffer": return Buffer.from([1, 2, 3])',
    '    case "none": return undefined',
    '    case "object": return { a: 1 }',
    '    case "custom": return { statusCode: 201, headers: { "X-Thing": "a", "Content-Type": "text/csv", "content-length": "999" }, body: "a,b" }',
    '    case "status": return { statusCode: 404 }',
    '    case "async": return Promise.resolve({ later: true })',
    '    case "reject": return Promise.reject(new Error("async secret"))',
    '    case "unicode": return "héllo ✓"',
    '  }',
    '}', ''].join('\n'))
  const { port } = await serve(t, process.execPath, [NODE_RUNTIME, dir], dir)
  const buffer = await send(port, '/?as=buffer')
  t.match(buffer, { status: 200, headers: { 'content-type': 'application/octet-stream', 'content-length': '3' } })
  t.match(await send(port, '/?as=none'), { status: 204, body: '' })
  t.match(await send(port, '/?as=object'), { status: 200, headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  t.match(await send(port, '/?as=custom'), { status: 201, headers: { 'x-thing': 'a', 'content-type': 'text/csv', 'content-length': '3' }, body: 'a,b' }, 'the handler\'s headers, its content-type, the real length')
  t.match(await send(port, '/?as=status'), { status: 404, body: '', headers: { 'content-length': '0' } })
  t.match(await send(port, '/?as=async'), { status: 200, body: '{"later":true}' })
  t.match(await send(port, '/?as=reject'), { status: 500, body: 'Internal Server Error' })
  t.match(await send(port, '/?as=unicode'), { status: 200, body: 'héllo ✓', headers: { 'content-length': String(Buffer.byteLength('héllo ✓')), 'content-type': 'text/plain; charset=utf-8' } })
})

t.test('node: a thrown error is a 500 without details, and logged', async (t) => {
  const dir = await createProject('node', 'http', 'thrower')
  writeFileSync(path.join(dir, 'index.js'), [
    'export function handle(context) {',
    '  if (context.query.code) { const e = new Error("no such thing"); e.statusCode = Number(context.query.code); throw e }',
    '  throw new Error("secret detail")',
    '}', ''].join('\n'))
  const { port, proc } = await serve(t, process.execPath, [NODE_RUNTIME, dir], dir)
  t.match(await send(port, '/'), { status: 500, body: 'Internal Server Error' })
  t.match(await send(port, '/?code=404'), { status: 404, body: 'no such thing' })
  t.ok(await eventually(() => proc.output().includes('secret detail')), 'the error is in the log')
})

t.test('node: SIGTERM lets the request in flight finish, then exits 0', async (t) => {
  const dir = await createProject('node', 'http', 'slow')
  writeFileSync(path.join(dir, 'index.js'), [
    'export async function handle(context) {',
    '  context.log.info("slow started")',
    // held until the test releases it, after SIGTERM: the request is in flight when the signal comes
    '  const { existsSync } = await import("node:fs")',
    `  while (!existsSync(${JSON.stringify(path.join(dir, 'release'))})) await new Promise((r) => setTimeout(r, 10))`,
    '  return "done"',
    '}', ''].join('\n'))
  const { port, proc } = await serve(t, process.execPath, [NODE_RUNTIME, dir], dir)
  const inFlight = send(port, '/')
  t.ok(await eventually(() => proc.output().includes('slow started')))
  proc.child.kill('SIGTERM')
  // the signal has arrived once the listener is closed (new connections are refused)
  const refused = (): Promise<boolean> => new Promise((r) => { const c = net.connect(port, '127.0.0.1'); c.once('connect', () => { c.destroy(); r(false) }); c.once('error', () => r(true)) })
  t.ok(await eventually(refused), 'SIGTERM closed the listener')
  writeFileSync(path.join(dir, 'release'), '')
  t.match(await inFlight, { status: 200, body: 'done' })
  t.same(await proc.exited, { code: 0, signal: null })
})

t.test('python http: main(context), health, SIGTERM', { skip: !hasPython && 'python3 is not installed' }, async (t) => {
  const dir = await createProject('python', 'http', 'pyfn')
  const { port, proc } = await serve(t, 'python3', [PYTHON_RUNTIME, dir], dir)
  t.match(await send(port, '/health/liveness'), { status: 200, body: 'OK' })
  t.match(await send(port, '/?name=Ada'), { status: 200, body: 'Hello from pyfn, Ada!\n' })
  const json = await send(port, '/', { body: '{"n":1}', headers: { 'content-type': 'application/json' } })
  t.same(JSON.parse(json.body), { received: { n: 1 } })
  writeFileSync(path.join(dir, 'func.py'), 'def main(context):\n    raise RuntimeError("secret detail")\n')
  proc.child.kill('SIGTERM')
  t.same(await proc.exited, { code: 0, signal: null })
  const again = await serve(t, 'python3', [PYTHON_RUNTIME, dir], dir)
  t.match(await send(again.port, '/'), { status: 500, body: 'Internal Server Error' })
  t.ok(await eventually(() => again.proc.output().includes('secret detail')))
})

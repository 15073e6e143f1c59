// `sluice func run DIR`: serves the function, prints the URL, and reloads when a file is saved.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { BIN, eventually } from '../fixtures/sluice.ts'
import { createProject, start, trySend } from './helpers.ts'

t.test('func run serves and reloads on save', async (t) => {
  const dir = await createProject('node', 'http', 'live')
  const proc = start(process.execPath, [BIN, 'func', 'run', dir, '--port', '0'])
  t.teardown(() => { proc.child.kill('SIGKILL') })
  t.ok(await eventually(() => /at http:\/\/127\.0\.0\.1:\d+\//.test(proc.output())), proc.output())
  const port = Number(/at http:\/\/127\.0\.0\.1:(\d+)\//.exec(proc.output())![1])
  t.ok(await eventually(async () => (await trySend(port, '/')).body === 'Hello from live!\n'), 'the function answers')

  const file = path.join(dir, 'index.js')
  writeFileSync(file, readFileSync(file, 'utf8').replace('Hello from', 'Howdy from'))
  t.ok(await eventually(async () => (await trySend(port, '/')).body === 'Howdy from live!\n'), `reloaded: ${proc.output()}`)
  t.match(proc.output(), /index\.js changed, reloading live/)

  // a broken save keeps `func run` alive; the next good save serves again
  writeFileSync(file, 'export function handle( {\n')
  t.ok(await eventually(() => /live exited/.test(proc.output())), 'the broken runtime exits and says so')
  writeFileSync(file, 'export const handle = () => "fixed\\n"\n')
  t.ok(await eventually(async () => (await trySend(port, '/')).body === 'fixed\n'), proc.output())

  proc.child.kill('SIGTERM')
  t.same(await proc.exited, { code: 0, signal: null }, 'SIGTERM stops the runtime and func run')
})

t.test('func run: a python function reloads too', { skip: spawnSync('python3', ['--version']).status !== 0 && 'python3 is not installed' }, async (t) => {
  const dir = await createProject('python', 'http', 'pylive')
  const proc = start(process.execPath, [BIN, 'func', 'run', dir, '--port', '0'])
  t.teardown(() => { proc.child.kill('SIGKILL') })
  t.ok(await eventually(() => /at http:\/\/127\.0\.0\.1:\d+\//.test(proc.output())), proc.output())
  const port = Number(/at http:\/\/127\.0\.0\.1:(\d+)\//.exec(proc.output())![1])
  t.ok(await eventually(async () => (await trySend(port, '/')).body === 'Hello from pylive!\n'), proc.output())
  const file = path.join(dir, 'func.py')
  writeFileSync(file, readFileSync(file, 'utf8').replace('"Hello from', '"Howdy from'))
  t.ok(await eventually(async () => (await trySend(port, '/')).body === 'Howdy from pylive!\n'), proc.output())
  proc.child.kill('SIGTERM')
  t.same(await proc.exited, { code: 0, signal: null })
})

// App output as log records: a stack trace is one record (error line, `at` frames, Node's
// `file:line` / source / `^` prelude), bounded, emitted when the next record starts, after a short
// timer, or at end of stream. The timer is injected: the tests fire it themselves.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { MAX_RECORD_LINES, RecordGrouper, type FlushTimerFactory } from '../../../control/runtime/output.ts'
import { harness, revision, waitFor } from './fixtures/helpers.ts'

function grouper(): { g: RecordGrouper; records: string[]; fire(): void; armed(): number } {
  const records: string[] = []
  let flush = (): void => {}
  let armed = 0
  const timer: FlushTimerFactory = (f) => { flush = f; return { arm: () => { armed++ }, cancel: () => {} } }
  const g = new RecordGrouper((r) => records.push(r), timer)
  return { g, records, fire: () => flush(), armed: () => armed }
}

t.test('a Node stack trace is one record; the next plain line starts another', async (t) => {
  const { g, records } = grouper()
  const trace = ['TypeError: boom', '    at Object.<anonymous> (/app/a.js:2:7)', '    at Module._compile (node:internal/modules/cjs/loader:1929:14)']
  for (const l of ['listening', ...trace, 'next request']) g.line(l)
  t.same(records, ['listening', trace.join('\n')])
  g.end()
  t.same(records.at(-1), 'next request', 'end flushes the pending record')
})

t.test('at the end of a write a plain record goes out at once; one that may go on waits for the timer', async (t) => {
  const { g, records, fire, armed } = grouper()
  g.line('starting')
  g.chunkEnd()
  t.same(records, ['starting'], 'plain output is not delayed')
  t.equal(armed(), 0)
  g.line('Error: x')
  g.line('    at f (a.js:1:1)')
  g.chunkEnd()
  t.same(records, ['starting'], 'a trace waits for the rest of it')
  t.equal(armed(), 1)
  g.line('    at g (b.js:1:1)')
  g.chunkEnd()
  t.equal(armed(), 2, 're-armed by the next write')
  fire()
  t.same(records.at(-1), 'Error: x\n    at f (a.js:1:1)\n    at g (b.js:1:1)', 'frames from two writes in one record')
  fire()
  t.equal(records.length, 2, 'a timer with nothing pending does nothing')
  g.line('Error: lonely')
  g.chunkEnd()
  t.equal(records.length, 2, 'an error line alone may be followed by its frames')
  fire()
  t.same(records.at(-1), 'Error: lonely')
})

t.test('records are bounded in lines', async (t) => {
  const { g, records } = grouper()
  g.line('Error: deep')
  for (let i = 0; i < MAX_RECORD_LINES + 5; i++) g.line(`    at f${i} (a.js:1:1)`)
  g.end()
  t.equal(records.length, 2)
  t.equal(records[0]!.split('\n').length, MAX_RECORD_LINES)
  t.equal(records[1]!.split('\n').length, 6)
})

t.test("Node's prelude, properties block and require stack stay with the error", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-records-'))
  writeFileSync(path.join(dir, 'throws.js'), "const x = 1\nthrow new TypeError('boom ' + x)\n")
  writeFileSync(path.join(dir, 'requires.cjs'), "require('./nope.js')\n")
  for (const file of ['throws.js', 'requires.cjs']) {
    const stderr = spawnSync(process.execPath, [file], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, encoding: 'utf8' }).stderr
    const { g, records } = grouper()
    for (const l of stderr.split('\n')) if (l !== '') g.line(l) // LineSplitter drops empty lines
    g.end()
    t.equal(records.length, 2, `${file}: the trace, then Node's banner`)
    t.match(records[0], /^.*:\d+\n.*\n\s*\^\n\w*Error: /, `${file}: prelude first`)
    t.match(records[0], /\n {4}at /)
    t.match(records[1], /^Node\.js v\d+/)
  }
})

t.test('a path:line that opens no prelude stays a line of its own', async (t) => {
  const { g, records, fire } = grouper()
  g.line('/srv/app/data.csv:3')
  g.line('row one')
  g.line('row two')
  t.same(records, ['/srv/app/data.csv:3', 'row one'])
  g.line('/srv/app/data.csv:4')
  g.line('tick')
  fire()
  t.same(records, ['/srv/app/data.csv:3', 'row one', 'row two', '/srv/app/data.csv:4', 'tick'], 'the timer flushes an unconfirmed prelude line by line')
  g.line('listening on http://127.0.0.1:8080')
  g.chunkEnd()
  t.same(records.at(-1), 'listening on http://127.0.0.1:8080', 'an address is no prelude: out at once')
})

t.test("Python's traceback ends with its exception line", async (t) => {
  const { g, records } = grouper()
  for (const l of ['Traceback (most recent call last):', '  File "app.py", line 3, in <module>', '    main()', 'ValueError: bad port', 'bye']) g.line(l)
  g.end()
  t.same(records, ['Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n    main()\nValueError: bad port', 'bye'])
})

t.test('a crashing app: its trace is one log record and one /debug/logs record', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-records-'))
  writeFileSync(path.join(dir, 'server.js'), "console.log('starting')\nfunction start() { throw new RangeError('port out of range') }\nstart()\n")
  const { rt, log } = harness(t)
  const rev = revision({ command: [process.execPath, 'server.js'], workingDir: dir, env: [{ name: 'NODE_OPTIONS', value: '' }] })
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  await waitFor(() => log.entries.some((e) => e.msg.startsWith('instance exited')), 'a crash', 60_000)
  const id = `${rev.name}-1`
  const stderr = log.entries.filter((e) => e.fields?.instance === id && e.fields.stream === 'stderr')
  t.equal(stderr.length, 2, 'the trace and the version banner')
  t.match(stderr[0]!.msg, new RegExp(`^\\[${id}\\] .*server\\.js:2\\n.*\\n\\s*\\^\\nRangeError: port out of range\\n {4}at start `))
  t.equal(stderr[0]!.level, 'info')
  const kept = rt.appLogs.read([rev.key]).filter((l) => l.instance === id)
  t.equal(kept.length, 3, 'starting, the trace, the banner')
  t.ok(kept.some((l) => l.stream === 'stderr' && l.line === stderr[0]!.msg.slice(id.length + 3)), 'the same record in the ring')
})

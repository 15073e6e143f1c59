// Crash summaries quote what an app said when it died: the first line of its last error report,
// never the `Node.js v24.x` banner Node prints after every uncaught exception.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { LastWords, quoteTail } from '../../../control/runtime/failure.ts'
import { harness, revision, waitFor } from './fixtures/helpers.ts'

const env = { ...process.env, NODE_OPTIONS: '' }

/** what a real Node process writes on stderr when it dies */
function stderrOf(args: string[], cwd: string): string {
  return spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8' }).stderr
}

t.test('quoteTail picks the error line of real Node crashes', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-lastwords-'))
  writeFileSync(path.join(dir, 'throws.js'), "const x = 1\nthrow new TypeError('boom ' + x)\n")
  writeFileSync(path.join(dir, 'requires.cjs'), "require('./nope.js')\n")
  writeFileSync(path.join(dir, 'imports.mjs'), "import './nope.js'\n")
  const cases: [string[], RegExp][] = [
    [['index.js'], /^Error(?: \[ERR_MODULE_NOT_FOUND\])?: Cannot find module '.*index\.js'/],
    [['throws.js'], /^TypeError: boom 1$/],
    [['requires.cjs'], /^Error: Cannot find module '\.\/nope\.js'$/],
    [['imports.mjs'], /^Error \[ERR_MODULE_NOT_FOUND\]: Cannot find module '.*nope\.js' imported from /],
  ]
  for (const [args, want] of cases) {
    const out = stderrOf(args, dir)
    t.match(out, /Node\.js v\d+/, `${args[0]}: Node printed its banner last`)
    const words = new LastWords()
    for (const line of out.split('\n')) words.push('stderr', line)
    t.match(words.quote(), want, args[0])
  }
})

t.test('quoteTail without an error report: the last line that says something', async (t) => {
  t.equal(quoteTail(['starting', 'fatal: cannot start (code 7)', '']), 'fatal: cannot start (code 7)')
  t.equal(quoteTail(['Traceback (most recent call last):', '  File "app.py", line 1, in <module>', 'ValueError: bad port']), 'ValueError: bad port', 'Python')
  t.equal(quoteTail(['panic: runtime error: index out of range', '', 'goroutine 1 [running]:', 'main.main()', '\t/app/main.go:5 +0x1d']), 'panic: runtime error: index out of range', 'Go')
  t.equal(quoteTail(['Error: first', 'recovered', 'TypeError: second', '    at x (a.js:1:1)', 'Node.js v24.0.0']), 'TypeError: second', 'the last report')
  t.equal(quoteTail(['Node.js v24.0.0']), undefined)
  t.equal(quoteTail(['Errors: 0', 'ErrorHandler ready']), 'ErrorHandler ready', 'words that start with Error are not reports')
})

t.test('stderr speaks first, stdout when stderr said nothing; records count line by line', async (t) => {
  const w = new LastWords()
  w.push('stdout', 'listening on 8080')
  t.equal(w.quote(), 'listening on 8080')
  w.push('stderr', 'Error: db down\n    at connect (db.js:3:9)\n    at main (app.js:1:1)')
  w.push('stderr', 'Node.js v24.0.0')
  t.equal(w.quote(), 'Error: db down')
  for (let i = 0; i < 100; i++) w.push('stderr', `noise ${i}`)
  t.equal(w.quote(), 'noise 99', 'the tail is bounded: an old report scrolls out')
})

t.test('a revision whose app cannot find its module fails quoting the module error', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-lastwords-'))
  const { rt, log } = harness(t)
  const rev = revision({ command: [process.execPath, './index.js'], workingDir: dir, env: [{ name: 'NODE_OPTIONS', value: '' }] })
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const failure = await waitFor(() => rt.status(rev.key).failure, 'failure', 60_000)
  t.equal(failure.reason, 'ExitCode1')
  t.match(failure.message, /; last output: Error(?: \[ERR_MODULE_NOT_FOUND\])?: Cannot find module '.*index\.js'/)
  t.notMatch(failure.message, /Node\.js v/)
  const warn = log.entries.find((e) => e.msg === 'instance exited with code 1')!
  t.match(warn.fields, { lastOutput: /^Error: Cannot find module/ })
})

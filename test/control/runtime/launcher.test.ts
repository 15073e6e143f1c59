// The launcher starts the exact same process from its prelaunched shell as spawn() would: same
// argv, working directory, environment (quotes, newlines and shell syntax included), stdin
// /dev/null, and the child's pid is the app's. What the shell cannot reproduce falls back to spawn.
import t from 'tap'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Launcher, resolveCommand, shellLine, shellQuote, type LaunchSpec, type Launched } from '../../../control/runtime/launcher.ts'
import { liveChildren } from '../../../control/runtime/children.ts'
import { waitFor } from '../../fixtures/wait.ts'

const DUMP = fileURLToPath(new URL('./fixtures/dump.mjs', import.meta.url))

interface Dump { argv: string[]; cwd: string; env: Record<string, string>; pid: number; stdinIsDevNull: boolean }

async function run(l: Launched): Promise<{ dump: Dump; code: number | null }> {
  let out = ''
  l.child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  l.child.stderr!.resume()
  const [code] = await once(l.child, 'close') as [number | null]
  return { dump: JSON.parse(out) as Dump, code }
}

function spec(over: Partial<LaunchSpec> = {}): LaunchSpec {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
  return { file: process.execPath, args: [DUMP], cwd: process.cwd(), env: { ...env, NODE_OPTIONS: '' }, ...over }
}

const tricky = ["it's", 'a\nb', '$HOME `id` $(id) "q" \\ ;&|<>*?', '', '  spaced  ', 'ünïcødé', "''", '\t\r']

t.test('a prelaunched start is the same process spawn() would start', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'launcher-'))
  const env: Record<string, string> = { TRICKY_0: tricky[0]! }
  tricky.forEach((v, i) => { env[`TRICKY_${i}`] = v })
  const s = spec({ args: [DUMP, ...tricky], cwd: dir, env: { ...spec().env, ...env, PORT: '1234' } })
  delete s.env.HOME // removed from the base env: must be unset in the app, not inherited from the shell
  const shell = new Launcher()
  shell.warm()
  const direct = new Launcher({ prelaunch: false })
  t.teardown(() => { shell.close(); direct.close() })
  t.ok(shell.sparePid !== undefined, 'warm() prelaunched a spare')
  const a = shell.launch(s)
  t.equal(a.prelaunched, true, 'the spare shell was used')
  const b = direct.launch(s)
  t.equal(b.prelaunched, false)
  const [ra, rb] = await Promise.all([run(a), run(b)])
  t.equal(ra.code, 0)
  t.same(ra.dump.argv, tricky, 'argv byte for byte')
  t.same(ra.dump.argv, rb.dump.argv)
  t.equal(ra.dump.cwd, dir)
  // (tap instruments spawn() in this process and edits the direct child's env, so compare to the spec)
  t.same(ra.dump.env, s.env, 'exactly the spec environment')
  t.equal(ra.dump.env.HOME, undefined)
  t.equal(ra.dump.pid, a.child.pid, 'the app runs in the shell process (exec)')
  t.equal(ra.dump.stdinIsDevNull, true)
  t.equal(rb.dump.stdinIsDevNull, true)
})

t.test('a new spare is prelaunched after a start, and close() ends it', async (t) => {
  const l = new Launcher()
  l.warm()
  const first = l.launch(spec())
  await run(first)
  await waitFor(() => l.sparePid !== undefined, { what: 'the next spare' })
  const second = l.launch(spec())
  t.equal(second.prelaunched, true, 'the replacement spare was used')
  await run(second)
  await waitFor(() => l.sparePid !== undefined, { what: 'the next spare' })
  const before = liveChildren()
  t.ok(before >= 1, 'a spare is waiting')
  l.close()
  await waitFor(() => liveChildren() < before, { what: 'the spare to exit', timeoutMs: 30_000 })
  t.equal(liveChildren(), before - 1, 'the spare exited on end of input')
  t.equal(l.launch(spec()).prelaunched, false, 'closed: plain spawns only')
})

t.test('what the shell cannot reproduce falls back to spawn()', async (t) => {
  const l = new Launcher()
  t.teardown(() => l.close())
  l.warm()
  t.ok(l.sparePid !== undefined, 'warm() prelaunched a spare')
  const odd = l.launch(spec({ env: { ...spec().env, 'dotted.name': 'x' } }))
  t.equal(odd.prelaunched, false, 'an env name sh cannot export')
  t.equal((await run(odd)).dump.env['dotted.name'], 'x')

  const special = l.launch(spec({ env: { ...spec().env, PPID: '1', IFS: ':' } }))
  t.equal(special.prelaunched, false, 'names a shell keeps to itself (bash makes PPID read-only)')
  const got = (await run(special)).dump.env
  t.equal(got.PPID, '1')
  t.equal(got.IFS, ':')

  const missing = l.launch(spec({ file: 'no-such-command-here' }))
  t.equal(missing.prelaunched, false, 'a command not on PATH')
  const [err] = await once(missing.child, 'error') as [NodeJS.ErrnoException]
  t.equal(err.code, 'ENOENT', 'spawn reports ENOENT as usual')

  const noDir = l.launch(spec({ cwd: '/no/such/dir' }))
  t.equal(noDir.prelaunched, false, 'a missing working directory')
  await once(noDir.child, 'error')

  const ok = l.launch(spec())
  t.equal(ok.prelaunched, true, 'the spare was kept for a start it can do')
  await run(ok)
})

t.test('resolveCommand follows execvp: PATH search, relative paths, executables only', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'launcher-'))
  writeFileSync(path.join(dir, 'tool'), '#!/bin/sh\n')
  chmodSync(path.join(dir, 'tool'), 0o755)
  writeFileSync(path.join(dir, 'data'), 'x')
  t.equal(resolveCommand('tool', '/', `/nope:${dir}`), path.join(dir, 'tool'))
  t.equal(resolveCommand('./tool', dir, ''), path.join(dir, 'tool'))
  t.equal(resolveCommand('data', '/', dir), undefined, 'not executable')
  t.equal(resolveCommand('tool', '/', '/nope'), undefined)
  t.equal(resolveCommand(dir, '/', ''), undefined, 'a directory is not a command')
})

t.test('shellLine quotes everything and resets the shell-owned variables', async (t) => {
  t.equal(shellQuote("a'b"), `'a'\\''b'`)
  t.equal(shellQuote('a\nb'), `'a'"$N"'b'`)
  const line = shellLine({ file: 'app', args: ['x y'], cwd: '/srv', env: { A: '1', B: 'new', PWD: '/p' } }, { A: '1', B: 'old', C: 'gone' })
  t.equal(line, `cd '/srv' && unset PWD OLDPWD C && export 'B=new' 'PWD=/p' && exec 'app' 'x y' </dev/null\n`)
  t.notOk(line.slice(0, -1).includes('\n'), 'one line')
})

t.test('an idle spare neither keeps the gateway alive nor outlives it', async (t) => {
  const launcher = fileURLToPath(new URL('../../../control/runtime/launcher.ts', import.meta.url))
  const script = `import { Launcher } from ${JSON.stringify(launcher)}; const l = new Launcher(); l.warm(); console.log(l.sparePid)`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  t.equal(code, 0, 'the process exited by itself with a spare prelaunched')
  const pid = Number(out.trim())
  t.ok(pid > 0, `the spare had pid ${out.trim()}`)
  const alive = (): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
  await waitFor(() => !alive(), { what: `the spare shell (pid ${pid}) to exit`, timeoutMs: 30_000 })
  t.pass('the spare shell is gone too')
})

t.test('a spare killed just before it is used fails that start like a crash, nothing more', async (t) => {
  const l = new Launcher()
  t.teardown(() => l.close())
  l.warm()
  const pid = l.sparePid!
  process.kill(pid, 'SIGKILL')
  const launched = l.launch(spec())
  launched.child.stdout!.resume()
  launched.child.stderr!.resume()
  const [code, signal] = await once(launched.child, 'exit') as [number | null, string | null]
  if (launched.prelaunched) t.equal(signal, 'SIGKILL', 'the start ends as the killed process')
  else t.equal(code, 0, 'the dead spare was noticed and a plain spawn ran')
  await waitFor(() => l.sparePid !== undefined && l.sparePid !== pid, { what: 'a new spare' })
  const next = l.launch(spec())
  t.equal(next.prelaunched, true, 'a new spare took its place')
  await run(next)
})

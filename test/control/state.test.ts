import t from 'tap'
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { emptyState, loadState, saveState, STATE_FILE } from '../../control/state.ts'
import { run, service } from './fixtures.ts'

t.test('missing file → empty state', async (t) => {
  const dir = t.testdir({})
  t.same(loadState(dir), emptyState())
  t.same(loadState(join(dir, 'does', 'not', 'exist')), { version: 1, configurations: {} })
})

t.test('roundtrip through disk keeps revision names stable across restarts', async (t) => {
  const dir = join(t.testdir({}), 'nested', 'state')
  const first = run({ services: [service('hello', { env: '1' })] })
  saveState(dir, first.state)
  t.ok(existsSync(join(dir, STATE_FILE)))
  t.same(readdirSync(dir), [STATE_FILE], 'no temporary file left behind')
  const loaded = loadState(dir)
  t.same(loaded, first.state)
  const second = run({ services: [service('hello', { env: '2' })] }, { state: loaded })
  t.same(second.state.configurations['default/hello']?.revisions.map((r) => r.name), ['hello-00001', 'hello-00002'])
  saveState(dir, second.state)
  t.same(loadState(dir), second.state, 'overwrites atomically')
  t.match(readFileSync(join(dir, STATE_FILE), 'utf8'), /"version": 1/)
})

t.test('corrupt files throw an error naming the file', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, STATE_FILE)
  writeFileSync(file, '{"version": 1, "configurations": ')
  t.throws(() => loadState(dir), { message: new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt \\(not JSON`) })
  writeFileSync(file, JSON.stringify({ version: 2, configurations: {} }))
  t.throws(() => loadState(dir), /unsupported version 2/)
  writeFileSync(file, JSON.stringify({ version: 1, configurations: { 'default/a': { generation: 1, templateHash: 'x', revisions: [{ name: 'a-00001' }] } } }))
  t.throws(() => loadState(dir), /configurations\["default\/a"\]\.revisions\[0\] needs/)
  writeFileSync(file, '[]')
  t.throws(() => loadState(dir), /top level is not an object/)
})

t.test('unreadable state (a directory in the way) is an error too', async (t) => {
  const dir = t.testdir({})
  mkdirSync(join(dir, STATE_FILE))
  t.throws(() => loadState(dir), /cannot read revision state/)
})

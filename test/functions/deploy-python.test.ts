// `sluice func deploy` of a Python function into a running `sluice serve` (its own file: each of
// these starts a Sluice, and a loaded machine is slow).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { eventually, request, runSluice, startSluice } from '../fixtures/sluice.ts'
import { createProject } from './helpers.ts'

t.test('a python function deployed and served', { skip: spawnSync('python3', ['--version']).status !== 0 && 'python3 is not installed' }, async (t) => {
  const s = await startSluice({})
  t.teardown(() => s.stop())
  const dir = await createProject('python', 'http', 'pydep')
  const r = await runSluice(['func', 'deploy', dir, '--config', s.configDir])
  t.equal(r.code, 0, r.stderr)
  t.notMatch(readFileSync(path.join(s.configDir, 'pydep.yaml'), 'utf8'), 'command:', 'the build starts the Python runtime (func.yaml says python)')
  const get = async (): Promise<string> => { try { const x = await request(s.port, 'pydep.default.localhost', '/?name=Ada'); return `${x.status} ${x.body}` } catch { return 'refused' } }
  t.ok(await eventually(async () => (await get()) === '200 Hello from pydep, Ada!\n', 90_000), `${await get()}\n${s.logs().slice(-2000)}`)
})

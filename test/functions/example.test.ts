// The example function in config/examples serves under `sluice serve` from the project root (as
// `npm start` runs it), and its project's own test passes.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT, eventually, request, startSluice } from '../fixtures/sluice.ts'

t.test('config/examples/functions/hello-func.yaml serves config/functions/hello-func', async (t) => {
  const s = await startSluice({ 'hello-func.yaml': readFileSync(path.join(ROOT, 'config/examples/functions/hello-func.yaml'), 'utf8') })
  t.teardown(() => s.stop())
  const get = async (): Promise<string> => { try { const r = await request(s.port, 'hello-func.default.localhost', '/?name=Ada'); return `${r.status} ${r.body}` } catch { return 'refused' } }
  t.ok(await eventually(async () => (await get()) === '200 Hello from hello-func, Ada!\n', 60_000), `${await get()}\n${s.logs().slice(-2000)}`)
})

t.test('the example project passes its own test', async (t) => {
  const r = spawnSync(process.execPath, ['--test', 'index.test.js'], { cwd: path.join(ROOT, 'config/functions/hello-func'), encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
})

// `sluice func create --language python`: the project's own test passes under python3 -m unittest.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { createProject } from './helpers.ts'

t.test('python http', { skip: spawnSync('python3', ['--version']).status !== 0 && 'python3 is not installed' }, async (t) => {
  const dir = await createProject('python', 'http')
  t.same(readdirSync(dir).sort(), ['README.md', 'func.py', 'func.yaml', 'requirements.txt', 'test_func.py'])
  t.match(readFileSync(path.join(dir, 'func.yaml'), 'utf8'), 'runtime: python\n')
  const r = spawnSync('python3', ['-m', 'unittest'], { cwd: dir, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stderr, /Ran 2 tests/)
})

t.test('python has no cloudevents template yet, and says so', async (t) => {
  await t.rejects(createProject('python', 'cloudevents'), /there is no cloudevents template for python yet; use --template http/)
})

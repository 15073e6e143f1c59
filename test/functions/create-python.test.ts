// `sluice func create --language python`: the project's own test passes under python3 -m unittest.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { createProject } from './helpers.ts'

const skip = spawnSync('python3', ['--version']).status !== 0 && 'python3 is not installed'

for (const template of ['http', 'cloudevents']) {
  t.test(`python ${template}`, { skip }, async (t) => {
    const dir = await createProject('python', template)
    t.same(readdirSync(dir).sort(), ['README.md', 'func.py', 'func.yaml', 'requirements.txt', 'test_func.py'])
    t.match(readFileSync(path.join(dir, 'func.yaml'), 'utf8'), 'runtime: python\n')
    t.match(readFileSync(path.join(dir, 'func.yaml'), 'utf8'), `invoke: ${template === 'http' ? 'http' : 'cloudevent'}\n`)
    t.notMatch(readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8')).join(''), '{{name}}', 'every placeholder filled')
    const r = spawnSync('python3', ['-m', 'unittest'], { cwd: dir, encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    t.match(r.stderr, /Ran 2 tests/)
  })
}

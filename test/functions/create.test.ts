// `sluice func create`: every language and template gives a project whose own test passes.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runSluice, tempDir } from '../fixtures/sluice.ts'
import { createProject } from './helpers.ts'

// (python: create-python.test.ts, a file of its own so that each stays well inside tap's timeout)
const cases: [string, string, string[]][] = [
  ['node', 'http', ['README.md', 'func.yaml', 'index.js', 'index.test.js', 'package-lock.json', 'package.json']],
  ['node', 'cloudevents', ['README.md', 'func.yaml', 'index.js', 'index.test.js', 'package-lock.json', 'package.json']],
  ['typescript', 'http', ['README.md', 'func.yaml', 'index.test.ts', 'index.ts', 'package-lock.json', 'package.json', 'tsconfig.json']],
  ['typescript', 'cloudevents', ['README.md', 'func.yaml', 'index.test.ts', 'index.ts', 'package-lock.json', 'package.json', 'tsconfig.json']],
]

for (const [language, template, files] of cases) {
  t.test(`${language} ${template}`, async (t) => {
    const dir = await createProject(language, template)
    t.same(readdirSync(dir).sort(), files)
    const func = readFileSync(path.join(dir, 'func.yaml'), 'utf8')
    t.match(func, `name: fn-${language}-${template}\n`)
    t.match(func, `runtime: ${language}\n`)
    t.match(func, `invoke: ${template === 'cloudevents' ? 'cloudevent' : 'http'}\n`)
    t.match(func, /specVersion: \d+\.\d+\.\d+/)
    t.notMatch(readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8')).join(''), '{{name}}', 'every placeholder filled')
    const test = files.find((f) => f.includes('.test.'))!
    const r = spawnSync(process.execPath, ['--test', test], { cwd: dir, encoding: 'utf8' })
    t.equal(r.status, 0, r.stdout + r.stderr)
    t.match(r.stdout, /pass [12]/)
  })
}

t.test('refusals say what to do', async (t) => {
  const root = tempDir('sluice-func-')
  const bad = await runSluice(['func', 'create', path.join(root, 'Bad_Name')])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /function name "Bad_Name" is not a valid Service name; .* e\.g\. --name my-func/)
  mkdirSync(path.join(root, 'full'))
  writeFileSync(path.join(root, 'full', 'keep.txt'), 'x')
  const full = await runSluice(['func', 'create', path.join(root, 'full')])
  t.equal(full.code, 2)
  t.match(full.stderr, /already exists and is not empty/)
  const lang = await runSluice(['func', 'create', path.join(root, 'x'), '--language', 'cobol'])
  t.match(lang.stderr, /--language "cobol": use one of node, typescript, python/)
  t.notOk(existsSync(path.join(root, 'x')), 'nothing written')
  const named = await runSluice(['func', 'create', path.join(root, 'Other'), '--name', 'ok-name'])
  t.equal(named.code, 0, named.stderr)
  t.match(readFileSync(path.join(root, 'Other', 'func.yaml'), 'utf8'), 'name: ok-name')
})

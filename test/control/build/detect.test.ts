// Builder detection (buildpack order) and start commands, on folders written by the test.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { detect } from '../../../control/build/detect.ts'
import { BuildError } from '../../../control/build/plan.ts'

function folder(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-detect-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    writeFileSync(path.join(dir, name), text)
  }
  return dir
}

const args = (plan: ReturnType<typeof detect>): string[] => plan.steps.map((s) => [s.file, ...s.args].join(' '))

t.test('Node: npm ci with a lockfile, npm install without; start script, main, server.js', async (t) => {
  const locked = detect(folder(t, { 'package.json': '{"scripts":{"start":"node app.js"}}', 'package-lock.json': '{}', 'app.js': '' }))
  t.equal(locked.builder, 'node')
  t.match(args(locked)[0], /^npm ci --omit=dev/)
  t.same(locked.start.slice(0, 1), [process.execPath], 'a plain `node file` start script runs node directly')
  t.match(locked.start[1], /app\.js$/)
  t.match(locked.cache, { dir: 'node_modules', steps: 1 })
  t.match(locked.cache?.key, /^npm-[0-9a-f]{32}$/)

  const unlocked = detect(folder(t, { 'package.json': '{"main":"lib/main.js"}', 'lib/main.js': '' }))
  t.match(args(unlocked)[0], /^npm install --omit=dev/)
  t.equal(unlocked.cache, undefined, 'no lockfile, no dependency cache')
  t.match(unlocked.start[1], /lib\/main\.js$/)

  t.match(detect(folder(t, { 'package.json': '{}', 'server.js': '' })).start[1], /server\.js$/)
  const npmStart = detect(folder(t, { 'package.json': '{"scripts":{"start":"node a.js && node b.js"}}' }))
  t.same(npmStart.start, ['npm', 'start', '--silent'], 'anything else goes through npm start')
  t.ok(npmStart.env.PATH?.startsWith(`${path.dirname(process.execPath)}:`), 'with this Node first on PATH')
})

t.test('TypeScript: Node runs .ts; a build script builds with dev dependencies, then prunes', async (t) => {
  const plain = detect(folder(t, { 'package.json': '{}', 'index.ts': '', 'tsconfig.json': '{}' }))
  t.equal(plain.builder, 'typescript')
  t.match(plain.start[1], /index\.ts$/)
  const built = detect(folder(t, { 'package.json': '{"scripts":{"build":"tsc","start":"node dist/index.js"}}', 'package-lock.json': '{}' }))
  t.same(args(built).map((a) => a.split(' --')[0]), ['npm ci', 'npm run build', 'npm prune'])
  t.equal(built.cache, undefined, 'a build step needs the dev dependencies: no cache')
})

t.test('Python: a venv only with requirements.txt or pyproject; Procfile web: wins', async (t) => {
  const bare = detect(folder(t, { 'main.py': '' }))
  t.equal(bare.builder, 'python')
  t.same(bare.steps, [])
  t.equal(bare.start[0], 'python3')
  const venv = detect(folder(t, { 'app.py': '', 'requirements.txt': '\n# none\n' }))
  t.same(args(venv), ['python3 -m venv .venv'], 'an empty requirements.txt: a venv, no pip')
  t.match(venv.start[0], /\.venv\/bin\/python3$/)
  t.match(venv.env.PATH, /\.venv\/bin:/)
  const pip = detect(folder(t, { 'requirements.txt': 'flask\n', 'Procfile': 'web: gunicorn app:app\n' }))
  t.match(args(pip)[1], /\.venv\/bin\/pip install .* -r requirements\.txt$/)
  t.same(pip.start, ['/bin/sh', '-c', 'gunicorn app:app'])
})

t.test('any folder with a Procfile; clear errors otherwise', async (t) => {
  t.match(detect(folder(t, { 'Procfile': 'worker: x\nweb: ./serve --port $PORT\n', 'serve': '' })), { builder: 'procfile', start: ['/bin/sh', '-c', './serve --port $PORT'] })
  t.throws(() => detect(folder(t, { 'README.md': '' })), new BuildError('no builder matches this folder: add package.json (Node/TypeScript), requirements.txt, pyproject.toml, main.py or app.py (Python), or a Procfile with a web: line (anything else)'))
  t.throws(() => detect(folder(t, { 'Procfile': 'worker: x\n' })), /Procfile has no web: line/)
  t.throws(() => detect(folder(t, { 'package.json': '{ nope' })), /package.json is not valid JSON/)
  // no way to start: not an error by itself (the template's own command may say it), but said
  const gone = detect(folder(t, { 'package.json': '{"main":"gone.js"}' }))
  t.same(gone.start, [])
  t.match(gone.startProblem, /"main" names gone.js, which does not exist/)
  t.match(detect(folder(t, { 'package.json': '{}' })).startProblem, /add scripts.start, set "main", add server.js or index.js/)
  const py = detect(folder(t, { 'requirements.txt': '', 'func.py': 'def main(context): pass\n' }))
  t.same(py.start, [])
  t.match(py.startProblem, /main.py or app.py to start \(or a command in the template\)/)
})

t.test('a function project (func.yaml): its language builder installs, the function runtime starts it', async (t) => {
  const { NODE_RUNTIME, PYTHON_RUNTIME } = await import('../../../control/functions/runtimes.ts')
  const nodeDir = folder(t, { 'func.yaml': 'name: f\nruntime: node\n', 'package.json': '{"main":"index.js"}', 'package-lock.json': '{}', 'index.js': '' })
  const node = detect(nodeDir)
  t.equal(node.builder, 'function')
  t.match(args(node)[0], /^npm ci --omit=dev/)
  t.same(node.start, [process.execPath, NODE_RUNTIME, nodeDir], 'the runtime on the snapshot, not `main`')
  t.match(node.cache, { dir: 'node_modules' })
  t.same(detect(folder(t, { 'func.yaml': 'runtime: typescript\n', 'index.ts': '' })).steps, [], 'no package.json: nothing to install')

  const pyDir = folder(t, { 'func.yaml': 'runtime: python\n', 'func.py': '', 'requirements.txt': 'six\n' })
  const py = detect(pyDir)
  t.equal(py.builder, 'function')
  t.same(py.start, [path.join(pyDir, '.venv', 'bin', 'python3'), PYTHON_RUNTIME, pyDir], "the venv's python runs the runtime")
  t.same(detect(folder(t, { 'func.yaml': 'runtime: python\n', 'func.py': '' })).start[0], 'python3')

  t.throws(() => detect(folder(t, { 'func.yaml': 'runtime: go\n' })), new BuildError('func.yaml: runtime: "go" is not one Sluice runs; use one of node, typescript, python'))
})

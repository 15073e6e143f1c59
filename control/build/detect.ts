// Which builder a source folder gets, detected the way Cloud Native Buildpacks do (first match
// wins): func.yaml → a function (function-builder.ts), package.json → Node/TypeScript, Python
// markers → Python, any Procfile → run as declared.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { functionPlan } from './function-builder.ts'
import { nodePlan } from './node-builder.ts'
import { isPython, pythonPlan } from './python-builder.ts'
import { BuildError, procfileWeb, type BuildPlan } from './plan.ts'

/** Reads `dir` (the snapshot copy) and plans its build; throws BuildError when nothing matches. */
export function detect(dir: string): BuildPlan {
  const fn = functionPlan(dir)
  if (fn !== undefined) return fn
  const procfile = join(dir, 'Procfile')
  let web: string | undefined
  if (existsSync(procfile)) {
    web = procfileWeb(readFileSync(procfile, 'utf8'))
    if (web === undefined) throw new BuildError('the Procfile has no web: line; add one, e.g. "web: ./server --port $PORT"')
  }
  if (existsSync(join(dir, 'package.json'))) return nodePlan(dir, web)
  if (isPython(dir)) return pythonPlan(dir, web)
  if (web !== undefined) return { builder: 'procfile', steps: [], start: ['/bin/sh', '-c', web], env: {} }
  throw new BuildError('no builder matches this folder: add package.json (Node/TypeScript), requirements.txt, pyproject.toml, ' +
    'main.py or app.py (Python), or a Procfile with a web: line (anything else)')
}

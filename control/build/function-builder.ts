// The function builder, after Knative Functions' buildpacks: a folder with a func.yaml is a function
// project, built like any Node/TypeScript or Python source (its dependencies installed into the
// snapshot) and started with Sluice's function runtime for its language, on the snapshot. So a
// Service that `sluice func deploy` writes names only its source (a path relative to the YAML file):
// no command and no absolute path, and the runtime is the one of the Sluice that builds it.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { LANGUAGES, runtimeCommand, type Language } from '../functions/runtimes.ts'
import { nodePlan } from './node-builder.ts'
import { BuildError, type BuildPlan } from './plan.ts'
import { pythonPlan } from './python-builder.ts'

/** The plan for a function project, or undefined when `dir` has no func.yaml. */
export function functionPlan(dir: string): BuildPlan | undefined {
  const file = join(dir, 'func.yaml')
  if (!existsSync(file)) return undefined
  let runtime: unknown
  try {
    runtime = (parse(readFileSync(file, 'utf8')) as { runtime?: unknown } | null)?.runtime
  } catch (err) {
    throw new BuildError(`func.yaml is not valid YAML (${(err as Error).message}); fix it`)
  }
  if (!LANGUAGES.includes(runtime as Language)) {
    throw new BuildError(`func.yaml: runtime: ${JSON.stringify(runtime)} is not one Sluice runs; use one of ${LANGUAGES.join(', ')}`)
  }
  const language = runtime as Language
  if (language === 'python') {
    const base = pythonPlan(dir, undefined)
    const python = base.env.VIRTUAL_ENV !== undefined ? join(base.env.VIRTUAL_ENV, 'bin', 'python3') : 'python3'
    return { builder: 'function', steps: base.steps, start: runtimeCommand(language, dir, python), env: base.env }
  }
  // a handler with no package.json needs no install
  if (!existsSync(join(dir, 'package.json'))) return { builder: 'function', steps: [], start: runtimeCommand(language, dir), env: {} }
  const { startProblem: _unused, ...base } = nodePlan(dir, undefined)
  return { ...base, builder: 'function', start: runtimeCommand(language, dir), env: {} }
}

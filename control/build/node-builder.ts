// The Node and TypeScript builder, after the Node.js buildpack: `npm ci --omit=dev` with a
// lockfile (else `npm install --omit=dev`), `npm run build` when the package has a build script,
// started with its start script, its `main`, or server/index.{js,mjs,ts}. Node 24 runs .ts itself.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { BuildError, type BuildPlan, type BuildStep } from './plan.ts'

const NPM_FLAGS = ['--no-audit', '--no-fund', '--no-update-notifier']
const ENTRY_FILES = ['server.js', 'server.mjs', 'server.ts', 'index.js', 'index.mjs', 'index.ts']
/** `node file` as a whole start script: run the file directly (no npm in between: faster, signals reach the app) */
const PLAIN_NODE_START = /^node\s+([\w./@-]+\.(?:js|mjs|cjs|ts|mts))$/

interface PackageJson { main?: unknown; scripts?: Record<string, unknown> }

export function nodePlan(dir: string, procfileCommand: string | undefined): BuildPlan {
  const file = join(dir, 'package.json')
  let pkg: PackageJson
  try {
    pkg = JSON.parse(readFileSync(file, 'utf8')) as PackageJson
  } catch (err) {
    throw new BuildError(`package.json is not valid JSON (${(err as Error).message}); fix it so npm can read it`)
  }
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) throw new BuildError('package.json must be a JSON object')
  const scripts = typeof pkg.scripts === 'object' && pkg.scripts !== null ? pkg.scripts : {}
  const lockfile = ['package-lock.json', 'npm-shrinkwrap.json'].find((f) => existsSync(join(dir, f)))
  const hasBuild = typeof scripts.build === 'string'
  const npm = (args: string[]): BuildStep => ({ file: 'npm', args: [...args, ...NPM_FLAGS] })
  const steps: BuildStep[] = []
  if (hasBuild) {
    // the build needs the dev dependencies (typescript, bundlers); they are pruned afterwards
    steps.push(npm(lockfile !== undefined ? ['ci'] : ['install']), npm(['run', 'build']), npm(['prune', '--omit=dev']))
  } else {
    steps.push(npm(lockfile !== undefined ? ['ci', '--omit=dev'] : ['install', '--omit=dev']))
  }
  let start: string[] = []
  let startProblem: string | undefined
  try {
    start = startCommand(dir, pkg, scripts, procfileCommand)
  } catch (err) {
    // only a problem when the revision names no command of its own (build-queue.ts decides)
    if (!(err instanceof BuildError)) throw err
    startProblem = err.message
  }
  const typescript = existsSync(join(dir, 'tsconfig.json')) || start.some((a) => /\.m?ts$/.test(a))
  // `npm start` and a Procfile line find `node` on PATH: make it this Node (24, which runs .ts)
  const viaPath = start.length === 0 || start[0] !== process.execPath
  const env: Record<string, string> = viaPath ? { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` } : {}
  const plan: BuildPlan = { builder: typescript ? 'typescript' : 'node', steps, start, env, ...(startProblem !== undefined ? { startProblem } : {}) }
  if (lockfile === undefined || hasBuild) return plan
  // keyed by the lockfile and the Node major: node_modules built by one major may not load in another
  const key = createHash('sha256').update(readFileSync(join(dir, lockfile))).update(`\0node${process.versions.node.split('.')[0]}\0omit=dev`).digest('hex').slice(0, 32)
  return { ...plan, cache: { key: `npm-${key}`, dir: 'node_modules', steps: 1 } }
}

function startCommand(dir: string, pkg: PackageJson, scripts: Record<string, unknown>, procfileCommand: string | undefined): string[] {
  if (procfileCommand !== undefined) return ['/bin/sh', '-c', procfileCommand]
  if (typeof scripts.start === 'string') {
    const plain = PLAIN_NODE_START.exec(scripts.start.trim())
    if (plain !== null && existsSync(join(dir, plain[1]!))) return [process.execPath, join(dir, plain[1]!)]
    return ['npm', 'start', '--silent']
  }
  if (typeof pkg.main === 'string' && pkg.main !== '') {
    if (!existsSync(join(dir, pkg.main))) throw new BuildError(`package.json "main" names ${pkg.main}, which does not exist; fix "main" or add the file`)
    return [process.execPath, join(dir, pkg.main)]
  }
  const entry = ENTRY_FILES.find((f) => existsSync(join(dir, f)))
  if (entry !== undefined) return [process.execPath, join(dir, entry)]
  throw new BuildError('package.json says nothing about how to start the app: add scripts.start, set "main", add server.js or index.js, or a Procfile with a web: line')
}

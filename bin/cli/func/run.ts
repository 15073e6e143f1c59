// `sluice func run DIR`: serves the function locally with Sluice's runtime and restarts the runtime
// when a file in DIR changes (reload on save).
import { spawn, type ChildProcess } from 'node:child_process'
import { watch, type FSWatcher } from 'node:fs'
import path from 'node:path'
import { freePort } from '../../../control/runtime/free-port.ts'
import { readFuncYaml, runtimeCommand } from './project.ts'

/** Changes under these are not the function's source (dependencies, caches, editors' swap files). */
const IGNORED = /(^|\/)(node_modules|\.git|__pycache__|\.venv|venv)(\/|$)|(\.swp|~|\.tmp-\d+)$/
const DEBOUNCE_MS = 100

export interface RunOptions { dir: string; port: number; host: string; out: NodeJS.WritableStream }

export interface RunningFunction { url: string; stop(): Promise<void> }

export async function runFunction(opts: RunOptions): Promise<RunningFunction> {
  const dir = path.resolve(opts.dir)
  const func = readFuncYaml(dir)
  const port = opts.port === 0 ? await freePort(opts.host) : opts.port
  const url = `http://${opts.host}:${port}/`
  const [file, ...args] = runtimeCommand(func.runtime, dir)
  let child: ChildProcess | undefined
  let stopping = false

  const startChild = (): void => {
    const c = spawn(file!, args, {
      cwd: dir,
      env: { ...process.env, PORT: String(port), FUNC_HOST: opts.host, K_SERVICE: func.name },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    c.on('error', (err) => opts.out.write(`func run: cannot start ${file}: ${err.message}\n`))
    c.on('exit', (code, signal) => {
      if (child === c && !stopping && !restarting) opts.out.write(`func run: ${func.name} exited (${signal ?? `code ${code}`}); it restarts on the next save\n`)
    })
    child = c
  }

  /** SIGTERM the runtime (graceful: it finishes in-flight requests) and wait for its exit. */
  const stopChild = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }

  let timer: NodeJS.Timeout | undefined
  let restarting = false
  let again = false
  const changed = new Set<string>()
  const restart = async (): Promise<void> => {
    if (restarting) { again = true; return }
    restarting = true
    const files = [...changed].sort().join(', ')
    changed.clear()
    opts.out.write(`func run: ${files} changed, reloading ${func.name}\n`)
    await stopChild()
    if (!stopping) startChild()
    restarting = false
    if (again) { again = false; void restart() }
  }
  const watcher: FSWatcher = watch(dir, { recursive: true }, (_event, name) => {
    if (name === null || IGNORED.test(name) || stopping) return
    changed.add(name)
    clearTimeout(timer)
    timer = setTimeout(() => void restart(), DEBOUNCE_MS)
  })

  startChild()
  opts.out.write(`func run: ${func.name} (${func.runtime}) at ${url} — reloads when a file in ${opts.dir} changes; Ctrl-C stops\n`)
  return {
    url,
    async stop() {
      stopping = true
      clearTimeout(timer)
      watcher.close()
      await stopChild()
    },
  }
}

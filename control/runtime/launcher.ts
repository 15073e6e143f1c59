// Starts instance processes. fork + exec blocks Node's event loop for 5–10 ms on small VMs, and a
// cold start pays it while its first request waits. So the launcher keeps one shell prelaunched:
// starting an instance writes one line to that shell, which `exec`s the app in place (same pid,
// same stdout/stderr pipes), and a new spare is prelaunched once the start is under way.
// Anything the shell could not reproduce exactly falls back to a plain spawn().
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import path from 'node:path'
import { track } from './children.ts'

export interface LaunchSpec {
  file: string
  args: readonly string[]
  cwd: string
  /** the whole environment of the new process */
  env: Record<string, string>
}

export interface Launched {
  child: ChildProcess
  /** true when a prelaunched shell exec'd the app */
  prelaunched: boolean
}

/** Names a POSIX shell can export; others would be dropped silently by `sh`. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** Names some shells keep read-only or to themselves (bash: UID, PPID…): setting them falls back to spawn(). */
const SHELL_SPECIAL = new Set(['UID', 'EUID', 'PPID', 'SHELLOPTS', 'BASHOPTS', 'BASH_VERSINFO', 'BASH_ARGV0', 'LINENO', 'OPTIND', 'IFS'])
/** Variables the shell itself sets or changes (cd); they are reset to exactly what the spec says. */
const SHELL_OWNED = ['PWD', 'OLDPWD'] as const
/** Reads one line and evaluates it; $N holds a newline so values can carry newlines on one line. */
const PRELAUNCH_SCRIPT = 'N="\n"; IFS= read -r line || exit 0; eval "$line"'
/** After a start, wait this long before prelaunching the next spare: that spawn blocks the loop. */
const RESPARE_DELAY_MS = 50

export class Launcher {
  readonly #enabled: boolean
  #base: Record<string, string> | undefined
  #spare: ChildProcess | undefined
  #respareTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor(opts: { prelaunch?: boolean } = {}) {
    this.#enabled = opts.prelaunch ?? process.platform !== 'win32'
  }

  /** the prelaunched shell's pid, if one is waiting (tests, debugging) */
  get sparePid(): number | undefined {
    return this.#spare?.pid
  }

  /** Prelaunch a spare now (the first revision that runs locally was configured). */
  warm(): void {
    if (!this.#enabled || this.#closed || this.#spare !== undefined) return
    const base = baseEnv()
    if (base === undefined) return // the gateway's env has names sh would drop: always spawn directly
    let child: ChildProcess
    try {
      child = spawn('/bin/sh', ['-c', PRELAUNCH_SCRIPT], { env: base, stdio: ['pipe', 'pipe', 'pipe'], detached: false, windowsHide: true })
    } catch {
      return
    }
    if (child.pid === undefined) {
      child.on('error', () => {})
      return
    }
    track(child)
    setRef(child, false) // an idle spare never keeps the gateway's process alive
    child.on('error', () => {})
    // A spare that died just before its line was written: EPIPE here, and the instance sees the exit.
    child.stdin!.on('error', () => {})
    child.once('exit', () => { if (this.#spare === child) this.#spare = undefined })
    this.#base = base
    this.#spare = child
  }

  /** Starts the process; throws like spawn() on invalid arguments. */
  launch(spec: LaunchSpec): Launched {
    const spare = this.#take(spec)
    if (spare !== undefined) {
      setRef(spare, true)
      spare.stdin!.end(shellLine(spec, this.#base!))
      this.#scheduleRespare()
      return { child: spare, prelaunched: true }
    }
    const child = spawn(spec.file, [...spec.args], { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: false, windowsHide: true })
    this.#scheduleRespare()
    return { child, prelaunched: false }
  }

  /** Ends the spare shell (it exits on end of input). */
  close(): void {
    this.#closed = true
    clearTimeout(this.#respareTimer)
    const spare = this.#spare
    this.#spare = undefined
    spare?.stdin?.end()
  }

  #take(spec: LaunchSpec): ChildProcess | undefined {
    const spare = this.#spare
    if (spare === undefined || spare.exitCode !== null || spare.signalCode !== null || spare.stdin?.writable !== true) return undefined
    if (!shellCanReproduce(spec, this.#base!)) return undefined
    this.#spare = undefined
    return spare
  }

  #scheduleRespare(): void {
    if (!this.#enabled || this.#closed || this.#respareTimer !== undefined) return
    this.#respareTimer = setTimeout(() => {
      this.#respareTimer = undefined
      this.warm()
    }, RESPARE_DELAY_MS)
    this.#respareTimer.unref()
  }
}

function setRef(child: ChildProcess, on: boolean): void {
  for (const s of [child, child.stdin, child.stdout, child.stderr] as ({ ref?(): void; unref?(): void } | null)[]) {
    if (on) s?.ref?.()
    else s?.unref?.()
  }
}

/** process.env as strings, or undefined when a name could not pass through sh unchanged. */
function baseEnv(): Record<string, string> | undefined {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (!SHELL_NAME.test(k)) return undefined
    env[k] = v
  }
  return env
}

/**
 * The shell must end up exec'ing exactly what spawn() would: every name exportable, the working
 * directory present and the command found and executable. Otherwise spawn() runs it and reports
 * its own error (ENOENT and friends) the usual way.
 */
function shellCanReproduce(spec: LaunchSpec, base: Record<string, string>): boolean {
  for (const k of Object.keys(spec.env)) {
    if (!SHELL_NAME.test(k)) return false
    if (SHELL_SPECIAL.has(k) && base[k] !== spec.env[k]) return false
  }
  if (spec.file === '' || [spec.file, ...spec.args, ...Object.values(spec.env), spec.cwd].some((s) => s.includes('\0'))) return false
  if (!isDirectory(spec.cwd)) return false
  return resolveCommand(spec.file, spec.cwd, spec.env.PATH ?? '') !== undefined
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** Like execvp: a name with a slash is a path (relative to cwd), otherwise searched on PATH. */
export function resolveCommand(file: string, cwd: string, pathVar: string): string | undefined {
  const candidates = file.includes('/') ? [path.resolve(cwd, file)] : pathVar.split(':').map((dir) => path.resolve(cwd, dir === '' ? '.' : dir, file))
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      if (statSync(c).isFile()) return c
    } catch { /* next */ }
  }
  return undefined
}

/** Single-quoted for sh; a newline becomes "$N" (see PRELAUNCH_SCRIPT) so the line stays one line. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`).replaceAll('\n', `'"$N"'`)}'`
}

/** cd, set the environment to exactly spec.env (relative to the shell's base), exec. */
export function shellLine(spec: LaunchSpec, base: Record<string, string>): string {
  const unset: string[] = [...SHELL_OWNED]
  for (const k of Object.keys(base)) if (!(k in spec.env) && !(SHELL_OWNED as readonly string[]).includes(k)) unset.push(k)
  const exports: string[] = []
  for (const [k, v] of Object.entries(spec.env)) {
    if (base[k] !== v || (SHELL_OWNED as readonly string[]).includes(k)) exports.push(shellQuote(`${k}=${v}`))
  }
  const parts = [`cd ${shellQuote(spec.cwd)}`, `unset ${unset.join(' ')}`]
  if (exports.length > 0) parts.push(`export ${exports.join(' ')}`)
  parts.push(`exec ${[spec.file, ...spec.args].map(shellQuote).join(' ')} </dev/null`)
  return `${parts.join(' && ')}\n`
}

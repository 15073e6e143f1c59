// ContainerSource locally: one supervised process per source running its first container's
// command/args (like a revision's, see runtime/contract.ts) with the env Knative's generated
// SinkBinding would inject (K_SINK, K_CE_OVERRIDES). It is restarted with a growing backoff when it
// exits (a Deployment's pod restarts the same way), restarted when its spec changes, and stopped
// (SIGTERM, then SIGKILL after a grace period) when the source is deleted or Sluice shuts down.
// Its output goes to the log and to the app-log rings `sluice logs` reads, like revision output.
import { spawn, type ChildProcess } from 'node:child_process'
import type { Logger } from '../../gateway/log.ts'
import type { Container } from '../resources/types.ts'
import type { AppLogs } from '../runtime/app-logs.ts'
import { Backoff } from '../runtime/backoff.ts'
import { track } from '../runtime/children.ts'
import { commandLine, workingDir } from '../runtime/contract.ts'
import { readRecords } from '../runtime/output.ts'

/** a process that ran this long before exiting restarts with the shortest backoff again */
const BACKOFF_RESET_AFTER_MS = 10_000

export interface ContainerSourceRun {
  /** `namespace/name` */
  readonly key: string
  readonly container: Container
  /** the container's env made literal, then K_SINK and K_CE_OVERRIDES */
  readonly env: Readonly<Record<string, string>>
}

export interface ContainerSourceState {
  readonly running: boolean
  readonly pid: number | undefined
  readonly restarts: number
  /** why the last process ended or could not start */
  readonly lastExit: string | undefined
}

export interface ContainerSourcesOptions {
  log: Logger
  appLogs?: AppLogs
  /** a process started, exited or failed to start */
  onChange?: (key: string) => void
  graceMs?: number
  backoff?: () => Backoff
}

interface Entry {
  run: ContainerSourceRun
  fingerprint: string
  child: ChildProcess | undefined
  startedAt: number
  restarts: number
  seq: number
  backoff: Backoff
  timer: NodeJS.Timeout | undefined
  lastExit: string | undefined
  /** resolves when the current process is gone */
  exited: Promise<void>
  removed: boolean
}

export class ContainerSources {
  readonly #opts: ContainerSourcesOptions
  readonly #entries = new Map<string, Entry>()
  #stopping: Promise<void> | undefined

  constructor(opts: ContainerSourcesOptions) {
    this.#opts = opts
  }

  /** The whole set to run: new ones start, changed ones restart, missing ones stop. */
  set(runs: readonly ContainerSourceRun[]): void {
    if (this.#stopping !== undefined) return
    const keep = new Set<string>()
    for (const run of runs) {
      keep.add(run.key)
      const fingerprint = JSON.stringify([run.container.command, run.container.args, run.container.workingDir, run.env])
      const old = this.#entries.get(run.key)
      if (old !== undefined && old.fingerprint === fingerprint) { old.run = run; continue }
      if (old !== undefined) {
        this.#opts.log.info('container source changed, restarting', { source: run.key })
        void this.#retire(old)
      }
      const entry: Entry = {
        run, fingerprint, child: undefined, startedAt: 0, restarts: 0, seq: old?.seq ?? 0, backoff: this.#opts.backoff?.() ?? new Backoff(),
        timer: undefined, lastExit: undefined, exited: Promise.resolve(), removed: false,
      }
      this.#entries.set(run.key, entry)
      // a replaced process must be gone before its successor starts (it may hold a port or a lock)
      void (old?.exited ?? Promise.resolve()).then(() => this.#start(entry))
    }
    for (const e of [...this.#entries.values()]) {
      if (keep.has(e.run.key)) continue
      this.#entries.delete(e.run.key)
      this.#opts.log.info('container source removed, stopping', { source: e.run.key })
      void this.#retire(e)
    }
  }

  state(key: string): ContainerSourceState | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    return { running: e.child !== undefined, pid: e.child?.pid, restarts: e.restarts, lastExit: e.lastExit }
  }

  /** Stops every process; resolves when all have exited. */
  stop(): Promise<void> {
    this.#stopping ??= Promise.all([...this.#entries.values()].map((e) => this.#retire(e))).then(() => { this.#entries.clear() })
    return this.#stopping
  }

  #start(entry: Entry): void {
    entry.timer = undefined
    if (entry.removed || this.#entries.get(entry.run.key) !== entry || this.#stopping !== undefined) return
    const { log, appLogs } = this.#opts
    const key = entry.run.key
    const instance = `${key.slice(key.indexOf('/') + 1)}-${++entry.seq}`
    let child: ChildProcess
    try {
      const { file, args } = commandLine(entry.run.container)
      child = spawn(file, args, { cwd: workingDir(entry.run.container), env: { ...entry.run.env }, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true })
    } catch (err) {
      this.#exited(entry, `could not start: ${(err as Error).message}`)
      return
    }
    track(child)
    entry.child = child
    entry.startedAt = performance.now()
    let resolveExited!: () => void
    entry.exited = new Promise((r) => { resolveExited = r })
    const out = (stream: 'stdout' | 'stderr') => (line: string): void => {
      log.info(`[${instance}] ${line}`, { source: key, stream })
      appLogs?.append({ time: Date.now(), revision: key, instance, stream, line })
    }
    readRecords(child.stdout!, out('stdout'))
    readRecords(child.stderr!, out('stderr'))
    let spawnError: string | undefined
    child.on('error', (err) => { spawnError = err.message })
    child.once('close', (code, signal) => {
      entry.child = undefined
      resolveExited()
      const why = spawnError !== undefined ? `could not start: ${spawnError}` : signal !== null ? `killed by ${signal}` : `exited with code ${code}`
      this.#exited(entry, why)
    })
    if (child.pid !== undefined) {
      log.info('container source started', { source: key, pid: child.pid })
      this.#changed(key)
    }
  }

  #exited(entry: Entry, why: string): void {
    entry.lastExit = why
    if (entry.removed || this.#stopping !== undefined || this.#entries.get(entry.run.key) !== entry) { this.#changed(entry.run.key); return }
    if (entry.startedAt > 0 && performance.now() - entry.startedAt >= BACKOFF_RESET_AFTER_MS) entry.backoff.reset()
    const delay = entry.backoff.next()
    entry.restarts++
    this.#opts.log.warn(`container source ${why}; restarting`, { source: entry.run.key, restartInMs: delay, restarts: entry.restarts })
    entry.timer = setTimeout(() => this.#start(entry), delay)
    entry.timer.unref()
    this.#changed(entry.run.key)
  }

  async #retire(entry: Entry): Promise<void> {
    entry.removed = true
    clearTimeout(entry.timer)
    const child = entry.child
    if (child === undefined) return
    child.kill('SIGTERM')
    const kill = setTimeout(() => child.kill('SIGKILL'), this.#opts.graceMs ?? 10_000)
    kill.unref()
    await entry.exited
    clearTimeout(kill)
  }

  #changed(key: string): void {
    try { this.#opts.onChange?.(key) } catch { /* the listener logs its own */ }
  }
}

// One local instance of a revision: a child process on its own port, its readiness probe loop,
// its output, and its way out (drain → SIGTERM → SIGKILL).
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Logger } from '../../gateway/log.ts'
import { track } from './children.ts'
import { commandLine, containerPort, instanceEnv, protocolOf, workingDir } from './contract.ts'
import type { LaunchSpec, Launched } from './launcher.ts'
import { readRecords } from './output.ts'
import { LastWords } from './failure.ts'
import type { AppLogs } from './app-logs.ts'
import { planProbe, type ProbePlan, type ProbeTarget } from './probe.ts'
import type { InstanceInfo, InstanceState, RuntimeRevision } from './types.ts'

/** How long to wait for stdout/stderr to close after the process exited (a grandchild may hold them). */
const OUTPUT_GRACE_MS = 1_000

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
  /** the process could not be started (ENOENT, EACCES, no free port…) */
  error?: NodeJS.ErrnoException
  /** the process was never spawned because it was stopped first */
  notStarted?: boolean
  /** the instance's last words: the first line of its last error report, else its last line (failure.ts LastWords) */
  lastOutput?: string
}

export interface InstanceHooks {
  ready(instance: Instance): void
  unready(instance: Instance): void
  exited(instance: Instance, exit: ExitInfo, previous: InstanceState): void
}

export interface InstanceConfig {
  id: string
  seq: number
  revision: RuntimeRevision
  restarts: number
  /** the wait between probes while starting (the runtime spaces them out when many instances start) */
  probeIntervalMs: () => number
  clock: () => number
  log: Logger
  pickPort: () => Promise<number>
  launch: (spec: LaunchSpec) => Launched
  hooks: InstanceHooks
  /** keeps the app's output for `sluice logs` */
  appLogs?: AppLogs
}

export class Instance {
  readonly info: InstanceInfo
  readonly seq: number
  readonly revision: RuntimeRevision
  /** resolves once the process is gone (or was never started) */
  readonly exited: Promise<ExitInfo>
  readonly #cfg: InstanceConfig
  readonly #plan: ProbePlan
  #resolveExited!: (exit: ExitInfo) => void
  #child: ChildProcess | undefined
  #target: ProbeTarget | undefined
  #probeTimer: NodeJS.Timeout | undefined
  #killTimer: NodeJS.Timeout | undefined
  #outputTimer: NodeJS.Timeout | undefined
  #failures = 0
  #terminateRequested = false
  #exit: ExitInfo | undefined
  #spawnError: NodeJS.ErrnoException | undefined
  readonly #lastWords = new LastWords()
  #finished = false
  #graceMs = 10_000

  constructor(cfg: InstanceConfig) {
    this.#cfg = cfg
    this.seq = cfg.seq
    this.revision = cfg.revision
    this.#plan = planProbe(cfg.revision.container.readinessProbe, containerPort(cfg.revision.container))
    this.info = {
      id: cfg.id,
      revision: cfg.revision.key,
      state: 'starting',
      port: 0,
      pid: undefined,
      origin: '',
      protocol: protocolOf(cfg.revision.container),
      startedAt: cfg.clock(),
      restarts: cfg.restarts,
    }
    this.exited = new Promise((resolve) => { this.#resolveExited = resolve })
  }

  get state(): InstanceState { return this.info.state }
  get everReady(): boolean { return this.info.readyAt !== undefined }
  get probeDescription(): string { return this.#plan.description }
  get lastOutput(): string | undefined { return this.#lastWords.quote() }

  /** Allocates a port and spawns the process; never throws (failures arrive through hooks.exited). */
  async start(): Promise<void> {
    const { revision, log } = this.#cfg
    let port: number
    try {
      port = await this.#cfg.pickPort()
    } catch (err) {
      this.#finish({ code: null, signal: null, error: err as NodeJS.ErrnoException })
      return
    }
    if (this.#terminateRequested) {
      this.#finish({ code: null, signal: null, notStarted: true })
      return
    }
    const cwd = workingDir(revision.container)
    const env = instanceEnv(revision, port)
    let file: string
    let args: string[]
    try {
      ({ file, args } = commandLine(revision.container))
    } catch (err) {
      this.#finish({ code: null, signal: null, error: err as NodeJS.ErrnoException })
      return
    }
    this.info.port = port
    this.info.origin = `http://127.0.0.1:${port}`
    this.info.startedAt = this.#cfg.clock()
    this.#target = { port, env, cwd }
    let child: ChildProcess
    try {
      // The app stays in the gateway's process group (a terminal's Ctrl-C reaches it too).
      child = this.#cfg.launch({ file, args, cwd, env }).child
    } catch (err) { // invalid arguments (e.g. a NUL byte) throw instead of emitting 'error'
      this.#finish({ code: null, signal: null, error: err as NodeJS.ErrnoException })
      return
    }
    this.#child = child
    this.info.pid = child.pid
    track(child)
    const fields = { revision: revision.key, instance: this.info.id }
    const appLogs = this.#cfg.appLogs
    const out = (stream: 'stdout' | 'stderr') => (record: string): void => {
      this.#lastWords.push(stream, record)
      log.info(`[${this.info.id}] ${record}`, { ...fields, stream })
      appLogs?.append({ time: Date.now(), revision: revision.key, instance: this.info.id, stream, line: record })
    }
    readRecords(child.stdout!, out('stdout'))
    readRecords(child.stderr!, out('stderr'))
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) this.#spawnError = explainSpawnError(err, file, cwd)
      else log.warn('instance signal failed', { ...fields, error: err.message })
    })
    child.once('exit', (code, signal) => {
      this.#exit = { code, signal }
      this.#stopProbing()
      // Output normally closes right after; don't wait forever if a grandchild inherited the pipes.
      this.#outputTimer = setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        this.#finish(this.#exit!)
      }, OUTPUT_GRACE_MS)
      this.#outputTimer.unref()
    })
    child.once('close', (code, signal) => {
      if (this.#spawnError !== undefined) this.#finish({ code: null, signal: null, error: this.#spawnError })
      else this.#finish(this.#exit ?? { code, signal })
    })
    if (child.pid === undefined) return // spawn failed; 'error' then 'close' follow
    log.info('instance started', { ...fields, pid: child.pid, port, probe: this.#plan.description })
    if (this.#terminateRequested) this.#signalStop()
    else this.#schedule(this.#plan.initialDelayMs)
  }

  /** Out of rotation: no more probes, the caller drains its requests next. */
  beginDrain(): void {
    if (this.info.state === 'exited') return
    this.info.state = 'draining'
    this.#stopProbing()
  }

  /** SIGTERM now, SIGKILL after graceMs; resolves when the process is gone. */
  terminate(graceMs: number): Promise<ExitInfo> {
    if (this.info.state !== 'exited') {
      this.info.state = 'stopping'
      this.#stopProbing()
      this.#terminateRequested = true
      this.#graceMs = graceMs
      if (this.#child?.pid !== undefined && this.#exit === undefined) this.#signalStop()
    }
    return this.exited
  }

  #signalStop(): void {
    const child = this.#child!
    if (this.#killTimer !== undefined) return
    child.kill('SIGTERM')
    this.#killTimer = setTimeout(() => {
      if (this.#exit === undefined) {
        this.#cfg.log.warn('instance ignored SIGTERM, killing', { revision: this.revision.key, instance: this.info.id, graceMs: this.#graceMs })
        child.kill('SIGKILL')
      }
    }, this.#graceMs)
    this.#killTimer.unref()
  }

  #schedule(delayMs: number): void {
    this.#probeTimer = setTimeout(() => void this.#probe(), delayMs)
    this.#probeTimer.unref()
  }

  #stopProbing(): void {
    clearTimeout(this.#probeTimer)
    this.#probeTimer = undefined
  }

  async #probe(): Promise<void> {
    this.#probeTimer = undefined
    const before = this.info.state
    if ((before !== 'starting' && before !== 'ready') || this.#target === undefined || this.#exit !== undefined) return
    const t0 = performance.now()
    const ok = await this.#plan.check(this.#target, before === 'starting' ? this.#plan.startingTimeoutMs : this.#plan.readyTimeoutMs)
    // The instance may have been drained, stopped or have exited while the probe ran.
    if (this.info.state !== before || this.#exit !== undefined) return
    const elapsed = performance.now() - t0
    if (before === 'starting') {
      if (ok) {
        this.#failures = 0
        this.info.state = 'ready'
        this.info.readyAt = this.#cfg.clock()
        this.#schedule(Math.max(0, this.#plan.periodMs - elapsed))
        this.#cfg.hooks.ready(this)
      } else {
        this.#schedule(Math.max(0, this.#cfg.probeIntervalMs() - elapsed))
      }
      return
    }
    if (ok) {
      this.#failures = 0
      this.#schedule(Math.max(0, this.#plan.periodMs - elapsed))
      return
    }
    this.#failures++
    if (this.#failures < this.#plan.failureThreshold) {
      this.#schedule(Math.max(0, this.#plan.periodMs - elapsed))
      return
    }
    // Out of rotation; probe aggressively again so it returns as soon as it recovers.
    this.#failures = 0
    this.info.state = 'starting'
    this.#schedule(this.#cfg.probeIntervalMs())
    this.#cfg.hooks.unready(this)
  }

  #finish(exit: ExitInfo): void {
    if (this.#finished) return
    this.#finished = true
    this.#stopProbing()
    clearTimeout(this.#killTimer)
    clearTimeout(this.#outputTimer)
    const previous = this.info.state
    this.info.state = 'exited'
    const full: ExitInfo = { ...exit }
    const lastOutput = this.#lastWords.quote()
    if (lastOutput !== undefined) full.lastOutput = lastOutput
    this.#resolveExited(full)
    this.#cfg.hooks.exited(this, full, previous)
  }
}

/** A spawn ENOENT can mean a missing working directory too; say which. */
function explainSpawnError(err: NodeJS.ErrnoException, file: string, cwd: string): NodeJS.ErrnoException {
  if (err.code === 'ENOENT' && !existsSync(cwd)) {
    const e: NodeJS.ErrnoException = new Error(`workingDir ${cwd} does not exist`)
    e.code = 'ENOENT'
    return e
  }
  if (err.code === 'ENOENT') {
    const e: NodeJS.ErrnoException = new Error(`command ${JSON.stringify(file)} not found (not a file, and not on PATH)`)
    e.code = 'ENOENT'
    return e
  }
  return err
}

// The local runtime: makes the autoscaler's desired count real as child processes on this machine,
// following Knative's runtime contract, and tells the gateway which instances are ready.
import { AppLogs } from './app-logs.ts'
import type { Logger } from '../../gateway/log.ts'
import { Backoff } from './backoff.ts'
import { containerPort } from './contract.ts'
import { crashLoopFailure, describeExit, progressDeadlineFailure, startFailure } from './failure.ts'
import { ReservedPort, freePortExcept } from './free-port.ts'
import { Launcher } from './launcher.ts'
import { Instance, type ExitInfo, type InstanceHooks } from './instance.ts'
import { planProbe } from './probe.ts'
import type {
  InstanceInfo, InstanceState, LocalRuntimeOptions, RevisionRuntimeStatus, RuntimeFailure, RuntimeRevision,
} from './types.ts'

export type {
  InstanceInfo, InstanceState, LocalRuntimeOptions, RevisionRuntimeStatus, RuntimeFailure, RuntimeRevision,
} from './types.ts'

/** Exits without readiness, in a row, before a revision is reported as crash-looping. */
const CRASHES_BEFORE_FAILURE = 3
/** An instance that was ready this long before it crashed restarts with the shortest backoff. */
const BACKOFF_RESET_AFTER_READY_MS = 10_000
/** Extra time we give the gateway's drain beyond timeoutSeconds before stopping anyway. */
const DRAIN_SLACK_MS = 1_000
/** Starting instances' probes, all together, aim at no more than one per this many ms. */
const PROBE_SPACING_MS = 0.5
/** …but never further apart than the queue-proxy's aggressive probe allows (serving.md). */
const MAX_STARTING_PROBE_MS = 50
/** After a start took the reserved port, reserve the next one this much later (off the cold path). */
const REFILL_DELAY_MS = 50
/** Knative's revision-timeout-seconds default, for a revision that carries 0. */
const DEFAULT_TIMEOUT_SECONDS = 300

interface RevisionEntry {
  spec: RuntimeRevision
  /** no longer in setRevisions: stopping everything, then forgotten */
  removed: boolean
  desired: number
  /** every instance not yet exited, by id */
  instances: Map<string, Instance>
  seq: number
  backoff: Backoff
  /** performance.now() before which no replacement starts (crash backoff) */
  notBefore: number
  startTimer: NodeJS.Timeout | undefined
  deadlineTimer: NodeJS.Timeout | undefined
  /** restart counts the next started instances inherit from the crashed ones they replace */
  restartCounts: number[]
  crashesWithoutReady: number
  failure: RuntimeFailure | undefined
  everReady: boolean
  firstReadyMs: number | undefined
  lastOutput: string | undefined
}

export class LocalRuntime {
  /** the apps' output, for `sluice logs` */
  readonly appLogs = new AppLogs()
  readonly #onChange: (revisionKey: string) => void
  readonly #drain: (instance: InstanceInfo, timeoutMs: number) => Promise<void>
  readonly #log: Logger
  readonly #clock: () => number
  readonly #probeIntervalMs: number
  readonly #graceMs: number
  readonly #deadlineMs: number
  readonly #revisions = new Map<string, RevisionEntry>()
  readonly #launcher: Launcher
  readonly #reservedPort = new ReservedPort()
  #stopping: Promise<void> | undefined

  constructor(opts: LocalRuntimeOptions) {
    this.#onChange = opts.onChange
    this.#drain = opts.drain
    this.#log = opts.log
    this.#clock = opts.clock ?? Date.now
    // 2 ms: the wait between the app's listen and the next probe is cold-start overhead (half the
    // interval on average), and a refused loopback connect costs the gateway tens of microseconds.
    this.#probeIntervalMs = Math.max(1, opts.probeIntervalMs ?? 2)
    this.#graceMs = Math.max(0, opts.terminationGraceMs ?? 10_000)
    this.#deadlineMs = Math.max(1, opts.progressDeadlineMs ?? 600_000)
    this.#launcher = new Launcher({ prelaunch: opts.prelaunch })
  }

  /** The set of runnable revisions; removed ones are scaled to 0 and forgotten once stopped. */
  setRevisions(revisions: RuntimeRevision[]): void {
    if (this.#stopping !== undefined) return
    const keep = new Set<string>()
    for (const spec of revisions) {
      if ((spec.container.command?.length ?? 0) === 0) {
        this.#log.debug('revision has no command, not run locally', { revision: spec.key })
        continue
      }
      keep.add(spec.key)
      this.#launcher.warm()
      this.#reservedPort.fill()
      const entry = this.#revisions.get(spec.key)
      if (entry === undefined) this.#revisions.set(spec.key, newEntry(spec))
      else {
        // Running instances keep the spec they were started with; new ones use this one.
        entry.spec = spec
        entry.removed = false
      }
    }
    for (const entry of [...this.#revisions.values()]) {
      if (keep.has(entry.spec.key) || entry.removed) continue
      entry.removed = true
      entry.desired = 0
      this.#converge(entry)
    }
  }

  /** Converge to `desired` running instances (starting + ready count toward it). */
  scale(revisionKey: string, desired: number): void {
    if (this.#stopping !== undefined) return
    const entry = this.#revisions.get(revisionKey)
    if (entry === undefined || entry.removed) {
      this.#log.debug('scale of an unknown revision ignored', { revision: revisionKey, desired })
      return
    }
    entry.desired = Number.isFinite(desired) ? Math.max(0, Math.floor(desired)) : 0
    this.#converge(entry)
  }

  /**
   * Replace a ready instance with a new one (outlier detection ejected it repeatedly): the new one
   * starts now, the old one drains and stops. False when there is no such ready instance.
   */
  replace(revisionKey: string, id: string): boolean {
    const entry = this.#revisions.get(revisionKey)
    const inst = entry?.instances.get(id)
    if (entry === undefined || inst === undefined || inst.state !== 'ready' || this.#stopping !== undefined) return false
    this.#log.warn('restarting an instance outlier detection ejected repeatedly', { revision: revisionKey, instance: id })
    void this.#retire(entry, inst)
    this.#converge(entry)
    return true
  }

  /** Ready instances only, in stable order (by id). */
  ready(revisionKey: string): InstanceInfo[] {
    const entry = this.#revisions.get(revisionKey)
    if (entry === undefined) return []
    return sorted(entry.instances).filter((i) => i.state === 'ready').map(snapshot)
  }

  /** Every instance not yet exited, for /debug/instances. */
  instances(revisionKey?: string): InstanceInfo[] {
    if (revisionKey !== undefined) {
      const entry = this.#revisions.get(revisionKey)
      return entry === undefined ? [] : sorted(entry.instances).map(snapshot)
    }
    const keys = [...this.#revisions.keys()].sort()
    return keys.flatMap((k) => sorted(this.#revisions.get(k)!.instances).map(snapshot))
  }

  status(revisionKey: string): RevisionRuntimeStatus {
    const entry = this.#revisions.get(revisionKey)
    if (entry === undefined) return { desired: 0, ready: 0, starting: 0, everReady: false }
    let ready = 0
    let starting = 0
    for (const i of entry.instances.values()) {
      if (i.state === 'ready') ready++
      else if (i.state === 'starting') starting++
    }
    const status: RevisionRuntimeStatus = { desired: entry.desired, ready, starting, everReady: entry.everReady }
    if (entry.failure !== undefined) status.failure = { ...entry.failure }
    if (entry.firstReadyMs !== undefined) status.firstReadyMs = entry.firstReadyMs
    return status
  }

  /** JSON for /debug/instances (the caller adds in-flight counts). */
  describe(): object {
    const now = this.#clock()
    const revisions: Record<string, unknown> = {}
    for (const key of [...this.#revisions.keys()].sort()) {
      const entry = this.#revisions.get(key)!
      revisions[key] = {
        ...this.status(key),
        removed: entry.removed,
        instances: sorted(entry.instances).map((i) => ({
          id: i.info.id,
          state: i.info.state,
          port: i.info.port,
          pid: i.info.pid,
          origin: i.info.origin,
          protocol: i.info.protocol,
          uptimeMs: Math.max(0, now - i.info.startedAt),
          readyForMs: i.info.state === 'ready' && i.info.readyAt !== undefined ? Math.max(0, now - i.info.readyAt) : undefined,
          restarts: i.info.restarts,
        })),
      }
    }
    return { revisions }
  }

  /** Drain and stop everything; resolves when every process has exited. */
  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping
    this.#launcher.close()
    this.#reservedPort.close()
    const waits: Promise<unknown>[] = []
    for (const entry of this.#revisions.values()) {
      clearTimeout(entry.startTimer)
      clearTimeout(entry.deadlineTimer)
      entry.startTimer = entry.deadlineTimer = undefined
      entry.desired = 0
      for (const inst of entry.instances.values()) {
        waits.push(isLive(inst.state) ? this.#retire(entry, inst) : inst.exited)
      }
    }
    this.#stopping = Promise.all(waits).then(() => undefined)
    return this.#stopping
  }

  // ---------- convergence ----------

  #converge(entry: RevisionEntry): void {
    if (this.#revisions.get(entry.spec.key) !== entry) return
    if (this.#stopping === undefined) {
      const live = [...entry.instances.values()].filter((i) => isLive(i.state))
      const missing = entry.desired - live.length
      if (missing > 0) {
        const waitMs = entry.notBefore - performance.now()
        if (waitMs > 0) {
          entry.startTimer ??= setTimeout(() => {
            entry.startTimer = undefined
            this.#converge(entry)
          }, waitMs).unref()
        } else {
          for (let n = 0; n < missing; n++) this.#start(entry)
        }
      } else {
        clearTimeout(entry.startTimer)
        entry.startTimer = undefined
        entry.restartCounts.length = 0
        for (const victim of pickVictims(live, -missing)) void this.#retire(entry, victim)
      }
      this.#trackDeadline(entry)
    }
    if (entry.removed && entry.instances.size === 0) {
      clearTimeout(entry.startTimer)
      clearTimeout(entry.deadlineTimer)
      this.#revisions.delete(entry.spec.key)
      this.#log.info('revision forgotten by the runtime', { revision: entry.spec.key })
    }
  }

  #start(entry: RevisionEntry): void {
    const seq = ++entry.seq
    const inst = new Instance({
      id: `${entry.spec.name}-${seq}`,
      seq,
      revision: entry.spec,
      restarts: entry.restartCounts.shift() ?? 0,
      probeIntervalMs: () => this.#startingProbeInterval(),
      clock: this.#clock,
      log: this.#log,
      pickPort: () => this.#pickPort(),
      launch: (spec) => this.#launcher.launch(spec),
      hooks: this.#hooks(entry),
      appLogs: this.appLogs,
    })
    entry.instances.set(inst.info.id, inst)
    void inst.start()
  }

  /**
   * The probe interval while starting, stretched when many instances start at once, so that all
   * their probes together stay near one per PROBE_SPACING_MS (a scale-up by 20 must not spend a
   * core on refused connects).
   */
  #startingProbeInterval(): number {
    let starting = 0
    for (const entry of this.#revisions.values()) {
      for (const inst of entry.instances.values()) if (inst.state === 'starting') starting++
    }
    return Math.max(this.#probeIntervalMs, Math.min(MAX_STARTING_PROBE_MS, starting * PROBE_SPACING_MS))
  }

  /** The reserved port when one is ready (then another is reserved a little later), else a fresh one. */
  async #pickPort(): Promise<number> {
    const reserved = this.#reservedPort.take()
    if (reserved !== 0) {
      setTimeout(() => { if (this.#stopping === undefined) this.#reservedPort.fill() }, REFILL_DELAY_MS).unref()
      if (!this.#portTaken(reserved)) return reserved
    }
    return freePortExcept((port) => this.#portTaken(port))
  }

  #portTaken(port: number): boolean {
    for (const entry of this.#revisions.values()) {
      for (const inst of entry.instances.values()) if (inst.info.port === port) return true
    }
    return false
  }

  /** Starting instances first, then the newest ready ones: the oldest, warmest instances stay. */
  async #retire(entry: RevisionEntry, inst: Instance): Promise<void> {
    const fields = { revision: entry.spec.key, instance: inst.info.id }
    if (inst.everReady) {
      // It may have requests in flight (even if it turned unready): let the gateway finish them first.
      const wasReady = inst.state === 'ready'
      inst.beginDrain()
      if (wasReady) this.#changed(entry.spec.key)
      const timeoutMs = (entry.spec.timeoutSeconds > 0 ? entry.spec.timeoutSeconds : DEFAULT_TIMEOUT_SECONDS) * 1000
      this.#log.info('instance draining', { ...fields, timeoutMs })
      try {
        await bounded(this.#drain(snapshot(inst), timeoutMs), timeoutMs + DRAIN_SLACK_MS)
      } catch (err) {
        this.#log.warn('instance drain failed, stopping it anyway', { ...fields, error: err })
      }
    }
    await inst.terminate(this.#graceMs)
  }

  #trackDeadline(entry: RevisionEntry): void {
    const waiting = this.#stopping === undefined && !entry.everReady && entry.desired > 0
    if (waiting && entry.deadlineTimer === undefined) {
      entry.deadlineTimer = setTimeout(() => {
        entry.deadlineTimer = undefined
        if (this.#revisions.get(entry.spec.key) !== entry || entry.everReady || entry.desired === 0) return
        if (entry.failure !== undefined) return // a crash reason says more than a timeout
        const probe = planProbe(entry.spec.container.readinessProbe, containerPort(entry.spec.container)).description
        let lastOutput = entry.lastOutput
        for (const i of entry.instances.values()) lastOutput = i.lastOutput ?? lastOutput
        this.#setFailure(entry, progressDeadlineFailure(entry.spec.name, this.#deadlineMs, probe, lastOutput))
      }, this.#deadlineMs).unref()
    } else if (!waiting && entry.deadlineTimer !== undefined) {
      clearTimeout(entry.deadlineTimer)
      entry.deadlineTimer = undefined
    }
  }

  // ---------- instance events ----------

  #hooks(entry: RevisionEntry): InstanceHooks {
    return {
      ready: (inst) => {
        const info = inst.info
        const ms = (info.readyAt ?? info.startedAt) - info.startedAt
        entry.crashesWithoutReady = 0
        if (!entry.everReady) {
          entry.everReady = true
          entry.firstReadyMs = ms
          this.#trackDeadline(entry)
        }
        this.#log.info('instance ready', { revision: entry.spec.key, instance: info.id, port: info.port, ms })
        this.#setFailure(entry, undefined, false)
        this.#changed(entry.spec.key)
      },
      unready: (inst) => {
        this.#log.warn('instance failed its readiness probe, out of rotation', { revision: entry.spec.key, instance: inst.info.id, probe: inst.probeDescription })
        this.#changed(entry.spec.key)
      },
      exited: (inst, exit, previous) => this.#exited(entry, inst, exit, previous),
    }
  }

  #exited(entry: RevisionEntry, inst: Instance, exit: ExitInfo, previous: InstanceState): void {
    entry.instances.delete(inst.info.id)
    const fields = { revision: entry.spec.key, instance: inst.info.id, code: exit.code ?? undefined, signal: exit.signal ?? undefined }
    const lastOutput = exit.lastOutput
    if (lastOutput !== undefined) entry.lastOutput = lastOutput
    if (!isLive(previous) || this.#stopping !== undefined) {
      if (exit.notStarted !== true) this.#log.info('instance stopped', fields)
      this.#converge(entry)
      return
    }
    // A crash: replace it after a backoff that grows while instances keep dying young.
    if (inst.info.readyAt !== undefined && this.#clock() - inst.info.readyAt >= BACKOFF_RESET_AFTER_READY_MS) entry.backoff.reset()
    const delay = entry.backoff.next()
    entry.notBefore = performance.now() + delay
    entry.restartCounts.push(inst.info.restarts + 1)
    this.#log.warn(`instance ${describeExit(exit)}`, { ...fields, restartInMs: delay, lastOutput })
    if (!inst.everReady) entry.crashesWithoutReady++
    let failure: RuntimeFailure | undefined
    if (exit.error !== undefined) failure = startFailure(inst.info.id, exit)
    else if (!inst.everReady && entry.crashesWithoutReady >= CRASHES_BEFORE_FAILURE && !hasReady(entry)) {
      failure = crashLoopFailure(inst.info.id, exit, entry.crashesWithoutReady)
    }
    const failureChanged = failure !== undefined && this.#setFailure(entry, failure, false)
    if (previous === 'ready' || failureChanged) this.#changed(entry.spec.key)
    this.#converge(entry)
  }

  /** Records (or clears) a failure; true (and onChange when `notify`) if its reason changed. */
  #setFailure(entry: RevisionEntry, failure: RuntimeFailure | undefined, notify = true): boolean {
    const before = entry.failure
    entry.failure = failure
    if (before?.reason === failure?.reason) return false // same reason, newer message: not news
    if (failure !== undefined) this.#log.error('revision failing', { revision: entry.spec.key, reason: failure.reason, message: failure.message })
    else this.#log.info('revision recovered', { revision: entry.spec.key, was: before?.reason })
    if (notify) this.#changed(entry.spec.key)
    return true
  }

  #changed(revisionKey: string): void {
    try {
      this.#onChange(revisionKey)
    } catch (err) {
      this.#log.error('runtime onChange listener threw', { revision: revisionKey, error: err })
    }
  }
}

function newEntry(spec: RuntimeRevision): RevisionEntry {
  return {
    spec, removed: false, desired: 0, instances: new Map(), seq: 0, backoff: new Backoff(), notBefore: 0,
    startTimer: undefined, deadlineTimer: undefined, restartCounts: [], crashesWithoutReady: 0,
    failure: undefined, everReady: false, firstReadyMs: undefined, lastOutput: undefined,
  }
}

function isLive(state: InstanceState): boolean {
  return state === 'starting' || state === 'ready'
}

function hasReady(entry: RevisionEntry): boolean {
  for (const i of entry.instances.values()) if (i.state === 'ready') return true
  return false
}

function sorted(instances: Map<string, Instance>): Instance[] {
  return [...instances.values()].sort((a, b) => a.seq - b.seq)
}

function snapshot(inst: Instance): InstanceInfo {
  return { ...inst.info }
}

function pickVictims(live: Instance[], count: number): Instance[] {
  if (count <= 0) return []
  const rank = (i: Instance): number => (i.state === 'starting' ? 0 : 1)
  return [...live].sort((a, b) => rank(a) - rank(b) || b.seq - a.seq).slice(0, count)
}

function bounded<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// The KPA for many revisions (Knative's MultiScaler plus the KPA reconciler's scaling step): one
// Kpa decider and one PodAutoscaler status per revision. The control loop ticks it every 2 s
// (TICK_INTERVAL_MS) and pokes it when a request reaches a revision at zero; each step returns
// the instance count to run and the Active condition to show. No clock of its own: every call
// takes the time in ms.
import type { RevisionScalingConfig } from './config.ts'
import { initialExcessBurstCapacity, Kpa } from './kpa.ts'
import type { Decision } from './kpa.ts'
import { applyScale, initialStatus } from './scaler.ts'
import type { PodAutoscalerStatus, ScaleResult } from './scaler.ts'

export type { Decision } from './kpa.ts'
export type { ScaleResult } from './scaler.ts'
export type { WindowSnapshot } from './window.ts'

/** A step's outcome with the decision it was made from (absent before the first decision). */
export interface RevisionScale extends ScaleResult {
  readonly decision?: Decision
}

export interface ConfigureOptions {
  /** creation time; without it the first step's time is used (an update uses the latest time seen) */
  readonly nowMs?: number
  /** instances ready at creation; more than 1 starts the KPA in panic mode */
  readonly ready?: number
}

export interface PokeOptions {
  /** ready instances now (defaults to the count seen at the last step) */
  readonly ready?: number
  /** the concurrency of the stat that caused the poke (defaults to the last recorded sample) */
  readonly concurrency?: number
}

interface Entry {
  config: RevisionScalingConfig
  kpa: Kpa
  status: PodAutoscalerStatus
  /** the decider's DesiredScale: -1 until the first decision */
  desired: number
  excessBurstCapacity: number
  lastConcurrency: number
  lastReady: number
  last: RevisionScale | undefined
}

export interface RevisionDescription {
  readonly metric: RevisionScalingConfig['metric']
  readonly aggregation: RevisionScalingConfig['aggregation']
  readonly containerConcurrency: number
  readonly target: number
  readonly targetUtilization: number
  readonly targetValue: number
  readonly minScale: number
  readonly maxScale: number
  readonly initialScale: number
  readonly activationScale: number
  readonly stableWindowMs: number
  readonly panicWindowMs: number
  readonly panicThreshold: number
  readonly scaleDownDelayMs: number
  readonly targetBurstCapacity: number
  readonly reachable: boolean
  readonly desired: number
  readonly excessBurstCapacity: number
  readonly panic: boolean
  readonly panicSinceMs: number | null
  readonly maxPanicPods: number
  readonly stableAverage: number
  readonly panicAverage: number
  readonly scale: number
  readonly state: PodAutoscalerStatus['state']
  readonly reason: PodAutoscalerStatus['reason']
  readonly mode: PodAutoscalerStatus['mode']
  readonly initialized: boolean
  readonly lastDecision: Decision | null
  readonly windows: ReturnType<Kpa['windows']>
}

export class Autoscaler {
  readonly #revisions = new Map<string, Entry>()
  /** the latest time seen in any call, the default for calls that do not pass one */
  #nowMs = 0

  #see(nowMs: number): void {
    if (nowMs > this.#nowMs) this.#nowMs = nowMs
  }

  /** Start autoscaling a revision, or apply a new config to one (Knative's Create / Update). */
  configure(revisionKey: string, config: RevisionScalingConfig, options: ConfigureOptions = {}): void {
    if (options.nowMs !== undefined) this.#see(options.nowMs)
    const entry = this.#revisions.get(revisionKey)
    if (entry !== undefined) {
      entry.kpa.update(config, options.nowMs ?? this.#nowMs)
      entry.config = config
      return
    }
    const kpaOptions = { ...(options.nowMs === undefined ? {} : { nowMs: options.nowMs }), readyInstances: options.ready ?? 0 }
    this.#revisions.set(revisionKey, {
      config,
      kpa: new Kpa(config, kpaOptions),
      status: initialStatus(config, options.nowMs),
      desired: -1,
      excessBurstCapacity: initialExcessBurstCapacity(config),
      lastConcurrency: 0,
      lastReady: options.ready ?? 0,
      last: undefined,
    })
  }

  remove(revisionKey: string): boolean {
    return this.#revisions.delete(revisionKey)
  }

  has(revisionKey: string): boolean {
    return this.#revisions.has(revisionKey)
  }

  keys(): string[] {
    return [...this.#revisions.keys()]
  }

  /**
   * One meter sample for a revision: total concurrency (time-weighted 1 s average, buffered requests
   * included) and requests per second. Samples landing in the same second add up, as Knative's
   * activator stats do, so a "first request" stat must be subtracted from the next one.
   */
  record(revisionKey: string, nowMs: number, concurrency: number, rps: number): void {
    this.#see(nowMs)
    const entry = this.#revisions.get(revisionKey)
    if (entry === undefined) return
    entry.kpa.record(nowMs, concurrency, rps)
    entry.lastConcurrency = concurrency
  }

  /**
   * Knative's Poke: when the last desired scale was 0 and the stat shows concurrency, decide now
   * instead of waiting for the next tick. Returns the step's result, or undefined when no step ran.
   */
  poke(revisionKey: string, nowMs: number, options: PokeOptions = {}): RevisionScale | undefined {
    this.#see(nowMs)
    const entry = this.#revisions.get(revisionKey)
    if (entry === undefined) return undefined
    const concurrency = options.concurrency ?? entry.lastConcurrency
    if (entry.desired !== 0 || concurrency === 0) return undefined
    return this.#step(entry, nowMs, options.ready ?? entry.lastReady)
  }

  /** Decide and apply for every revision. */
  tick(nowMs: number, ready: (revisionKey: string) => number): Map<string, RevisionScale> {
    this.#see(nowMs)
    const out = new Map<string, RevisionScale>()
    for (const [key, entry] of this.#revisions) out.set(key, this.#step(entry, nowMs, ready(key)))
    return out
  }

  /** The scaling config a revision runs with (for logs and views). */
  config(revisionKey: string): RevisionScalingConfig | undefined {
    return this.#revisions.get(revisionKey)?.config
  }

  /** The latest result for a revision; before its first step, what it starts with (initial-scale). */
  result(revisionKey: string): RevisionScale | undefined {
    const entry = this.#revisions.get(revisionKey)
    if (entry === undefined) return undefined
    if (entry.last !== undefined) return entry.last
    const s = entry.status
    return {
      scale: s.scale, want: -1, desired: entry.desired, state: s.state, reason: s.reason, message: s.message,
      mode: s.mode, excessBurstCapacity: entry.excessBurstCapacity, initialized: s.initialized,
    }
  }

  #step(entry: Entry, nowMs: number, ready: number): RevisionScale {
    entry.lastReady = ready
    const decision = entry.kpa.tick(nowMs, ready)
    // Knative's updateLatestScale: the decider status follows every valid decision.
    entry.desired = decision.desired
    entry.excessBurstCapacity = decision.excessBurstCapacity
    const { status, result } = applyScale(entry.status, entry.config, {
      nowMs, desired: entry.desired, excessBurstCapacity: entry.excessBurstCapacity, ready,
    })
    entry.status = status
    entry.last = { ...result, decision }
    return entry.last
  }

  /** Per revision: config, windows, decision, panic state and EBC, for /debug/autoscaler. JSON-safe. */
  describe(nowMs: number = this.#nowMs): Record<string, RevisionDescription> {
    const out: Record<string, RevisionDescription> = {}
    for (const [key, e] of this.#revisions) {
      const c = e.config
      const avg = e.kpa.averages(nowMs)
      out[key] = {
        metric: c.metric, aggregation: c.aggregation, containerConcurrency: c.containerConcurrency,
        target: c.target, targetUtilization: c.targetUtilization, targetValue: c.targetValue,
        minScale: c.minScale, maxScale: c.maxScale, initialScale: c.initialScale, activationScale: c.activationScale,
        stableWindowMs: c.stableWindowMs, panicWindowMs: c.panicWindowMs, panicThreshold: c.panicThreshold,
        scaleDownDelayMs: c.scaleDownDelayMs, targetBurstCapacity: c.targetBurstCapacity, reachable: c.reachable,
        desired: e.desired, excessBurstCapacity: e.excessBurstCapacity,
        panic: e.kpa.panicking, panicSinceMs: e.kpa.panicTimeMs ?? null, maxPanicPods: e.kpa.maxPanicPods,
        stableAverage: avg.stable, panicAverage: avg.panic,
        scale: e.status.scale, state: e.status.state, reason: e.status.reason, mode: e.status.mode,
        initialized: e.status.initialized, lastDecision: e.kpa.lastDecision ?? null,
        windows: e.kpa.windows(nowMs),
      }
    }
    return out
  }
}

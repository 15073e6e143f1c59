// The Knative Pod Autoscaler's decider for one revision (pkg/autoscaler/scaling/autoscaler.go,
// reference/serving.md §2.1 and §4.1-4.6), with an injected clock: every time is a number in ms.
// `record` feeds one sample of total revision concurrency and rps; `tick` reads the stable and
// panic windows and decides. `scale` is the decision alone, fed with observed averages, so
// Knative's autoscaler_test.go scenarios can be replayed against it directly.
import type { RevisionScalingConfig } from './config.ts'
import { MaxTimeWindow } from './max-window.ts'
import { TimedBuckets, WeightedBuckets } from './window.ts'
import type { Averager, WindowSnapshot } from './window.ts'

export interface Decision {
  /** desired instance count (Knative's DesiredPodCount) */
  readonly desired: number
  /** Knative's ExcessBurstCapacity: spare capacity beyond target-burst-capacity; < 0 keeps the activator in the path */
  readonly excessBurstCapacity: number
  readonly panic: boolean
  readonly stableAverage: number
  readonly panicAverage: number
  /** ceil(stable / target), clamped to the rate limits and raised to activation-scale */
  readonly stableDesired: number
  readonly panicDesired: number
}

export interface KpaOptions {
  /** creation time; defaults to the first tick */
  readonly nowMs?: number
  /** ready instances at creation: more than 1 starts the KPA in panic mode */
  readonly readyInstances?: number
}

interface MetricWindows { stable: Averager; panic: Averager }

/** Go's int32(x) for the counts the KPA computes: truncation, and never -0. */
function int32(x: number): number {
  return Math.trunc(x) || 0
}

/**
 * EBC before the first decision (multiscaler.go createScaler): TBC itself for -1 and 0, otherwise
 * initialScale × TotalValue − TBC, truncated like Go's int32 conversion.
 */
export function initialExcessBurstCapacity(config: RevisionScalingConfig): number {
  const tbc = config.targetBurstCapacity
  if (tbc === -1 || tbc === 0) return tbc
  return int32(config.initialScale * config.target - tbc)
}

export class Kpa {
  #config: RevisionScalingConfig
  #concurrency: MetricWindows
  #rps: MetricWindows
  /** when panic mode began or was last renewed; undefined when not panicking */
  #panicTime: number | undefined
  /** started in panic before the clock was known: the first tick supplies the time */
  #panicPending = false
  #maxPanicPods: number
  #delay: MaxTimeWindow | undefined
  #last: Decision | undefined

  constructor(config: RevisionScalingConfig, options: KpaOptions = {}) {
    this.#config = config
    this.#concurrency = windows(config)
    this.#rps = windows(config)
    this.#delay = config.scaleDownDelayMs > 0 ? new MaxTimeWindow(config.scaleDownDelayMs) : undefined
    // A fresh autoscaler knows no history. With more than one instance ready it starts in panic
    // mode, so it keeps at least the current scale until the windows hold real data.
    const ready = Math.max(0, int32(options.readyInstances ?? 0))
    this.#maxPanicPods = ready
    if (ready > 1) {
      if (options.nowMs === undefined) this.#panicPending = true
      else this.#panicTime = options.nowMs
    }
  }

  get config(): RevisionScalingConfig {
    return this.#config
  }

  get panicking(): boolean {
    return this.#panicTime !== undefined || this.#panicPending
  }

  get panicTimeMs(): number | undefined {
    return this.#panicTime
  }

  get maxPanicPods(): number {
    return this.#maxPanicPods
  }

  get lastDecision(): Decision | undefined {
    return this.#last
  }

  /** Apply a new config (Knative's Update plus the collector's ResizeWindow). */
  update(config: RevisionScalingConfig, nowMs: number): void {
    const old = this.#config
    this.#config = config
    if (config.aggregation !== old.aggregation) {
      // Knative fixes the algorithm at creation (it is an annotation of an immutable revision);
      // if it changes anyway, start the windows afresh.
      this.#concurrency = windows(config)
      this.#rps = windows(config)
    } else {
      for (const w of [this.#concurrency, this.#rps]) {
        w.stable.resize(config.stableWindowMs, nowMs)
        w.panic.resize(config.panicWindowMs, nowMs)
      }
    }
    if (config.scaleDownDelayMs !== old.scaleDownDelayMs) {
      this.#delay = config.scaleDownDelayMs > 0 ? new MaxTimeWindow(config.scaleDownDelayMs) : undefined
    }
  }

  /** One sample: total revision concurrency and requests per second. Samples in one second add up. */
  record(nowMs: number, concurrency: number, rps: number): void {
    this.#concurrency.stable.record(nowMs, concurrency)
    this.#concurrency.panic.record(nowMs, concurrency)
    this.#rps.stable.record(nowMs, rps)
    this.#rps.panic.record(nowMs, rps)
  }

  /** The stable and panic averages of the scaling metric at `nowMs`. */
  averages(nowMs: number): { stable: number; panic: number } {
    const w = this.#config.metric === 'rps' ? this.#rps : this.#concurrency
    return { stable: w.stable.windowAverage(nowMs), panic: w.panic.windowAverage(nowMs) }
  }

  /**
   * Decide from the windows. Sluice's meter sees every request (like Knative with TBC -1, where no
   * pod is scraped), so an empty window is a real zero and every tick yields a decision.
   */
  tick(nowMs: number, readyInstances: number): Decision {
    const { stable, panic } = this.averages(nowMs)
    return this.scale(nowMs, readyInstances, stable, panic)
  }

  /** Knative's Scale for observed stable and panic averages. */
  scale(nowMs: number, readyInstances: number, observedStable: number, observedPanic: number): Decision {
    const c = this.#config
    if (this.#panicPending) {
      this.#panicTime = nowMs
      this.#panicPending = false
    }
    const originalReady = Math.max(0, int32(readyInstances))
    // With nothing ready, rates are computed against one instance.
    const ready = Math.max(1, originalReady)

    // Rate limits: ceil so a cautious up-rate still adds at least one instance; floor so each
    // tick at most divides by max-scale-down-rate (at least −1). No floor for unreachable revisions.
    const maxScaleUp = Math.ceil(c.maxScaleUpRate * ready)
    const maxScaleDown = c.reachable ? Math.floor(ready / c.maxScaleDownRate) : 0

    const dspc = Math.ceil(observedStable / c.targetValue)
    const dppc = Math.ceil(observedPanic / c.targetValue)
    let stableDesired = int32(Math.min(Math.max(dspc, maxScaleDown), maxScaleUp))
    let panicDesired = int32(Math.min(Math.max(dppc, maxScaleDown), maxScaleUp))

    // activation-scale: any non-zero need is raised to it.
    if (c.activationScale > 1) {
      if (dspc > 0 && c.activationScale > stableDesired) stableDesired = c.activationScale
      if (dppc > 0 && c.activationScale > panicDesired) panicDesired = c.activationScale
    }

    // Panic starts (and is renewed) whenever the panic window needs threshold× the ready count,
    // and ends only once a whole stable window has passed since the last breach.
    const overThreshold = dppc / ready >= c.panicThreshold
    if (overThreshold) this.#panicTime = nowMs
    else if (this.#panicTime !== undefined && this.#panicTime + c.stableWindowMs < nowMs) {
      this.#panicTime = undefined
      this.#maxPanicPods = 0
    }

    let desired = stableDesired
    if (this.#panicTime !== undefined) {
      // Provision for whichever window asks more, and never scale down while panicking.
      if (desired < panicDesired) desired = panicDesired
      if (desired > this.#maxPanicPods) this.#maxPanicPods = desired
      desired = this.#maxPanicPods
    }

    // scale-down-delay: act on the largest count of the trailing delay window.
    if (c.scaleDownDelayMs > 0 && this.#delay !== undefined) {
      this.#delay.record(nowMs, desired)
      desired = this.#delay.current()
    }

    // EBC is based on the panic value so the activator does not flap in and out of the path.
    let ebc = -1
    if (c.targetBurstCapacity === 0) ebc = 0
    else if (c.targetBurstCapacity > 0) {
      ebc = Math.floor(originalReady * c.target - c.targetBurstCapacity - observedPanic)
    }

    const decision: Decision = {
      desired,
      excessBurstCapacity: int32(ebc),
      panic: this.#panicTime !== undefined,
      stableAverage: observedStable,
      panicAverage: observedPanic,
      stableDesired,
      panicDesired,
    }
    this.#last = decision
    return decision
  }

  /** The windows of both metrics, for /debug/autoscaler. */
  windows(nowMs: number): { concurrency: { stable: WindowSnapshot; panic: WindowSnapshot }; rps: { stable: WindowSnapshot; panic: WindowSnapshot } } {
    return {
      concurrency: { stable: this.#concurrency.stable.snapshot(nowMs), panic: this.#concurrency.panic.snapshot(nowMs) },
      rps: { stable: this.#rps.stable.snapshot(nowMs), panic: this.#rps.panic.snapshot(nowMs) },
    }
  }
}

function windows(config: RevisionScalingConfig): MetricWindows {
  const make = (ms: number): Averager => config.aggregation === 'weighted-exponential' ? new WeightedBuckets(ms) : new TimedBuckets(ms)
  return { stable: make(config.stableWindowMs), panic: make(config.panicWindowMs) }
}

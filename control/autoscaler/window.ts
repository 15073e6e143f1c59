// Knative's bucketed time windows (pkg/autoscaler/aggregation/bucketing.go), with times in ms.
// A ring of 1 s buckets holds the total revision concurrency (or rps) recorded in each second;
// values recorded in the same second add up, as activator and pod stats do in Knative.
// The average divides by the buckets since the first write, capped at the window, so a young
// series is averaged over a partial window; a window with no data at all averages to 0.
import { BUCKET_MS } from './config.ts'

/** What the KPA reads from a window. */
export interface Averager {
  readonly windowMs: number
  record(nowMs: number, value: number): void
  windowAverage(nowMs: number): number
  /** true when nothing was recorded in the last window (Knative's IsEmpty) */
  isEmpty(nowMs: number): boolean
  /** change the window length, keeping the newest buckets (Knative's ResizeWindow) */
  resize(windowMs: number, nowMs: number): void
  snapshot(nowMs: number): WindowSnapshot
}

export interface WindowSnapshot {
  readonly windowMs: number
  readonly average: number
  /** ms of the first write of the current series, or null */
  readonly firstWriteMs: number | null
  readonly lastWriteMs: number | null
  /** bucket values in time order, oldest first, ending at the newest bucket still inside the window */
  readonly buckets: number[]
}

/** Knative rounds the linear average down to 6 decimals to hide float noise (roundToNDigits). */
export function roundToNDigits(n: number, f: number): number {
  const p = 10 ** n
  return Math.floor(f * p) / p
}

export class TimedBuckets implements Averager {
  protected buckets: number[]
  protected readonly granularityMs: number
  #windowMs: number
  /** start of the first bucket of the current series; -Infinity plays Go's zero time */
  protected firstWrite = -Infinity
  protected lastWrite = -Infinity
  /** sum of every bucket in the ring, including ones outside [firstWrite, lastWrite] */
  protected windowTotal = 0

  constructor(windowMs: number, granularityMs = BUCKET_MS) {
    this.granularityMs = granularityMs
    this.#windowMs = windowMs
    this.buckets = new Array<number>(Math.ceil(windowMs / granularityMs)).fill(0)
  }

  get windowMs(): number {
    return this.#windowMs
  }

  protected truncate(ms: number): number {
    return Math.floor(ms / this.granularityMs) * this.granularityMs
  }

  /** Knative's timeToIndex: whole Unix seconds divided by the granularity in seconds */
  protected timeToIndex(ms: number): number {
    return Math.trunc(Math.floor(ms / 1000) / (this.granularityMs / 1000))
  }

  record(nowMs: number, value: number): void {
    const bucketTime = this.truncate(nowMs)
    const writeIdx = this.timeToIndex(nowMs)
    const n = this.buckets.length
    if (this.lastWrite !== bucketTime) {
      // Values older than a window are dropped.
      if (!(bucketTime + this.#windowMs > this.lastWrite)) return
      if (this.firstWrite === -Infinity || this.firstWrite > bucketTime) this.firstWrite = bucketTime
      if (bucketTime > this.lastWrite) {
        if (bucketTime - this.lastWrite >= this.#windowMs) {
          // A whole window without writes: start a new series.
          this.firstWrite = bucketTime
          this.buckets.fill(0)
          this.windowTotal = 0
        } else {
          // Zero the buckets skipped since the last write.
          for (let i = this.timeToIndex(this.lastWrite) + 1; i <= writeIdx; i++) {
            const idx = i % n
            this.windowTotal -= this.buckets[idx]!
            this.buckets[idx] = 0
          }
        }
        this.lastWrite = bucketTime
      }
      // Otherwise lastWrite - window < bucketTime < lastWrite: add to that older bucket.
    }
    this.buckets[writeIdx % n] = this.buckets[writeIdx % n]! + value
    this.windowTotal += value
  }

  isEmpty(nowMs: number): boolean {
    return this.truncate(nowMs) - this.lastWrite > this.#windowMs
  }

  windowAverage(nowMs: number): number {
    const now = this.truncate(nowMs)
    const n = this.buckets.length
    const d = now - this.lastWrite
    // +1 because both ends are inclusive.
    const written = Math.trunc((this.lastWrite - this.firstWrite) / this.granularityMs) + 1
    if (d <= 0) return roundToNDigits(6, this.windowTotal / Math.min(written, n))
    if (d < this.#windowMs) {
      // No data for a while (less than a window): drop the buckets that fell out.
      const stIdx = this.timeToIndex(this.lastWrite)
      const eIdx = this.timeToIndex(now)
      let total = this.windowTotal
      for (let i = stIdx + 1; i <= eIdx; i++) total -= this.buckets[i % n]!
      return roundToNDigits(6, total / Math.min(written, n - (eIdx - stIdx)))
    }
    return 0
  }

  resize(windowMs: number, nowMs: number): void {
    if (windowMs === this.#windowMs) return
    const size = Math.ceil(windowMs / this.granularityMs)
    const next = new Array<number>(size).fill(0)
    let total = 0
    if (this.truncate(nowMs) - this.lastWrite <= this.#windowMs) {
      // Copy the newest min(old, new) buckets.
      const old = this.buckets.length
      let tIdx = this.timeToIndex(this.lastWrite)
      for (let i = 0; i < Math.min(size, old); i++) {
        const v = this.buckets[tIdx % old]!
        next[tIdx % size] = v
        total += v
        tIdx--
      }
      // The earliest time that may hold data.
      this.firstWrite = this.lastWrite - (old - 1) * this.granularityMs
    } else {
      this.firstWrite = -Infinity
    }
    this.#windowMs = windowMs
    this.buckets = next
    this.windowTotal = total
  }

  snapshot(nowMs: number): WindowSnapshot {
    const now = this.truncate(nowMs)
    const out: number[] = []
    if (!this.isEmpty(nowMs) && this.lastWrite !== -Infinity) {
      const n = this.buckets.length
      const count = Math.min(n - Math.trunc(Math.max(0, now - this.lastWrite) / this.granularityMs), n)
      let idx = this.timeToIndex(this.lastWrite)
      for (let i = 0; i < count; i++, idx--) {
        if (this.lastWrite - i * this.granularityMs < this.firstWrite) break
        out.unshift(this.buckets[idx % n]!)
      }
    }
    return {
      windowMs: this.#windowMs,
      average: this.windowAverage(nowMs),
      firstWriteMs: Number.isFinite(this.firstWrite) ? this.firstWrite : null,
      lastWriteMs: Number.isFinite(this.lastWrite) ? this.lastWrite : null,
      buckets: out,
    }
  }
}

/** weightPrecision and minExponent from bucketing.go */
const WEIGHT_PRECISION = 0.9999
const MIN_EXPONENT = 0.2

/** The decay per bucket that puts WEIGHT_PRECISION of the weight inside the window (at least 0.2). */
export function smoothingCoefficient(buckets: number): number {
  return Math.max(1 - (1 - WEIGHT_PRECISION) ** (1 / buckets), MIN_EXPONENT)
}

/**
 * `metric-aggregation-algorithm: weighted-exponential`: newer buckets weigh more. With buckets
 * [10, 10, 5, 5] (newest last) and coefficient c the average is 5c + 5c(1-c) + 10c(1-c)² + 10c(1-c)³.
 */
export class WeightedBuckets extends TimedBuckets {
  #coefficient: number

  constructor(windowMs: number, granularityMs = BUCKET_MS) {
    super(windowMs, granularityMs)
    this.#coefficient = smoothingCoefficient(Math.ceil(windowMs / granularityMs))
  }

  get coefficient(): number {
    return this.#coefficient
  }

  override windowAverage(nowMs: number): number {
    const now = this.truncate(nowMs)
    if (this.isEmpty(nowMs)) return 0
    const total = this.buckets.length
    let count = total
    let multiplier = this.#coefficient
    if (now > this.lastWrite) {
      // The buckets after the last write are zeros: skip straight to their weight.
      const zeros = Math.trunc((now - this.lastWrite) / this.granularityMs)
      multiplier *= (1 - this.#coefficient) ** zeros
      count -= zeros
    }
    const start = this.timeToIndex(this.lastWrite) + total
    let ret = 0
    for (let i = 0; i < count; i++) {
      ret += this.buckets[(start - i) % total]! * multiplier
      multiplier *= 1 - this.#coefficient
    }
    return ret
  }

  override resize(windowMs: number, nowMs: number): void {
    super.resize(windowMs, nowMs)
    this.#coefficient = smoothingCoefficient(Math.ceil(windowMs / this.granularityMs))
  }
}

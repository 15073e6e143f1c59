// What the dashboard remembers: per revision, a bounded ring of one-second samples (instances and
// the cumulative request counters), from which it draws the instances chart and derives request
// rate, error rate and p50/p99 over recent windows; and the last cold starts with their durations,
// read off the cold-start histogram as its count and sum move. Memory is bounded by
// capacity × maxRevisions samples plus maxColdStarts events.
import { quantile, type RevisionCounters } from './metric-reader.ts'

export interface Sample {
  at: number
  /** whether the request counters were read at this sample (only while someone watches) */
  traffic: boolean
  /** ready instances, or null for a revision Sluice does not run (fixed upstreams) */
  ready: number | null
  counters: RevisionCounters | undefined
}

export interface ColdStart {
  at: number
  revision: string
  /** mean duration of the cold starts seen in one sample (usually exactly one) */
  seconds: number
  count: number
}

export interface Derived {
  /** requests per second over the rate window */
  rps: number | null
  /** share of 5xx among the requests of the latency window */
  errorRate: number | null
  p50: number | null
  p99: number | null
  queue: number
}

export interface HistoryOptions {
  /** samples kept per revision (one a second): 180 = the last three minutes */
  capacity?: number
  /** revisions with a history; others are shown without one */
  maxRevisions?: number
  maxColdStarts?: number
  /** seconds of samples behind the request rate */
  rateWindow?: number
  /** seconds of samples behind p50/p99 and the error rate */
  latencyWindow?: number
}

/** A fixed-size ring: push overwrites the oldest. */
class Ring<T> {
  readonly #items: (T | undefined)[]
  #next = 0
  #size = 0

  constructor(capacity: number) {
    this.#items = new Array<T | undefined>(capacity)
  }

  push(item: T): void {
    this.#items[this.#next] = item
    this.#next = (this.#next + 1) % this.#items.length
    if (this.#size < this.#items.length) this.#size++
  }

  get size(): number {
    return this.#size
  }

  /** the i-th newest item (0 = the last pushed) */
  back(i: number): T | undefined {
    if (i < 0 || i >= this.#size) return undefined
    return this.#items[(this.#next - 1 - i + this.#items.length * 2) % this.#items.length]
  }
}

export class RevisionHistory {
  readonly capacity: number
  readonly #maxRevisions: number
  readonly #maxColdStarts: number
  readonly #rateWindow: number
  readonly #latencyWindow: number
  readonly #series = new Map<string, Ring<Sample>>()
  /** the cold-start histogram's count and sum last seen, per revision; survives the revision's series */
  readonly #coldSeen = new Map<string, { count: number; sum: number }>()
  readonly #coldStarts: ColdStart[] = []
  bounds: readonly number[] = []

  constructor(opts: HistoryOptions = {}) {
    this.capacity = opts.capacity ?? 180
    this.#maxRevisions = opts.maxRevisions ?? 100
    this.#maxColdStarts = opts.maxColdStarts ?? 20
    this.#rateWindow = opts.rateWindow ?? 10
    this.#latencyWindow = opts.latencyWindow ?? 60
  }

  /**
   * One sample per revision shown now. Revisions no longer shown lose their series; new ones get a
   * series while fewer than maxRevisions have one.
   */
  record(at: number, revisions: ReadonlyMap<string, { ready: number | null; counters: RevisionCounters | undefined }>, bounds: readonly number[], traffic = true): void {
    this.bounds = bounds
    for (const key of this.#series.keys()) if (!revisions.has(key)) this.#series.delete(key)
    for (const [key, r] of revisions) {
      let ring = this.#series.get(key)
      if (ring === undefined) {
        if (this.#series.size >= this.#maxRevisions) continue
        ring = new Ring<Sample>(this.capacity)
        this.#series.set(key, ring)
      }
      ring.push({ at, traffic, ready: r.ready, counters: r.counters })
      this.#coldStart(at, key, r.counters)
    }
    if (this.#coldSeen.size > this.#maxRevisions * 4) {
      for (const key of this.#coldSeen.keys()) if (!revisions.has(key)) this.#coldSeen.delete(key)
    }
  }

  #coldStart(at: number, key: string, c: RevisionCounters | undefined): void {
    if (c === undefined) return
    const seen = this.#coldSeen.get(key) ?? { count: 0, sum: 0 }
    const n = c.coldStarts - seen.count
    if (n > 0) {
      this.#coldStarts.push({ at, revision: key, seconds: (c.coldStartSeconds - seen.sum) / n, count: n })
      if (this.#coldStarts.length > this.#maxColdStarts) this.#coldStarts.splice(0, this.#coldStarts.length - this.#maxColdStarts)
    }
    this.#coldSeen.set(key, { count: c.coldStarts, sum: c.coldStartSeconds })
  }

  /** newest first */
  coldStarts(): readonly ColdStart[] {
    return [...this.#coldStarts].reverse()
  }

  /** Ready instances, oldest first, one per sample (null where Sluice does not run the revision). */
  instances(key: string): (number | null)[] {
    const ring = this.#series.get(key)
    if (ring === undefined) return []
    const out: (number | null)[] = []
    for (let i = ring.size - 1; i >= 0; i--) out.push(ring.back(i)!.ready)
    return out
  }

  /** The oldest sample at most `window` samples back that has request counts; undefined when only the newest has. */
  #from(ring: Ring<Sample>, window: number): Sample | undefined {
    for (let i = Math.min(window, ring.size - 1); i > 0; i--) {
      const s = ring.back(i)!
      if (s.traffic) return s
    }
    return undefined
  }

  derived(key: string): Derived {
    const ring = this.#series.get(key)
    const now = ring?.back(0)
    const queue = now?.counters?.queue ?? 0
    if (ring === undefined || now === undefined || !now.traffic) return { rps: null, errorRate: null, p50: null, p99: null, queue }
    // counters missing from a sample: the families do not mention the revision yet, all zeros
    const c = now.counters
    const rateFrom = this.#from(ring, this.#rateWindow)
    const latFrom = this.#from(ring, this.#latencyWindow)
    const seconds = rateFrom === undefined ? 0 : (now.at - rateFrom.at) / 1000
    const rps = seconds > 0 ? ((c?.requests ?? 0) - (rateFrom!.counters?.requests ?? 0)) / seconds : null
    if (latFrom === undefined || c === undefined) return { rps, errorRate: null, p50: null, p99: null, queue }
    const before = latFrom.counters
    const requests = c.requests - (before?.requests ?? 0)
    const errors = c.errors - (before?.errors ?? 0)
    return {
      rps,
      errorRate: requests > 0 ? errors / requests : null,
      p50: quantile(0.5, this.bounds, c.buckets, before?.buckets),
      p99: quantile(0.99, this.bounds, c.buckets, before?.buckets),
      queue,
    }
  }
}

// The trailing maximum behind scale-down-delay (pkg/autoscaler/aggregation/max/timewindow.go):
// the KPA records each desired count and acts on the largest one of the last `delay`, so it only
// scales down once the lower count has held for the whole delay. A descending-maxima deque:
// every entry is larger than all entries after it, so the front is always the maximum.
import { TICK_INTERVAL_MS } from './config.ts'

interface Entry { readonly index: number; readonly value: number }

export class MaxTimeWindow {
  readonly #size: number
  readonly #granularitySec: number
  #entries: Entry[] = []

  constructor(durationMs: number, granularityMs = TICK_INTERVAL_MS) {
    this.#size = Math.ceil(durationMs / granularityMs)
    this.#granularitySec = granularityMs / 1000
  }

  record(nowMs: number, value: number): void {
    // Knative indexes by whole Unix seconds divided by the granularity in seconds.
    const index = Math.trunc(Math.floor(nowMs / 1000) / this.#granularitySec)
    const e = this.#entries
    let v = value
    // Smaller (or equal) older values can never be the maximum again.
    while (e.length > 0 && !(v < e[e.length - 1]!.value)) e.pop()
    // Entries older than the window fall off the front.
    while (e.length > 0 && index - e[0]!.index >= this.#size) e.shift()
    // Two records in one slot keep the larger.
    const last = e[e.length - 1]
    if (last !== undefined && last.index === index) {
      if (last.value > v) v = last.value
      e.pop()
    }
    e.push({ index, value: v })
  }

  /** the maximum recorded in the trailing window */
  current(): number {
    return this.#entries[0]?.value ?? 0
  }
}

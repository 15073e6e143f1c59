// Per-route request metrics without per-request prom-client calls. The hot path counts into
// typed arrays of a preallocated RouteSlot; prom-client reads them at scrape time through the
// collector objects below. Slots are keyed by their labels and survive route table swaps, so
// counters stay monotonic across reloads.

/** Status classes 1xx..5xx map to indexes 0..4. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/** Upper bounds (seconds) of the duration histogram buckets; +Inf is implied. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const
const NB = DURATION_BUCKETS.length + 1

/** Why an upstream exchange failed. Index order is the array layout in RouteSlot.errors. */
export const UPSTREAM_ERROR_KINDS = [
  'connect', // could not connect (refused, unreachable, DNS)
  'reset', // connection closed or reset after it was established
  'response_start_timeout', // no response headers within timeoutSeconds/responseStartTimeoutSeconds
  'idle_timeout', // no response bytes within idleTimeoutSeconds
  'no_endpoints', // the backend has no ready instance
  'protocol', // the upstream answered with something that is not valid HTTP
  'other',
] as const
export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number]
export const ERR: { readonly [K in UpstreamErrorKind]: number } = Object.freeze(
  Object.fromEntries(UPSTREAM_ERROR_KINDS.map((k, i) => [k, i])) as { [K in UpstreamErrorKind]: number })

// Layout of a slot's histogram array: counts by class, sums by class, then bucket counts.
const SUMS = 5
const BUCKETS = 10
const HIST_LENGTH = BUCKETS + 5 * NB
/** Shared by slots that never recorded anything (all zeros, never written). */
const EMPTY_HIST = new Float64Array(HIST_LENGTH)

export class RouteSlot {
  readonly namespace: string
  readonly route: string
  readonly revision: string
  /**
   * counts[5], sums[5], buckets[5 * NB], made on the first record: most routes of a big cluster
   * never see a request between reloads, and an idle slot then costs no typed array.
   */
  #hist: Float64Array | null = null
  readonly errors = new Float64Array(UPSTREAM_ERROR_KINDS.length)

  constructor(namespace: string, route: string, revision: string) {
    this.namespace = namespace
    this.route = route
    this.revision = revision
  }

  record(status: number, seconds: number): void {
    const h = this.#hist ??= new Float64Array(HIST_LENGTH)
    let c = ((status / 100) | 0) - 1
    if (c < 0 || c > 4) c = 4
    h[c]++
    h[SUMS + c] += seconds
    let b = 0
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]) b++
    h[BUCKETS + c * NB + b]++
  }

  /** Requests of status class c (0 = 1xx … 4 = 5xx). */
  count(c: number): number {
    return this.#hist === null ? 0 : this.#hist[c]
  }

  /** Summed seconds of status class c. */
  sum(c: number): number {
    return this.#hist === null ? 0 : this.#hist[SUMS + c]
  }

  /** Non-cumulative count of duration bucket b (NB - 1 is +Inf) of status class c. */
  bucket(c: number, b: number): number {
    return (this.#hist ?? EMPTY_HIST)[BUCKETS + c * NB + b]
  }
}

export interface MetricValue { metricName?: string; labels: Record<string, string | number>; value: number }

/**
 * A prom-client metric read from our own state at scrape time. Registry.registerMetric only needs
 * `name` and `get()`; this is the documented shape of what `get()` returns.
 */
export function collector(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => MetricValue[]): object {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => ({ name, help, type, aggregator: 'sum', values: values() }),
  }
}

/** Hands out slots by label; compile asks for them once per split when a table is built. */
export class RouteSlots {
  readonly #slots = new Map<string, RouteSlot>()

  slot(namespace: string, route: string, revision: string): RouteSlot {
    const key = `${namespace}\0${route}\0${revision}`
    let s = this.#slots.get(key)
    if (s === undefined) {
      s = new RouteSlot(namespace, route, revision)
      this.#slots.set(key, s)
    }
    return s
  }

  all(): IterableIterator<RouteSlot> {
    return this.#slots.values()
  }

  /** prom-client metric objects for the slots. */
  collectors(): object[] {
    return [
      collector('sluice_requests_total', 'Requests proxied, by route, revision and status class.', 'counter', () => {
        const values: MetricValue[] = []
        for (const s of this.all()) {
          for (let c = 0; c < 5; c++) {
            const n = s.count(c)
            if (n === 0) continue
            values.push({ labels: { namespace: s.namespace, route: s.route, revision: s.revision, class: STATUS_CLASSES[c] }, value: n })
          }
        }
        return values
      }),
      collector('sluice_request_duration_seconds', 'Time from request arrival to the last response byte, by route, revision and status class.', 'histogram', () => {
        const values: MetricValue[] = []
        for (const s of this.all()) {
          for (let c = 0; c < 5; c++) {
            if (s.count(c) === 0) continue
            const base = { namespace: s.namespace, route: s.route, revision: s.revision, class: STATUS_CLASSES[c] }
            let acc = 0
            for (let b = 0; b < NB; b++) {
              acc += s.bucket(c, b)
              const le = b < DURATION_BUCKETS.length ? DURATION_BUCKETS[b] : '+Inf'
              values.push({ metricName: 'sluice_request_duration_seconds_bucket', labels: { ...base, le }, value: acc })
            }
            values.push({ metricName: 'sluice_request_duration_seconds_sum', labels: base, value: s.sum(c) })
            values.push({ metricName: 'sluice_request_duration_seconds_count', labels: base, value: s.count(c) })
          }
        }
        return values
      }),
      collector('sluice_upstream_errors_total', 'Failed upstream exchanges, by route, revision and kind.', 'counter', () => {
        const values: MetricValue[] = []
        for (const s of this.all()) {
          for (let k = 0; k < UPSTREAM_ERROR_KINDS.length; k++) {
            if (s.errors[k] === 0) continue
            values.push({ labels: { namespace: s.namespace, route: s.route, revision: s.revision, kind: UPSTREAM_ERROR_KINDS[k] }, value: s.errors[k] })
          }
        }
        return values
      }),
    ]
  }
}

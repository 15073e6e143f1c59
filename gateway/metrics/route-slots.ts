// Per-route request metrics without per-request prom-client calls. The hot path counts into
// typed arrays of a preallocated RouteSlot; prom-client reads them at scrape time through the
// collector objects below. Slots are keyed by their labels and survive route table swaps, so
// counters stay monotonic across reloads. Labels follow Knative's revision metrics under our own
// short names (namespace_name → namespace, service_name → service, configuration_name →
// configuration, revision_name → revision, response_code → code, response_code_class → class);
// docs/metrics.md has the whole mapping.

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

/** Exact status codes 100–599 are counted one by one; anything else shares the last index. */
const CODE_MIN = 100
const CODE_SPAN = 500
const CODE_OTHER = CODE_SPAN

// Layout of a slot's array: counts by class, sums by class, bucket counts by class, then counts
// by exact status code (Knative's response_code; the bound is the 501 possible indexes).
const SUMS = 5
const BUCKETS = 10
const CODES = BUCKETS + 5 * NB
const HIST_LENGTH = CODES + CODE_SPAN + 1
/** Shared by slots that never recorded anything (all zeros, never written). */
const EMPTY_HIST = new Float64Array(HIST_LENGTH)

/**
 * What a slot counts for beyond its namespace and route: the revision and the Knative Service and
 * Configuration it belongs to ('' or absent when there is none, e.g. a core Service backend has no
 * Configuration). A compiled Backend is one.
 */
export interface SlotTarget {
  readonly revision: string
  readonly service?: string
  readonly configuration?: string
}

export class RouteSlot {
  readonly namespace: string
  readonly route: string
  readonly revision: string
  readonly service: string
  readonly configuration: string
  /**
   * counts[5], sums[5], buckets[5 * NB], codes[501], made on the first record: most routes of a
   * big cluster never see a request between reloads, and an idle slot then costs no typed array.
   */
  #hist: Float64Array | null = null
  /** code indexes seen so far, in order of first sight (scrapes then skip the 500 zeros) */
  #seen: number[] | null = null
  readonly errors = new Float64Array(UPSTREAM_ERROR_KINDS.length)

  /** `target` null: the route's own answers (plugins), which reach no revision. */
  constructor(namespace: string, route: string, target: SlotTarget | null) {
    this.namespace = namespace
    this.route = route
    this.revision = target?.revision ?? ''
    this.service = target?.service ?? ''
    this.configuration = target?.configuration ?? ''
  }

  record(status: number, seconds: number): void {
    let h = this.#hist
    if (h === null) {
      h = this.#hist = new Float64Array(HIST_LENGTH)
      this.#seen = []
    }
    let c = ((status / 100) | 0) - 1
    if (c < 0 || c > 4) c = 4
    h[c]++
    h[SUMS + c] += seconds
    let b = 0
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]) b++
    h[BUCKETS + c * NB + b]++
    let i = status - CODE_MIN
    if (!(i >= 0 && i < CODE_SPAN)) i = CODE_OTHER
    if (h[CODES + i]++ === 0) this.#seen!.push(i)
  }

  /** The exact status codes counted so far with their counts, in ascending order ('other' last). */
  codes(): [code: string, count: number][] {
    const h = this.#hist
    if (h === null) return []
    const seen = this.#seen!.sort((a, b) => a - b)
    return seen.map((i) => [i === CODE_OTHER ? 'other' : String(CODE_MIN + i), h[CODES + i]])
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
 * `name` and `get()`; this is the documented shape of what `get()` returns. `aggregator` is how
 * prom-client's AggregatorRegistry merges the series of several processes.
 */
export function collector(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => MetricValue[], aggregator: 'sum' | 'max' = 'sum'): object {
  return {
    name,
    help,
    type,
    aggregator,
    get: () => ({ name, help, type, aggregator, values: values() }),
  }
}

/** The labels every per-revision series carries, in exposition order. */
function revisionLabels(namespace: string, o: RevisionOwner, revision: string): Record<string, string> {
  return { namespace, service: o.service, configuration: o.configuration, revision }
}

/** A revision's Knative Service and Configuration ('' when it has none). */
export interface RevisionOwner { readonly service: string; readonly configuration: string }
const NO_OWNER: RevisionOwner = Object.freeze({ service: '', configuration: '' })

/** Hands out slots by label; compile asks for them once per split when a table is built. */
export class RouteSlots {
  readonly #slots = new Map<string, RouteSlot>()
  /** namespace\0revision → its Service and Configuration, from the slots handed out */
  readonly #owners = new Map<string, RevisionOwner>()

  /** `target` null: the route's own answers (plugins), which reach no revision. */
  slot(namespace: string, route: string, target: SlotTarget | null): RouteSlot {
    const service = target?.service ?? ''
    const configuration = target?.configuration ?? ''
    const revision = target?.revision ?? ''
    const key = `${namespace}\0${route}\0${revision}\0${service}\0${configuration}`
    let s = this.#slots.get(key)
    if (s === undefined) {
      s = new RouteSlot(namespace, route, target)
      this.#slots.set(key, s)
      if (revision !== '') this.#owners.set(`${namespace}\0${revision}`, Object.freeze({ service, configuration }))
    }
    return s
  }

  all(): IterableIterator<RouteSlot> {
    return this.#slots.values()
  }

  /**
   * The Service and Configuration of a revision some route sends traffic to, for metrics that are
   * kept per revision elsewhere (the activator's throttlers); '' for both when none is known.
   */
  owner(namespace: string, revision: string): RevisionOwner {
    return this.#owners.get(`${namespace}\0${revision}`) ?? NO_OWNER
  }

  /** Labels for a per-revision series: namespace, service, configuration, revision. */
  labels(namespace: string, revision: string): Record<string, string> {
    return revisionLabels(namespace, this.owner(namespace, revision), revision)
  }

  /** prom-client metric objects for the slots. */
  collectors(): object[] {
    return [
      collector('sluice_requests_total', 'Requests proxied, by route, revision, exact status code and status class.', 'counter', () => {
        const values: MetricValue[] = []
        for (const s of this.all()) {
          const base = { ...revisionLabels(s.namespace, s, s.revision), route: s.route }
          for (const [code, n] of s.codes()) values.push({ labels: { ...base, code, class: classOf(code) }, value: n })
        }
        return values
      }),
      collector('sluice_request_duration_seconds', 'Time from request arrival to the last response byte, by route, revision and status class.', 'histogram', () => {
        const values: MetricValue[] = []
        for (const s of this.all()) {
          for (let c = 0; c < 5; c++) {
            if (s.count(c) === 0) continue
            const base = { ...revisionLabels(s.namespace, s, s.revision), route: s.route, class: STATUS_CLASSES[c] }
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
            values.push({ labels: { ...revisionLabels(s.namespace, s, s.revision), route: s.route, kind: UPSTREAM_ERROR_KINDS[k] }, value: s.errors[k] })
          }
        }
        return values
      }),
      collector('sluice_revision_info', 'One series per routed revision, valued 1, carrying its Service and Configuration: join it to metrics kept by namespace and revision only.', 'gauge', () => {
        const values: MetricValue[] = []
        for (const [key, o] of this.#owners) {
          const cut = key.indexOf('\0')
          values.push({ labels: revisionLabels(key.slice(0, cut), o, key.slice(cut + 1)), value: 1 })
        }
        return values
      }, 'max'), // every gateway process knows the same revisions: merged, the value stays 1
    ]
  }
}

/** The class label of a code label: '404' → '4xx'; codes outside 100–599 count as 5xx, as record() does. */
function classOf(code: string): string {
  return code === 'other' ? '5xx' : STATUS_CLASSES[code.charCodeAt(0) - 49]
}

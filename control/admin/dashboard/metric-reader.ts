// The dashboard's view of the Prometheus registry: the few families it shows, summed per revision
// whatever other labels they carry (route, service, configuration, status class or code come and
// go; `revision` is the one label relied on, `namespace` when present). Read once a second on the
// control side, never on the request path. The request families have a series per route and
// status and cost about 0.1 ms per active route to read, so they are read only on request
// (while someone watches); queue depth and cold starts have one series per revision.
import type { Registry } from 'prom-client'

/** Cumulative counts of one revision at one moment. */
export interface RevisionCounters {
  requests: number
  /** responses with a 5xx status */
  errors: number
  /** request duration histogram: cumulative count per upper bound, in FAMILY_BOUNDS order (+Inf last) */
  buckets: number[]
  queue: number
  coldStarts: number
  coldStartSeconds: number
}

export const REQUESTS = 'sluice_requests_total'
export const DURATION = 'sluice_request_duration_seconds'
export const QUEUE = 'sluice_activator_queue_depth'
export const COLD_START = 'sluice_cold_start_duration_seconds'

interface Sample { metricName?: string; labels: Record<string, string | number | undefined>; value: number }

/** `ns/name`, or the bare revision name when the family carries no namespace label; undefined without a revision. */
export function revisionKeyOf(labels: Sample['labels']): string | undefined {
  const rev = labels.revision
  if (rev === undefined || rev === '') return undefined
  return labels.namespace === undefined ? String(rev) : `${labels.namespace}/${rev}`
}

/** A 5xx, whether the family labels the class (`class="5xx"`) or the exact code (`code`, `status`, `response_code`). */
export function isServerError(labels: Sample['labels']): boolean {
  if (labels.class !== undefined) return labels.class === '5xx'
  const code = labels.code ?? labels.response_code ?? labels.status_code ?? labels.status
  return code !== undefined && /^5\d\d$/.test(String(code))
}

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const m = registry.getSingleMetric(name)
  if (m === undefined) return []
  // prom-client's own metrics answer with a promise, Sluice's collectors with the object itself.
  const got = (await m.get()) as { values?: Sample[] }
  return got.values ?? []
}

export class MetricReader {
  /** the registry, or how to get one per read (with --workers: the workers' metrics merged) */
  readonly #source: Registry | (() => Promise<Registry>)
  #registry!: Registry
  /** the duration histogram's upper bounds, learnt from the first read that has any (+Inf last) */
  bounds: number[] = []

  constructor(source: Registry | (() => Promise<Registry>)) {
    this.#source = source
  }

  /** Every revision the families mention, with its summed counters; request counts only with `traffic`. */
  async read(traffic: boolean): Promise<Map<string, RevisionCounters>> {
    this.#registry = typeof this.#source === 'function' ? await this.#source() : this.#source
    const out = new Map<string, RevisionCounters>()
    const entry = (labels: Sample['labels']): RevisionCounters | undefined => {
      const key = revisionKeyOf(labels)
      if (key === undefined) return undefined
      let c = out.get(key)
      if (c === undefined) {
        c = { requests: 0, errors: 0, buckets: new Array<number>(this.bounds.length).fill(0), queue: 0, coldStarts: 0, coldStartSeconds: 0 }
        out.set(key, c)
      }
      return c
    }
    for (const s of traffic ? await samples(this.#registry, REQUESTS) : []) {
      const c = entry(s.labels)
      if (c === undefined) continue
      c.requests += s.value
      if (isServerError(s.labels)) c.errors += s.value
    }
    const buckets = (traffic ? await samples(this.#registry, DURATION) : []).filter((s) => s.metricName === `${DURATION}_bucket`)
    this.#learnBounds(buckets)
    for (const s of buckets) {
      const i = this.bounds.indexOf(boundOf(s.labels.le))
      const c = entry(s.labels)
      if (c === undefined || i < 0) continue
      if (c.buckets.length < this.bounds.length) c.buckets = [...c.buckets, ...new Array<number>(this.bounds.length - c.buckets.length).fill(0)]
      c.buckets[i]! += s.value
    }
    for (const s of await samples(this.#registry, QUEUE)) {
      const c = entry(s.labels)
      if (c !== undefined) c.queue += s.value
    }
    for (const s of await samples(this.#registry, COLD_START)) {
      const c = s.metricName === `${COLD_START}_count` || s.metricName === `${COLD_START}_sum` ? entry(s.labels) : undefined
      if (c === undefined) continue
      if (s.metricName === `${COLD_START}_count`) c.coldStarts += s.value
      else c.coldStartSeconds += s.value
    }
    return out
  }

  #learnBounds(buckets: readonly Sample[]): void {
    if (this.bounds.length > 0 || buckets.length === 0) return
    this.bounds = [...new Set(buckets.map((s) => boundOf(s.labels.le)))].sort((a, b) => a - b)
  }
}

const boundOf = (le: string | number | undefined): number => (le === '+Inf' || le === undefined ? Infinity : Number(le))

/**
 * The q-quantile (0..1) of the requests counted between two cumulative bucket snapshots, by linear
 * interpolation inside the bucket as Prometheus' histogram_quantile does; null without requests.
 * A quantile in the +Inf bucket answers the largest finite bound.
 */
export function quantile(q: number, bounds: readonly number[], now: readonly number[], before: readonly number[] | undefined): number | null {
  const n = bounds.length
  if (n === 0) return null
  const delta = (i: number): number => (now[i] ?? 0) - (before?.[i] ?? 0)
  const total = delta(n - 1)
  if (total <= 0) return null
  const rank = q * total
  let prevCount = 0
  let prevBound = 0
  for (let i = 0; i < n; i++) {
    const count = delta(i)
    if (count >= rank) {
      const bound = bounds[i]!
      if (bound === Infinity) return prevBound
      if (count === prevCount) return bound
      return prevBound + (bound - prevBound) * ((rank - prevCount) / (count - prevCount))
    }
    prevCount = count
    prevBound = bounds[i]!
  }
  return prevBound
}

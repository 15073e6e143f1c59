// Activator metrics read from the throttlers at scrape time: queue depth, overflows, timeouts,
// wait time, concurrency and in-flight per instance, outlier ejections and circuit-breaker trips
// (plain counters on the throttler, bumped on the request path). Nothing here runs per request. Series carry
// Knative's revision labels (namespace, service, configuration, revision), the Service and
// Configuration looked up from the route slots at scrape time.
import { collector, type MetricValue, type RouteSlots } from './route-slots.ts'
import { TRIP_REASONS, WAIT_BUCKETS, type RevisionThrottler } from '../activator/throttler.ts'

export function activatorCollectors(throttlers: () => Iterable<RevisionThrottler>, slots: RouteSlots): object[] {
  const per = (fn: (t: RevisionThrottler) => number) => (): MetricValue[] => {
    const values: MetricValue[] = []
    for (const t of throttlers()) values.push({ labels: slots.labels(t.namespace, t.revision), value: fn(t) })
    return values
  }
  return [
    collector('sluice_activator_queue_depth', 'Requests waiting for a free slot, by revision.', 'gauge', per((t) => t.queue.size)),
    collector('sluice_activator_parked_requests', 'Of the waiting requests, those parked as a new connection\'s bytes, before any HTTP parsing.', 'gauge', per((t) => t.parked)),
    collector('sluice_activator_overflows_total', 'Requests refused with 503 because the revision queue was full.', 'counter', per((t) => t.overflows)),
    collector('sluice_activator_timeouts_total', 'Requests answered 504 while waiting for a free slot.', 'counter', per((t) => t.timeouts)),
    collector('sluice_revision_inflight_requests', 'Requests in flight for a revision, buffered ones included.', 'gauge', per((t) => t.current)),
    collector('sluice_outlier_ejections_total', 'Instances ejected by outlier detection (consecutive gateway errors or 5xx).', 'counter', per((t) => t.ejections)),
    collector('sluice_outlier_ejections_prevented_total', 'Ejections the max-ejection-percent cap (or the last instance rule) held back.', 'counter', per((t) => t.ejectionsPrevented)),
    collector('sluice_outlier_ejected_instances', 'Instances currently ejected by outlier detection.', 'gauge', per((t) => {
      let n = 0
      for (const inst of t.instances()) if (inst.ejectedUntil !== 0) n++
      return n
    })),
    collector('sluice_retries_total', 'Requests sent again after a connect failure or reset before any response (retry-budget.ts).', 'counter', per((t) => t.retries)),
    collector('sluice_retries_budget_exhausted_total', 'Retries refused by the retry budget: retry-budget-percent of the revision\'s active requests (default 20%, at least retry-budget-min-concurrency: 3) were retrying already.', 'counter', per((t) => t.retriesRefused)),
    collector('sluice_breaker_trips_total', 'Requests a circuit breaker refused (max_pending, max_requests: 503) or held back (max_connections: waited).', 'counter', () => {
      const values: MetricValue[] = []
      for (const t of throttlers()) {
        const base = slots.labels(t.namespace, t.revision)
        for (let i = 0; i < TRIP_REASONS.length; i++) values.push({ labels: { ...base, reason: TRIP_REASONS[i] }, value: t.trips[i] })
      }
      return values
    }),
    collector('sluice_activator_wait_seconds', 'Time requests waited in the activator queue before being sent.', 'histogram', () => {
      const values: MetricValue[] = []
      for (const t of throttlers()) {
        if (t.waitCount === 0) continue
        const base = slots.labels(t.namespace, t.revision)
        let acc = 0
        for (let b = 0; b <= WAIT_BUCKETS.length; b++) {
          acc += t.waitBuckets[b]
          values.push({ metricName: 'sluice_activator_wait_seconds_bucket', labels: { ...base, le: b < WAIT_BUCKETS.length ? WAIT_BUCKETS[b] : '+Inf' }, value: acc })
        }
        values.push({ metricName: 'sluice_activator_wait_seconds_sum', labels: base, value: t.waitSum })
        values.push({ metricName: 'sluice_activator_wait_seconds_count', labels: base, value: t.waitCount })
      }
      return values
    }),
  ]
}

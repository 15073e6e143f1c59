// The gateway's metric state: plain numbers and typed arrays written on the hot path, exposed to
// a prom-client Registry through collectors that read them at scrape time.
import type { Registry } from 'prom-client'
import { RouteSlots, collector } from './route-slots.ts'
import { activatorCollectors } from './activator-metrics.ts'
import type { RevisionThrottler } from '../activator/throttler.ts'
import { EventingMetrics } from '../eventing/eventing-metrics.ts'
import { TracingCounters } from '../tracing/tracing-counters.ts'

export class GatewayMetrics {
  readonly slots = new RouteSlots()
  /** requests with no matching host/path: [external, internal] */
  readonly unmatched = new Float64Array(2)
  routeCount = 0
  /** HTTP/1.1 requests the fast path served, and messages it handed to Node's server (fast-path/) */
  readonly fastPath = new Float64Array(2)
  /** broker ingress and trigger delivery counts (gateway/eventing) */
  readonly eventing = new EventingMetrics()
  /** spans dropped / exported / failed (gateway/tracing) */
  readonly tracing = new TracingCounters()

  register(registry: Registry, gauges: { inflight: () => number; throttlers?: () => Iterable<RevisionThrottler> }): void {
    const all = [
      ...this.slots.collectors(),
      ...this.eventing.collectors(),
      ...this.tracing.collectors(),
      ...(gauges.throttlers !== undefined ? activatorCollectors(gauges.throttlers, this.slots) : []),
      collector('sluice_unmatched_requests_total', 'Requests that matched no host or path (answered 404, or 301 for https redirects).', 'counter',
        () => [{ labels: { listener: 'external' }, value: this.unmatched[0] }, { labels: { listener: 'internal' }, value: this.unmatched[1] }]),
      collector('sluice_http1_requests_total', 'Plain HTTP/1.1 requests by the path that read them: the fast path (fast), or Node\'s server (node: fallbacks and refusals, counted per connection handed over).', 'counter',
        () => [{ labels: { path: 'fast' }, value: this.fastPath[0] }, { labels: { path: 'node' }, value: this.fastPath[1] }]),
      collector('sluice_routes', 'Routes (host and path pairs) in the active route table.', 'gauge', () => [{ labels: {}, value: this.routeCount }], 'max'),
      collector('sluice_inflight_requests', 'Requests being proxied right now.', 'gauge', () => [{ labels: {}, value: gauges.inflight() }]),
    ]
    // registerMetric is typed for prom-client's own classes; collectors are duck-typed metrics.
    for (const c of all) registry.registerMetric(c as Parameters<Registry['registerMetric']>[0])
  }
}

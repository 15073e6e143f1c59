// Eventing metrics under Knative's broker/trigger names (knative.dev eventing-metrics: broker
// ingress `event_count` + `event_dispatch_latencies`; filter `event_count`,
// `event_dispatch_latencies`, `event_processing_latencies`, labels namespace_name, broker_name,
// trigger_name, response_code, response_code_class) with the `sluice_` prefix and base units
// (seconds, not Knative's milliseconds: promtool refuses non-base units). Plus queue depth and
// dead-letter counts. Events count into preallocated slots; prom-client reads them in collect().
import { collector, type MetricValue } from '../metrics/route-slots.ts'
import type { BrokerStats, EventingTable } from './types.ts'

/** Upper bounds (seconds) of the latency histograms; +Inf implied. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const
const NB = LATENCY_BUCKETS.length + 1
/** status codes 0 (no response) … 599 */
const CODES = 600
/** classes: 0 = no response, 1..5 = 1xx..5xx */
const CLASS_NAMES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const

function bucketOf(seconds: number): number {
  let b = 0
  while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++
  return b
}

function classOf(status: number): number {
  const c = (status / 100) | 0
  return c >= 1 && c <= 5 ? c : 0
}

/** Counts by response code and a latency histogram by response class. */
class CodeHistogram {
  readonly counts = new Float64Array(CODES)
  readonly classCounts = new Float64Array(6)
  readonly sums = new Float64Array(6)
  readonly buckets = new Float64Array(6 * NB)

  record(status: number, seconds: number): void {
    this.counts[status >= 0 && status < CODES ? status : 0]!++
    const c = classOf(status)
    this.classCounts[c]!++
    this.sums[c]! += seconds
    this.buckets[c * NB + bucketOf(seconds)]!++
  }
}

export class BrokerSlot {
  readonly namespace: string
  readonly name: string
  /** ingress answers by code; latency = time to store the event in the backing */
  readonly ingress = new CodeHistogram()
  /** replies dropped because their knativebrokerttl ran out */
  ttlExpired = 0
  constructor(namespace: string, name: string) {
    this.namespace = namespace
    this.name = name
  }
}

export class TriggerSlot {
  readonly namespace: string
  readonly name: string
  readonly broker: string
  /** delivery attempts by subscriber response code; latency of each attempt */
  readonly dispatch = new CodeHistogram()
  /** time from acceptance to the first attempt */
  readonly processingSum = new Float64Array(1)
  readonly processingBuckets = new Float64Array(NB)
  processingCount = 0
  /** events given to the dead-letter sink and accepted there */
  deadLettered = 0
  /** events lost: the last attempt failed and there was no sink or the sink failed too */
  dropped = 0
  retries = 0
  constructor(namespace: string, name: string, broker: string) {
    this.namespace = namespace
    this.name = name
    this.broker = broker
  }

  processing(seconds: number): void {
    this.processingCount++
    this.processingSum[0]! += seconds
    this.processingBuckets[bucketOf(seconds)]!++
  }
}

/** Slots by key, handed out when a table is installed; they survive swaps so counters stay monotonic. */
export class EventingMetrics {
  readonly #brokers = new Map<string, BrokerSlot>()
  readonly #triggers = new Map<string, TriggerSlot>()
  #stats: () => readonly BrokerStats[] = () => []

  install(table: EventingTable): void {
    for (const b of table.brokers.values()) {
      this.broker(b.namespace, b.name)
      for (const t of b.triggers) this.trigger(t.namespace, t.name, b.name)
    }
  }

  broker(namespace: string, name: string): BrokerSlot {
    const key = `${namespace}/${name}`
    let s = this.#brokers.get(key)
    if (s === undefined) this.#brokers.set(key, s = new BrokerSlot(namespace, name))
    return s
  }

  trigger(namespace: string, name: string, broker: string): TriggerSlot {
    const key = `${namespace}/${name}\0${broker}`
    let s = this.#triggers.get(key)
    if (s === undefined) this.#triggers.set(key, s = new TriggerSlot(namespace, name, broker))
    return s
  }

  /** where queue depths come from at scrape time (the plane's backings) */
  set stats(fn: () => readonly BrokerStats[]) { this.#stats = fn }

  collectors(): object[] {
    const brokers = () => this.#brokers.values()
    const triggers = () => this.#triggers.values()
    const perTrigger = (fn: (t: TriggerSlot) => number) => (): MetricValue[] => {
      const out: MetricValue[] = []
      for (const t of triggers()) out.push({ labels: { namespace_name: t.namespace, broker_name: t.broker, trigger_name: t.name }, value: fn(t) })
      return out
    }
    return [
      collector('sluice_broker_event_count_total', 'Events received by a broker\'s ingress, by the response code it answered (Knative broker ingress event_count).', 'counter', () => {
        const out: MetricValue[] = []
        for (const b of brokers()) codeValues(out, b.ingress, { namespace_name: b.namespace, broker_name: b.name })
        return out
      }),
      collector('sluice_broker_event_dispatch_latencies_seconds', 'Time the broker ingress took to store an event, by response class (Knative event_dispatch_latencies, in seconds).', 'histogram', () => {
        const out: MetricValue[] = []
        for (const b of brokers()) histValues(out, 'sluice_broker_event_dispatch_latencies_seconds', b.ingress, { namespace_name: b.namespace, broker_name: b.name })
        return out
      }),
      collector('sluice_trigger_event_count_total', 'Delivery attempts to a trigger\'s subscriber, by response code (0 = no response) (Knative filter event_count).', 'counter', () => {
        const out: MetricValue[] = []
        for (const t of triggers()) codeValues(out, t.dispatch, { namespace_name: t.namespace, broker_name: t.broker, trigger_name: t.name })
        return out
      }),
      collector('sluice_trigger_event_dispatch_latencies_seconds', 'Duration of delivery attempts to a trigger\'s subscriber, by response class (Knative event_dispatch_latencies, in seconds).', 'histogram', () => {
        const out: MetricValue[] = []
        for (const t of triggers()) histValues(out, 'sluice_trigger_event_dispatch_latencies_seconds', t.dispatch, { namespace_name: t.namespace, broker_name: t.broker, trigger_name: t.name })
        return out
      }),
      collector('sluice_trigger_event_processing_latencies_seconds', 'Time from an event\'s acceptance to its first delivery attempt (Knative event_processing_latencies, in seconds).', 'histogram', () => {
        const out: MetricValue[] = []
        for (const t of triggers()) {
          if (t.processingCount === 0) continue
          const labels = { namespace_name: t.namespace, broker_name: t.broker, trigger_name: t.name }
          let acc = 0
          for (let b = 0; b < NB; b++) {
            acc += t.processingBuckets[b]!
            out.push({ metricName: 'sluice_trigger_event_processing_latencies_seconds_bucket', labels: { ...labels, le: b < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[b]! : '+Inf' }, value: acc })
          }
          out.push({ metricName: 'sluice_trigger_event_processing_latencies_seconds_sum', labels, value: t.processingSum[0]! })
          out.push({ metricName: 'sluice_trigger_event_processing_latencies_seconds_count', labels, value: t.processingCount })
        }
        return out
      }),
      collector('sluice_trigger_retries_total', 'Delivery retries scheduled for a trigger.', 'counter', perTrigger((t) => t.retries)),
      collector('sluice_trigger_dead_lettered_events_total', 'Events whose delivery failed and that the dead-letter sink accepted.', 'counter', perTrigger((t) => t.deadLettered)),
      collector('sluice_trigger_dropped_events_total', 'Events whose delivery failed for good: no dead-letter sink, or the sink failed too.', 'counter', perTrigger((t) => t.dropped)),
      collector('sluice_broker_ttl_expired_events_total', 'Replies dropped because their knativebrokerttl reached 0 (reply loop protection).', 'counter', () => {
        const out: MetricValue[] = []
        for (const b of brokers()) out.push({ labels: { namespace_name: b.namespace, broker_name: b.name }, value: b.ttlExpired })
        return out
      }),
      collector('sluice_broker_queue_depth', 'Events accepted by a broker and not yet settled for every trigger.', 'gauge', () => {
        const out: MetricValue[] = []
        for (const s of this.#stats()) {
          const slash = s.broker.indexOf('/')
          out.push({ labels: { namespace_name: s.broker.slice(0, slash), broker_name: s.broker.slice(slash + 1), backing: s.backing }, value: s.depth })
        }
        return out
      }),
      collector('sluice_broker_retries_in_flight', 'Deliveries waiting for their next retry, by broker.', 'gauge', () => {
        const out: MetricValue[] = []
        for (const s of this.#stats()) {
          const slash = s.broker.indexOf('/')
          out.push({ labels: { namespace_name: s.broker.slice(0, slash), broker_name: s.broker.slice(slash + 1), backing: s.backing }, value: s.retriesInFlight })
        }
        return out
      }),
    ]
  }
}

function codeValues(out: MetricValue[], h: CodeHistogram, base: Record<string, string>): void {
  for (let code = 0; code < CODES; code++) {
    const n = h.counts[code]!
    if (n === 0) continue
    out.push({ labels: { ...base, response_code: code, response_code_class: CLASS_NAMES[classOf(code)]! }, value: n })
  }
}

function histValues(out: MetricValue[], name: string, h: CodeHistogram, base: Record<string, string>): void {
  for (let c = 0; c < 6; c++) {
    if (h.classCounts[c] === 0) continue
    const labels = { ...base, response_code_class: CLASS_NAMES[c]! }
    let acc = 0
    for (let b = 0; b < NB; b++) {
      acc += h.buckets[c * NB + b]!
      out.push({ metricName: name + '_bucket', labels: { ...labels, le: b < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[b]! : '+Inf' }, value: acc })
    }
    out.push({ metricName: name + '_sum', labels, value: h.sums[c]! })
    out.push({ metricName: name + '_count', labels, value: h.classCounts[c]! })
  }
}

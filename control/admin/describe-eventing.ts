// The `/debug/eventing` view: every Broker with its address, readiness, backing and Triggers (their
// subscriber, dead-letter sink and a one-line filter summary), plus the data plane's live numbers
// (queue depths, retries in flight, last errors) from gateway.eventingStats().
import type { Condition } from '../resources/types.ts'
import type { Trigger } from '../resources/eventing.ts'
import type { BrokerStats, EventingTable, SubscriptionsApiFilter } from '../../gateway/eventing/types.ts'
import type { EventingResolution } from '../reconcile/eventing.ts'

export interface EventingView {
  readonly version: number
  readonly ingressHosts: EventingTable['ingressHosts']
  readonly natsUrl: string | null
  readonly queueLimit: number
  readonly maxTtl: number
  readonly brokers: readonly object[]
  readonly stats: readonly BrokerStats[]
}

export function describeEventing(res: EventingResolution | undefined, table: EventingTable, stats: readonly BrokerStats[]): EventingView {
  const brokers: object[] = []
  const triggersOf = new Map<string, object[]>()
  for (const t of res?.triggers.values() ?? []) {
    const compiled = table.brokers.get(t.broker)?.triggers.find((c) => c.namespace === t.trigger.metadata.namespace && c.name === t.trigger.metadata.name)
    const list = triggersOf.get(t.broker) ?? []
    list.push({
      name: t.trigger.metadata.name,
      namespace: t.trigger.metadata.namespace,
      ready: t.ready,
      ...(t.ready ? {} : { reason: notReady(t.trigger.status?.conditions as Condition[] | undefined) }),
      subscriberUri: t.subscriber?.url ?? null,
      /** where deliveries connect: the gateway's internal listener for Sluice-served subscribers, else the URL itself */
      subscriberVia: t.subscriber?.connectTo ?? t.subscriber?.url ?? null,
      deadLetterSinkUri: t.deadLetterSink?.url ?? null,
      filter: filterSummary(t.trigger.spec),
      ...(compiled !== undefined ? { uid: compiled.uid, delivery: compiled.delivery } : {}),
    })
    triggersOf.set(t.broker, list)
  }
  for (const b of res?.brokers.values() ?? []) {
    const compiled = table.brokers.get(b.key)
    brokers.push({
      name: b.broker.metadata.name,
      namespace: b.broker.metadata.namespace,
      url: b.url,
      ready: b.ready,
      ...(b.ready ? {} : { reason: `${b.readyCondition.reason ?? ''}: ${b.readyCondition.message ?? ''}` }),
      backing: b.backing,
      ...(compiled !== undefined ? { delivery: compiled.delivery } : {}),
      triggers: triggersOf.get(b.key) ?? [],
    })
  }
  // Triggers whose Broker does not exist, so they are not lost from the view.
  for (const [key, list] of triggersOf) {
    if (res?.brokers.has(key)) continue
    const [namespace, name] = key.split('/')
    brokers.push({ name, namespace, url: null, ready: false, reason: 'BrokerDoesNotExist', backing: null, triggers: list })
  }
  return {
    version: table.version, ingressHosts: table.ingressHosts, natsUrl: table.natsUrl, queueLimit: table.queueLimit, maxTtl: table.maxTtl,
    brokers, stats,
  }
}

function notReady(conds: readonly Condition[] | undefined): string {
  const ready = conds?.find((c) => c.type === 'Ready')
  return ready === undefined ? 'Unknown' : `${ready.reason ?? ''}: ${ready.message ?? ''}`
}

/** `filters: exact type=a AND cesql "x > 1"`, `filter: type=a, source=b`, or `none` */
export function filterSummary(spec: Trigger['spec']): string {
  if (spec.filters !== undefined && spec.filters.length > 0) return `filters: ${spec.filters.map(one).join(' AND ')}`
  const attrs = Object.entries(spec.filter?.attributes ?? {})
  if (attrs.length === 0) return 'none (every event)'
  return `filter: ${attrs.map(([k, v]) => (v === '' ? `${k} present` : `${k}=${v}`)).join(', ')}`
}

function one(f: SubscriptionsApiFilter): string {
  for (const d of ['exact', 'prefix', 'suffix'] as const) {
    if (f[d] !== undefined) return `${d} ${Object.entries(f[d]).map(([k, v]) => `${k}=${v}`).join(', ')}`
  }
  if (f.all !== undefined) return `all(${f.all.map(one).join(', ')})`
  if (f.any !== undefined) return `any(${f.any.map(one).join(', ')})`
  if (f.not !== undefined) return `not(${one(f.not)})`
  if (f.cesql !== undefined) return `cesql ${JSON.stringify(f.cesql)}`
  return 'none'
}

// Brokers and Triggers (already reconciled: control/reconcile/eventing.ts) → the gateway's
// EventingTable. Everything per event is decided here once: filters compiled, DeliverySpecs
// parsed and defaulted (Knative's cluster default for a Broker without delivery, config-br-defaults:
// retry 10, exponential, PT0.2S), a Trigger's delivery replacing its Broker's wholesale with only
// the dead-letter sink falling back (pkg/reconciler/broker/trigger/trigger.go).
import { createHash } from 'node:crypto'
import type { DeliverySpecSpec } from '../resources/eventing.ts'
import type { Settings } from '../settings/types.ts'
import type { CompiledBroker, CompiledTrigger, DeliverySpec, Destination, EventingTable } from '../../gateway/eventing/types.ts'
import { compileTriggerFilter } from '../../gateway/eventing/filters/compile-filter.ts'
import { parseIsoDuration } from '../sources/iso-duration.ts'
import { lookupDomain } from '../reconcile/domains.ts'
import { brokerIngressHost, type EventingResolution } from '../reconcile/eventing.ts'

/** config-br-defaults' clusterDefault delivery (knative/eventing config/core/configmaps/default-broker.yaml) */
export const CLUSTER_DEFAULT_DELIVERY: Readonly<DeliverySpecSpec> = Object.freeze({ retry: 10, backoffPolicy: 'exponential', backoffDelay: 'PT0.2S' })

export function compileEventing(res: EventingResolution, settings: Settings, version: number): EventingTable {
  const triggersOf = new Map<string, CompiledTrigger[]>()
  const brokerSpecs = new Map<string, DeliverySpecSpec>()
  for (const b of res.brokers.values()) brokerSpecs.set(b.key, b.broker.spec.delivery ?? CLUSTER_DEFAULT_DELIVERY)
  for (const t of res.triggers.values()) {
    const b = res.brokers.get(t.broker)
    if (!t.ready || t.subscriber === null || b === undefined || !b.ready) continue
    const { metadata: m, spec } = t.trigger
    const compiled: CompiledTrigger = Object.freeze({
      namespace: m.namespace,
      name: m.name,
      uid: m.uid !== undefined && m.uid !== '' ? m.uid : stableUid(`${m.namespace}/${m.name}`),
      broker: t.broker,
      filter: compileTriggerFilter(spec.filter, spec.filters),
      subscriber: t.subscriber,
      delivery: compileDelivery(spec.delivery ?? brokerSpecs.get(b.key)!, t.deadLetterSink),
    })
    const list = triggersOf.get(t.broker) ?? []
    list.push(compiled)
    triggersOf.set(t.broker, list)
  }
  const brokers = new Map<string, CompiledBroker>()
  for (const b of res.brokers.values()) {
    if (!b.ready) continue
    const { namespace, name } = b.broker.metadata
    brokers.set(b.key, Object.freeze({
      key: b.key, namespace, name, backing: b.backing,
      delivery: compileDelivery(brokerSpecs.get(b.key)!, b.deadLetterSink),
      triggers: Object.freeze(triggersOf.get(b.key) ?? []),
    }))
  }
  const k = settings.sluice
  return Object.freeze({
    version,
    brokers,
    natsUrl: k.natsUrl,
    queueLimit: k.brokerQueueLimit,
    maxTtl: k.brokerMaxTtl,
    ingressHosts: Object.freeze({
      internal: Object.freeze([brokerIngressHost(settings)]),
      external: Object.freeze([`broker-ingress.${lookupDomain({}, settings)}`]),
    }),
  })
}

/** A validated DeliverySpec with Knative's runtime defaults (kncloudevents.RetryConfigFromDeliverySpec). */
export function compileDelivery(spec: DeliverySpecSpec, deadLetterSink: Destination | null): DeliverySpec {
  const ms = (v: string | undefined): number | undefined => (v === undefined ? undefined : parseIsoDuration(v))
  const delay = ms(spec.backoffDelay)
  // Knative computes a backoff only when both policy and delay are set; otherwise retries fire back to back.
  const backoff = spec.backoffPolicy !== undefined && delay !== undefined
  return Object.freeze({
    retry: spec.retry ?? 0,
    backoffPolicy: backoff ? spec.backoffPolicy! : null,
    backoffDelayMs: backoff ? delay! : 0,
    backoffMaxMs: ms(spec.backoffMax) ?? Infinity,
    timeoutMs: ms(spec.timeout) ?? 0,
    retryAfterMaxMs: ms(spec.retryAfterMax) ?? null,
    format: spec.format ?? 'binary',
    deadLetterSink,
  })
}

/** a UUID-shaped name derived from `namespace/name`, for Triggers without metadata.uid (files) */
export function stableUid(key: string): string {
  const h = createHash('sha256').update(`sluice-trigger:${key}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

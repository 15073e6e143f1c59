// Which eventing objects in a cluster are Sluice's. Knative's own broker controller may run in the
// same cluster, so Sluice takes only what names it, and leaves the rest untouched (status included):
// - a Broker whose `eventing.knative.dev/broker.class` is `sluice.dev/memory` or `sluice.dev/jetstream`
//   (unset and MTChannelBasedBroker are Knative's default class, as its mt-broker-controller reads them);
// - a Trigger whose `spec.broker` is such a Broker in its namespace (Knative's trigger reconciler
//   likewise skips triggers of other classes' brokers);
// - a PingSource whose sink is a `ref` to such a Broker (Knative's PingSource has no class; its
//   sink is the only thing that says it feeds Sluice).
// ContainerSource and SinkBinding are not watched in a cluster: there the container is a
// Deployment, which Knative's sources controller and webhook create and inject; Sluice's local
// runtime has nothing to run (docs/kubernetes.md, "Eventing").
import type { RawObject, Checked } from './cluster-objects.ts'
import { checked } from './cluster-objects.ts'
import { isSluiceBrokerClass } from '../validate-eventing.ts'

export type EventingBucket = 'brokers' | 'triggers' | 'pingSources'

export interface EventingKind {
  readonly bucket: EventingBucket
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
}

export const EVENTING_KINDS: readonly EventingKind[] = Object.freeze([
  { bucket: 'brokers', group: 'eventing.knative.dev', version: 'v1', plural: 'brokers', kind: 'Broker' },
  { bucket: 'triggers', group: 'eventing.knative.dev', version: 'v1', plural: 'triggers', kind: 'Trigger' },
  { bucket: 'pingSources', group: 'sources.knative.dev', version: 'v1', plural: 'pingsources', kind: 'PingSource' },
])

/** A list or watch that answered 404: the kind's CRD is not installed (client-node: `code` on lists, `statusCode` on watches). */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown } | null | undefined
  return e?.code === 404 || e?.statusCode === 404
}

/** A Broker of a Sluice class, checked like a file's; any other Broker is not read at all. */
export function mapEventing(bucket: EventingBucket, raw: RawObject): Checked | undefined {
  const k = EVENTING_KINDS.find((x) => x.bucket === bucket)!
  if (bucket === 'brokers' && !isSluiceBrokerClass(raw.metadata?.annotations)) return undefined
  return checked(raw, `${k.group}/${k.version}`, k.kind)
}

/** The `namespace/name` of the Broker a Trigger or PingSource belongs to (the snapshot keeps it only if that Broker is ours). */
export function eventingOwner(bucket: EventingBucket, raw: RawObject): string | undefined {
  const ns = raw.metadata?.namespace ?? ''
  const spec = raw['spec'] as Record<string, unknown> | undefined
  if (bucket === 'triggers') return typeof spec?.['broker'] === 'string' ? `${ns}/${spec['broker']}` : undefined
  if (bucket === 'pingSources') {
    const ref = (spec?.['sink'] as { ref?: { apiVersion?: unknown; kind?: unknown; name?: unknown; namespace?: unknown } } | undefined)?.ref
    if (ref?.kind !== 'Broker' || typeof ref.name !== 'string' || typeof ref.apiVersion !== 'string' || !ref.apiVersion.startsWith('eventing.knative.dev/')) return undefined
    return `${typeof ref.namespace === 'string' && ref.namespace !== '' ? ref.namespace : ns}/${ref.name}`
  }
  return undefined
}

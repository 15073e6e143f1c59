// Broker and Trigger statuses, as knative/eventing's MT broker reconcilers write them
// (pkg/reconciler/broker/broker.go, pkg/reconciler/broker/trigger/trigger.go, condition sets in
// pkg/apis/eventing/v1/{broker,trigger}_lifecycle.go), so `kubectl get broker/trigger` reads the
// same. Also resolves every destination once: compile/eventing.ts builds the table from this.
// Pure: no I/O, no clock.
import type { Broker, DestinationSpec, Trigger } from '../resources/eventing.ts'
import type { Condition } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import type { Destination } from '../../gateway/eventing/types.ts'
import { brokerBacking } from '../sources/validate-eventing.ts'
import { resolveDestination, type ResolveContext } from './destinations.ts'
import { condition, withReady } from './status.ts'
import { nsName } from './names.ts'

export interface EventingContext {
  /** resolves refs: Knative Services, Brokers and core Services that exist, and the internal origin */
  readonly resolve: ResolveContext
  readonly settings: Settings
  /** RFC 3339, for lastTransitionTime */
  readonly now: string
}

export interface BrokerResolution {
  readonly broker: Broker
  readonly key: string
  readonly backing: 'memory' | 'jetstream'
  readonly ready: boolean
  /** the Broker's Ready condition, which its Triggers mirror as BrokerReady */
  readonly readyCondition: Condition
  /** the Broker's own dead-letter sink, resolved */
  readonly deadLetterSink: Destination | null
  readonly url: string
}

export interface TriggerResolution {
  /** with its status */
  readonly trigger: Trigger
  readonly key: string
  /** the broker's `namespace/name` */
  readonly broker: string
  readonly ready: boolean
  readonly subscriber: Destination | null
  /** the Trigger's dead-letter sink, else its Broker's (as Knative's trigger reconciler falls back) */
  readonly deadLetterSink: Destination | null
}

export interface EventingResolution {
  /** by `namespace/name`, sorted */
  readonly brokers: ReadonlyMap<string, BrokerResolution>
  readonly triggers: ReadonlyMap<string, TriggerResolution>
}

export interface EventingOutput {
  /** the objects with status, sorted by namespace/name */
  readonly brokers: Broker[]
  readonly triggers: Trigger[]
  readonly resolution: EventingResolution
}

/** where brokers are reached inside the cluster: Knative's broker-ingress Service */
export function brokerIngressHost(settings: Settings): string {
  return `broker-ingress.knative-eventing.svc.${settings.clusterDomain}`
}

export function brokerUrl(settings: Settings, namespace: string, name: string): string {
  return `http://${brokerIngressHost(settings)}/${namespace}/${name}`
}

const keyOf = (o: Broker | Trigger): string => nsName(o.metadata.namespace, o.metadata.name)
/** first declaration of each namespace/name (sources report duplicates), sorted by it */
const byKey = <T extends Broker | Trigger>(objs: readonly T[]): T[] => {
  const seen = new Map<string, T>()
  for (const o of objs) {
    const k = keyOf(o)
    if (!seen.has(k)) seen.set(k, o)
  }
  return [...seen.keys()].sort().map((k) => seen.get(k)!)
}

const DLS_FAILED = 'Unable to get the dead letter sink\'s URI'
const SUBSCRIBER_FAILED = 'Unable to get the Subscriber\'s URI'

export function reconcileEventing(brokers: readonly Broker[], triggers: readonly Trigger[], ctx: EventingContext): EventingOutput {
  const { now, settings } = ctx
  const brokersOut: Broker[] = []
  const brokerRes = new Map<string, BrokerResolution>()
  for (const b of byKey(brokers)) {
    const key = keyOf(b)
    const backing = brokerBacking(b.metadata.annotations) ?? 'memory'
    const url = brokerUrl(settings, b.metadata.namespace, b.metadata.name)
    const status: Record<string, unknown> = { observedGeneration: b.metadata.generation ?? 1 }
    let channel = condition('TriggerChannelReady', 'True', now)
    if (backing === 'jetstream' && settings.sluice.natsUrl === null) {
      channel = condition('TriggerChannelReady', 'False', now, 'NatsUrlNotConfigured',
        'Broker class sluice.dev/jetstream needs NATS: set nats-url in ConfigMap config-sluice (e.g. nats://127.0.0.1:4222)')
    }
    const dls = deadLetterSink(b.spec.delivery?.deadLetterSink, b.metadata.namespace, 'spec.delivery.deadLetterSink', ctx.resolve, now)
    if (dls.uri !== undefined) status.deadLetterSinkUri = dls.uri
    status.address = { name: 'http', url }
    status.addresses = [{ name: 'http', url }]
    const conditions = withReady([
      condition('IngressReady', 'True', now),
      channel,
      condition('FilterReady', 'True', now),
      condition('Addressable', 'True', now),
      dls.condition,
      condition('EventPoliciesReady', 'True', now, 'OIDCDisabled', 'Feature "authentication-oidc" must be enabled to support Authorization'),
    ], now)
    status.conditions = conditions
    const readyCondition = conditions.find((c) => c.type === 'Ready')!
    brokersOut.push({ ...b, status })
    brokerRes.set(key, { broker: b, key, backing, ready: readyCondition.status === 'True', readyCondition, deadLetterSink: dls.destination, url })
  }

  const triggersOut: Trigger[] = []
  const triggerRes = new Map<string, TriggerResolution>()
  for (const t of byKey(triggers)) {
    const ns = t.metadata.namespace
    const brokerKey = nsName(ns, t.spec.broker)
    const b = brokerRes.get(brokerKey)
    const status: Record<string, unknown> = { observedGeneration: t.metadata.generation ?? 1 }
    let brokerReady: Condition
    let subscribed = condition('SubscriptionReady', 'Unknown', now, 'SubscriptionNotConfigured', 'Subscription has not yet been reconciled.')
    let subscriberResolved = condition('SubscriberResolved', 'Unknown', now)
    let dlsResolved = condition('DeadLetterSinkResolved', 'Unknown', now)
    let subscriber: Destination | null = null
    let dlsDest: Destination | null = null
    if (b === undefined) {
      brokerReady = condition('BrokerReady', 'False', now, 'BrokerDoesNotExist', `Broker ${JSON.stringify(t.spec.broker)} does not exist`)
    } else {
      const bc = b.readyCondition
      brokerReady = b.ready ? condition('BrokerReady', 'True', now) : condition('BrokerReady', bc.status, now, bc.reason, bc.message)
      // Knative stops here while the broker is not ready, leaving the rest Unknown.
      if (b.ready) {
        const r = resolveDestination(t.spec.subscriber, ns, ctx.resolve)
        if (r.ok) {
          subscriber = r.destination
          status.subscriberUri = r.destination.url
          subscriberResolved = condition('SubscriberResolved', 'True', now)
        } else {
          subscriberResolved = condition('SubscriberResolved', 'False', now, SUBSCRIBER_FAILED, located('spec.subscriber', r.path, r.message))
        }
        if (subscriber !== null) {
          if (t.spec.delivery?.deadLetterSink !== undefined) {
            const dls = deadLetterSink(t.spec.delivery.deadLetterSink, ns, 'spec.delivery.deadLetterSink', ctx.resolve, now)
            dlsResolved = dls.condition
            dlsDest = dls.destination
          } else if (b.broker.spec.delivery?.deadLetterSink !== undefined) {
            // the broker's, as its status says it (a broker whose sink did not resolve is not ready, so we never get here then)
            dlsDest = b.deadLetterSink
            dlsResolved = condition('DeadLetterSinkResolved', 'True', now)
          } else {
            dlsResolved = condition('DeadLetterSinkResolved', 'True', now, 'DeadLetterSinkNotConfigured', 'No dead letter sink is configured.')
          }
          if (dlsDest !== null) status.deadLetterSinkUri = dlsDest.url
          // Sluice's data plane subscribes the trigger itself: no Subscription object to wait for.
          if (dlsResolved.status === 'True') subscribed = condition('SubscriptionReady', 'True', now)
        }
      }
    }
    const conditions = withReady([
      brokerReady,
      subscribed,
      condition('DependencyReady', 'True', now),
      subscriberResolved,
      dlsResolved,
      condition('OIDCIdentityCreated', 'True', now, 'authentication-oidc feature disabled'),
    ], now)
    status.conditions = conditions
    const ready = conditions.find((c) => c.type === 'Ready')!.status === 'True'
    const withStatus = { ...t, status }
    triggersOut.push(withStatus)
    triggerRes.set(keyOf(t), { trigger: withStatus, key: keyOf(t), broker: brokerKey, ready, subscriber, deadLetterSink: dlsDest })
  }
  return { brokers: brokersOut, triggers: triggersOut, resolution: { brokers: brokerRes, triggers: triggerRes } }
}

/** `spec.subscriber.ref: services.serving.knative.dev "x" not found …` */
function located(prefix: string, path: string, message: string): string {
  return `${path === '' ? prefix : `${prefix}.${path}`}: ${message}`
}

function deadLetterSink(spec: DestinationSpec | undefined, namespace: string, at: string, resolve: ResolveContext, now: string):
  { condition: Condition; destination: Destination | null; uri?: string } {
  if (spec === undefined) {
    return { condition: condition('DeadLetterSinkResolved', 'True', now, 'DeadLetterSinkNotConfigured', 'No dead letter sink is configured.'), destination: null }
  }
  const r = resolveDestination(spec, namespace, resolve)
  if (!r.ok) return { condition: condition('DeadLetterSinkResolved', 'False', now, DLS_FAILED, located(at, r.path, r.message)), destination: null }
  return { condition: condition('DeadLetterSinkResolved', 'True', now), destination: r.destination, uri: r.destination.url }
}

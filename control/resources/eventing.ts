// Typed shapes of Knative Eventing resources (eventing.knative.dev/v1, sources.knative.dev/v1),
// field names and JSON shapes exactly as Knative's, so manifests from the Knative docs load unchanged.
import type { KObject } from './types.ts'
import type { SubscriptionsApiFilter } from '../../gateway/eventing/types.ts'
export type { SubscriptionsApiFilter }

/** duck/v1 KReference */
export interface KReference { apiVersion?: string; kind: string; name: string; namespace?: string }
/** duck/v1 Destination: a ref and/or a uri (a relative uri resolves against the ref) */
export interface DestinationSpec { ref?: KReference; uri?: string; CACerts?: string; audience?: string }
/** duck/v1 DeliverySpec; durations are ISO-8601 (`PT0.2S`) as written */
export interface DeliverySpecSpec {
  deadLetterSink?: DestinationSpec
  retry?: number
  backoffPolicy?: 'linear' | 'exponential'
  backoffDelay?: string
  /** Sluice extension (knative/eventing#9278) */
  backoffMax?: string
  timeout?: string
  retryAfterMax?: string
  format?: 'json' | 'binary'
}

export type Broker = KObject<{ config?: KReference; delivery?: DeliverySpecSpec }>

export type Trigger = KObject<{
  broker: string
  filter?: { attributes?: Record<string, string> }
  filters?: SubscriptionsApiFilter[]
  subscriber: DestinationSpec
  delivery?: DeliverySpecSpec
}>

export interface CloudEventOverrides { extensions?: Record<string, string> }
export type PingSource = KObject<{
  schedule?: string
  timezone?: string
  contentType?: string
  data?: string
  dataBase64?: string
  sink: DestinationSpec
  ceOverrides?: CloudEventOverrides
}>
/** spec.template is a PodTemplateSpec; the local runtime runs its first container's command */
export type ContainerSource = KObject<{ template: { metadata?: Record<string, unknown>; spec: Record<string, unknown> }; sink: DestinationSpec; ceOverrides?: CloudEventOverrides }>
export type SinkBinding = KObject<{
  subject: { apiVersion: string; kind: string; name?: string; namespace?: string; selector?: Record<string, unknown> }
  sink: DestinationSpec
  ceOverrides?: CloudEventOverrides
}>

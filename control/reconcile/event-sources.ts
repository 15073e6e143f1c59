// Status of PingSources, ContainerSources and SinkBindings (sources.knative.dev/v1), as knative/eventing
// computes it (pkg/apis/sources/v1/{ping,container,sinkbinding}_lifecycle.go): a living condition set
// whose Ready is the AND of its dependents, and status.sinkUri once the sink resolved. Pure: the local
// runtime's view (is the source scheduled / its process running) comes in as plain values.
import type { Condition, KObject } from '../resources/types.ts'
import type { ContainerSource, DestinationSpec, PingSource, SinkBinding } from '../resources/eventing.ts'
import type { Resolved } from './destinations.ts'
import { condition, withReady } from './status.ts'

export type Resolve = (dest: DestinationSpec, namespace: string) => Resolved

/** what the runtime says about a ContainerSource's process */
export interface AdapterView { readonly running: boolean; readonly lastExit: string | undefined }

function sinkCondition(type: string, r: Resolved, now: string): Condition {
  if (r.ok) return condition(type, 'True', now)
  return condition(type, 'False', now, 'NotFound', `Sink not found: ${r.path !== '' ? `spec.sink.${r.path}: ` : ''}${r.message}`)
}

function withStatus<T extends KObject>(o: T, conditions: Condition[], r: Resolved): T {
  const status: Record<string, unknown> = { observedGeneration: o.metadata.generation ?? 1, conditions }
  if (r.ok) status['sinkUri'] = r.destination.url
  return { ...o, status }
}

/** PingSource: SinkProvided, Deployed (the local scheduler runs it) → Ready */
export function pingSourceWithStatus(ps: PingSource, r: Resolved, now: string): PingSource {
  const deployed = r.ok
    ? condition('Deployed', 'True', now)
    : condition('Deployed', 'Unknown', now) // the reconciler stops at the missing sink, as Knative's does
  return withStatus(ps, withReady([sinkCondition('SinkProvided', r, now), deployed], now), r)
}

/** ContainerSource: SinkBindingReady (its generated binding's sink), ReceiveAdapterReady (the process runs) → Ready */
export function containerSourceWithStatus(cs: ContainerSource, r: Resolved, adapter: AdapterView | undefined, now: string): ContainerSource {
  const name = `${cs.metadata.name}-deployment`
  let ra: Condition
  if (!r.ok) ra = condition('ReceiveAdapterReady', 'Unknown', now)
  else if (adapter?.running === true) ra = condition('ReceiveAdapterReady', 'True', now)
  else if (adapter?.lastExit !== undefined) ra = condition('ReceiveAdapterReady', 'False', now, 'ProcessExited', `The receive adapter ${name} ${adapter.lastExit}; it is restarted with backoff (see sluice logs)`)
  else ra = condition('ReceiveAdapterReady', 'Unknown', now, 'DeploymentUnavailable', `The receive adapter ${name} is starting.`)
  return withStatus(cs, withReady([sinkCondition('SinkBindingReady', r, now), ra], now), r)
}

/** SinkBinding: SinkProvided, SinkBindingAvailable (the named subject exists) → Ready */
export function sinkBindingWithStatus(sb: SinkBinding, r: Resolved, subjects: number, now: string): SinkBinding {
  const s = sb.spec.subject
  const available = s.name !== undefined && subjects === 0
    ? condition('SinkBindingAvailable', 'False', now, 'SubjectMissing', `${s.apiVersion} ${s.kind} ${s.namespace ?? sb.metadata.namespace}/${s.name} not found`)
    : condition('SinkBindingAvailable', 'True', now)
  return withStatus(sb, withReady([sinkCondition('SinkProvided', r, now), available], now), r)
}

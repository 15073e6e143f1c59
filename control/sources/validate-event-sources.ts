// PingSource, ContainerSource and SinkBinding (sources.knative.dev/v1): typed, defaulted specs with
// located errors. Skeleton: the event-sources work fills in knative/eventing's webhook rules here.
import type { Issues, Obj } from './fields.ts'
import type { ContainerSource, PingSource, SinkBinding } from '../resources/eventing.ts'

export function buildPingSource(_is: Issues, raw: Obj): PingSource['spec'] {
  return (raw['spec'] ?? {}) as PingSource['spec']
}

export function buildContainerSource(_is: Issues, raw: Obj): ContainerSource['spec'] {
  return (raw['spec'] ?? {}) as ContainerSource['spec']
}

export function buildSinkBinding(_is: Issues, raw: Obj): SinkBinding['spec'] {
  return (raw['spec'] ?? {}) as SinkBinding['spec']
}

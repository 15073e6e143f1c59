// Broker and Trigger (eventing.knative.dev/v1): typed, defaulted specs with located errors.
// Skeleton: the eventing work fills in the rules of knative/eventing's webhooks
// (pkg/apis/eventing/v1/{broker,trigger}_validation.go) here.
import type { Issues, Obj } from './fields.ts'
import type { Broker, Trigger } from '../resources/eventing.ts'

export function buildBroker(_is: Issues, raw: Obj): Broker['spec'] {
  return (raw['spec'] ?? {}) as Broker['spec']
}

export function buildTrigger(_is: Issues, raw: Obj): Trigger['spec'] {
  return (raw['spec'] ?? {}) as Trigger['spec']
}

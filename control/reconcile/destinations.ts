// Destination resolution (Knative duck/v1 Destination → URL), shared by Triggers, dead-letter sinks
// and sources. Follows knative.dev/pkg/resolver: a `ref` resolves to the addressable's URL, a `uri`
// alone is used as is, a relative `uri` with a `ref` is resolved against the ref's URL.
// Skeleton: the eventing control work completes the kinds and the located errors.
import type { DestinationSpec } from '../resources/eventing.ts'
import type { Destination } from '../../gateway/eventing/types.ts'

export interface ResolveContext {
  /** the gateway's internal listener origin (`http://127.0.0.1:8081`): Sluice-served hosts are reached through it */
  readonly internalOrigin: string
  /** Knative Services (`namespace/name`) and Brokers (`namespace/name`) that exist */
  readonly services: ReadonlySet<string>
  readonly brokers: ReadonlySet<string>
}

export type Resolved = { readonly ok: true; readonly destination: Destination } | { readonly ok: false; readonly path: string; readonly message: string }

export const BROKER_INGRESS_HOST = 'broker-ingress.knative-eventing.svc.cluster.local'

/** `namespace` is the referring object's: a ref without one is in the same namespace. */
export function resolveDestination(dest: DestinationSpec, namespace: string, ctx: ResolveContext): Resolved {
  if (dest.ref === undefined) {
    if (dest.uri === undefined) return { ok: false, path: '', message: 'a destination needs ref or uri' }
    return { ok: true, destination: { url: dest.uri, connectTo: null } }
  }
  const ns = dest.ref.namespace ?? namespace
  const key = `${ns}/${dest.ref.name}`
  let base: string
  if (dest.ref.kind === 'Service' && (dest.ref.apiVersion ?? '').startsWith('serving.knative.dev/')) {
    if (!ctx.services.has(key)) return { ok: false, path: 'ref', message: `Knative Service ${key} not found` }
    base = `http://${dest.ref.name}.${ns}.svc.cluster.local`
  } else if (dest.ref.kind === 'Broker') {
    if (!ctx.brokers.has(key)) return { ok: false, path: 'ref', message: `Broker ${key} not found` }
    base = `http://${BROKER_INGRESS_HOST}/${ns}/${dest.ref.name}`
  } else {
    return { ok: false, path: 'ref.kind', message: `cannot resolve ${dest.ref.apiVersion ?? ''} ${dest.ref.kind}; use a serving.knative.dev/v1 Service, a Broker, or a uri` }
  }
  const url = dest.uri === undefined ? base : new URL(dest.uri, base + '/').toString()
  return { ok: true, destination: { url, connectTo: ctx.internalOrigin } }
}

// Destination resolution (Knative duck/v1 Destination → URL), shared by Triggers, dead-letter sinks
// and sources. Follows knative.dev/pkg/resolver (URIResolver.AddressableFromDestinationV1): a `ref`
// resolves to the addressable's address URL, a `uri` alone is used as is (absolute, with a host),
// a relative `uri` with a `ref` is resolved against the ref's URL (Go's url.ResolveReference, so
// `/x` replaces the path and `x` replaces its last segment). Pure: no I/O.
import type { DestinationSpec } from '../resources/eventing.ts'
import type { CoreService, KObject } from '../resources/types.ts'
import type { Destination } from '../../gateway/eventing/types.ts'

export interface ResolveContext {
  /** the gateway's internal listener origin (`http://127.0.0.1:8081`): Sluice-served hosts are reached through it */
  readonly internalOrigin: string
  /** Knative Services (`namespace/name`) and Brokers (`namespace/name`) that exist */
  readonly services: ReadonlySet<string>
  readonly brokers: ReadonlySet<string>
  /** core v1 Services (`namespace/name`) that exist; without it core Service refs do not resolve */
  readonly coreServices?: ReadonlySet<string>
  /** Kubernetes cluster domain for `<name>.<ns>.svc.<domain>` addresses (default `cluster.local`) */
  readonly clusterDomain?: string
}

/**
 * `path` is relative to the destination (`ref`, `ref.kind`, `uri`, '' for the whole), so callers
 * prefix it with where the destination sits (`spec.subscriber`, `spec.delivery.deadLetterSink`).
 */
export type Resolved = { readonly ok: true; readonly destination: Destination } | { readonly ok: false; readonly path: string; readonly message: string }

export const BROKER_INGRESS_HOST = 'broker-ingress.knative-eventing.svc.cluster.local'

/**
 * The Knative Services a ref may name (`namespace/name`): those declared (files), and those Knative
 * Serving runs in a cluster, known by the placeholder core Service its Route reconciler creates for
 * each (named after the Route, labelled `serving.knative.dev/service`; knative/serving
 * pkg/reconciler/route/resources/service.go), which Sluice watches anyway.
 */
export function knativeServiceKeys(declared: readonly KObject[], coreServices: readonly CoreService[]): Set<string> {
  const keys = new Set(declared.map((s) => `${s.metadata.namespace}/${s.metadata.name}`))
  for (const c of coreServices) {
    const ksvc = c.metadata.labels['serving.knative.dev/service']
    if (ksvc !== undefined && ksvc === c.metadata.name) keys.add(`${c.metadata.namespace}/${ksvc}`)
  }
  return keys
}

const fail = (path: string, message: string): Resolved => ({ ok: false, path, message })

/** `namespace` is the referring object's: a ref without one is in the same namespace. */
export function resolveDestination(dest: DestinationSpec, namespace: string, ctx: ResolveContext): Resolved {
  const clusterDomain = ctx.clusterDomain ?? 'cluster.local'
  if (dest.ref === undefined) {
    if (dest.uri === undefined) return fail('', 'a destination needs a ref or a uri')
    const url = absoluteUrl(dest.uri)
    if (url === undefined) return fail('uri', `${JSON.stringify(dest.uri)} is not an absolute URL with a host; write e.g. http://host/path, or add a ref to resolve it against`)
    return { ok: true, destination: { url: url.toString(), connectTo: null } }
  }
  const ref = dest.ref
  const ns = ref.namespace ?? namespace
  const key = `${ns}/${ref.name}`
  const group = (ref.apiVersion ?? '').split('/')
  const api = group.length === 2 ? group[0] : '' // '' = the core group (`v1`)
  let base: string
  let connectTo: string | null = ctx.internalOrigin
  if (ref.kind === 'Service' && api === 'serving.knative.dev') {
    if (!ctx.services.has(key)) return fail('ref', `services.serving.knative.dev "${ref.name}" not found in namespace ${ns}; create the Service or fix ref.name`)
    base = `http://${ref.name}.${ns}.svc.${clusterDomain}`
  } else if (ref.kind === 'Broker' && api === 'eventing.knative.dev') {
    if (!ctx.brokers.has(key)) return fail('ref', `brokers.eventing.knative.dev "${ref.name}" not found in namespace ${ns}; create the Broker or fix ref.name`)
    base = `http://${BROKER_INGRESS_HOST}/${ns}/${ref.name}`
  } else if (ref.kind === 'Service' && ref.apiVersion === 'v1') {
    if (ctx.coreServices === undefined || !ctx.coreServices.has(key)) return fail('ref', `services "${ref.name}" not found in namespace ${ns}; create the Service or fix ref.name`)
    // as Knative resolves a core Service: its cluster DNS name, reached directly
    base = `http://${ref.name}.${ns}.svc.${clusterDomain}`
    connectTo = null
  } else {
    return fail('ref', `cannot resolve ${ref.apiVersion ?? '(no apiVersion)'} ${ref.kind} to an address; use a serving.knative.dev/v1 Service, an eventing.knative.dev/v1 Broker, a v1 Service, or a uri`)
  }
  if (dest.uri === undefined) return { ok: true, destination: { url: base, connectTo } }
  if (absoluteUrl(dest.uri) !== undefined) return fail('uri', `an absolute URI is not allowed together with ref; write a path relative to the ref (e.g. /events) or remove the ref`)
  let url: string
  try {
    url = new URL(dest.uri, base).toString()
  } catch {
    return fail('uri', `${JSON.stringify(dest.uri)} is not a valid relative URI`)
  }
  return { ok: true, destination: { url, connectTo } }
}

/** an absolute URL with a host, or undefined */
function absoluteUrl(uri: string): URL | undefined {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(uri)) return undefined
  try {
    const u = new URL(uri)
    return u.host === '' ? undefined : u
  } catch {
    return undefined
  }
}

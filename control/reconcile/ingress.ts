// KIngress: the one Serving generates for a Route (pkg/reconciler/route/resources/ingress.go),
// its status, and the conversion of any KIngress into the routing model.
import { retryAttempts } from '../settings/outlier-keys.ts'
import type { Condition, IngressPath, IngressRule, IngressSplit, KIngress, Route } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import type { RoutingIngress, RoutingPath } from '../model.ts'
import type { RouteHosts } from './domains.ts'
import { expandedHosts } from './domains.ts'
import type { RevisionTarget, TrafficConfig } from './route.ts'
import {
  DEFAULT_ROUTE_HEADER, HTTP_PROTOCOL_ANNOTATIONS, NAMESPACE_HEADER, REVISION_HEADER, ROUTE_LABEL, ROUTE_NAMESPACE_LABEL,
  SERVICE_LABEL, TAG_HEADER,
} from './names.ts'
import { condition, withReady } from './status.ts'

export const PRIVATE_LB = 'sluice-internal.sluice-system.svc.cluster.local'
export const PUBLIC_LB = 'sluice.sluice-system.svc.cluster.local'

/** Each split goes to the revision's (public) service: port 80 for http1, 81 for h2c. 0% splits are left out. */
function basePath(ns: string, targets: readonly RevisionTarget[]): IngressPath {
  const splits: IngressSplit[] = targets.filter((t) => t.percent > 0).map((t) => ({
    serviceNamespace: ns,
    serviceName: t.revisionName,
    servicePort: t.protocol === 'h2c' ? 81 : 80,
    percent: t.percent,
    appendHeaders: { [REVISION_HEADER]: t.revisionName, [NAMESPACE_HEADER]: ns },
  }))
  return { splits }
}

function httpOption(route: Route, s: Settings): 'Enabled' | 'Redirected' {
  for (const key of HTTP_PROTOCOL_ANNOTATIONS) {
    const v = route.metadata.annotations?.[key]?.toLowerCase()
    if (v === 'redirected') return 'Redirected'
    if (v === 'enabled') return 'Enabled'
  }
  return s.httpProtocol
}

/** The KIngress Serving would write for this Route; same name and namespace as the Route. */
export function makeIngress(route: Route, traffic: TrafficConfig, hosts: RouteHosts, s: Settings): KIngress {
  const ns = route.metadata.namespace
  const names = [...traffic.targets.keys()].filter((n) => traffic.targets.get(n)!.length > 0).sort()
  const rules: IngressRule[] = []
  for (const name of names) {
    const visibilities = hosts.clusterLocal ? ['ClusterLocal'] as const : ['ClusterLocal', 'ExternalIP'] as const
    for (const visibility of visibilities) {
      const ruleHosts = visibility === 'ClusterLocal' ? expandedHosts(hosts.local(name), s.clusterDomain) : [hosts.external(name)!]
      const main = basePath(ns, traffic.targets.get(name)!)
      let paths = [main]
      if (s.tagHeaderBasedRouting) {
        if (name === '') {
          main.appendHeaders = { [DEFAULT_ROUTE_HEADER]: 'true' }
          // Header-matched paths for every tag go before the catch-all.
          const tagPaths = names.filter((n) => n !== '').map((tag): IngressPath => ({
            headers: { [TAG_HEADER]: { exact: tag } },
            splits: basePath(ns, traffic.targets.get(tag)!).splits,
          }))
          paths = [...tagPaths, main]
        } else {
          main.appendHeaders = { [TAG_HEADER]: name }
        }
      }
      rules.push({ hosts: ruleHosts, visibility, http: { paths } })
    }
  }
  const labels: Record<string, string> = { [ROUTE_LABEL]: route.metadata.name, [ROUTE_NAMESPACE_LABEL]: ns }
  const svc = route.metadata.labels?.[SERVICE_LABEL]
  if (svc !== undefined) labels[SERVICE_LABEL] = svc
  return {
    apiVersion: 'networking.internal.knative.dev/v1alpha1',
    kind: 'Ingress',
    metadata: {
      name: route.metadata.name,
      namespace: ns,
      labels,
      annotations: { ...route.metadata.annotations },
      generation: 1,
      ...(route.metadata.creationTimestamp !== undefined ? { creationTimestamp: route.metadata.creationTimestamp } : {}),
    },
    spec: { rules, httpOption: httpOption(route, s) },
  }
}

export interface IngressOutcome {
  readonly served: boolean
  /** set when another ingress already holds one of this ingress's hosts */
  readonly conflict?: { readonly host: string; readonly winner: string }
  /** backends that could not be resolved (missing Service, no endpoints) */
  readonly problems: readonly string[]
}

/** KIngress status as Kourier writes it: NetworkConfigured ∧ LoadBalancerReady → Ready. */
export function ingressWithStatus(ing: KIngress, o: IngressOutcome, now: string): KIngress {
  const network = o.problems.length === 0
    ? condition('NetworkConfigured', 'True', now)
    : condition('NetworkConfigured', 'Unknown', now, 'EndpointsNotReady', `${o.problems.join('; ')}; requests to these backends get 503`)
  let lb: Condition
  const status: Record<string, unknown> = { observedGeneration: ing.metadata.generation ?? 1 }
  if (o.served) {
    lb = condition('LoadBalancerReady', 'True', now)
    status.privateLoadBalancer = { ingress: [{ domainInternal: PRIVATE_LB }] }
    status.publicLoadBalancer = { ingress: [{ domainInternal: PUBLIC_LB }] }
  } else {
    const why = o.conflict !== undefined
      ? `Ingress rejected as its domain conflicts with another ingress: host ${JSON.stringify(o.conflict.host)} is already served by ${o.conflict.winner}`
      : 'Ingress rejected as its domain conflicts with another ingress'
    lb = condition('LoadBalancerReady', 'False', now, 'DomainConflict', why)
  }
  status.conditions = withReady([network, lb], now)
  return { ...ing, status }
}

/** TRACE echoes requests, credentials included (cross-site tracing): a route opts in with this. */
export const ALLOW_TRACE_ANNOTATION = 'sluice.dev/allow-trace'

function withRetry(attempts: number | undefined): { retryAttempts?: number } {
  return attempts === undefined ? {} : { retryAttempts: attempts }
}

/** Lower-case host list of a rule; no hosts means any host. */
export function ruleHosts(rule: IngressRule): string[] {
  const hosts = (rule.hosts ?? []).map((h) => h.toLowerCase())
  return hosts.length === 0 ? ['*'] : hosts
}

/**
 * KIngress → routing model. `backendKey` resolves a split to a BackendSpec key (and records the
 * backend); it is given by the caller so generated and user ingresses can resolve differently.
 */
export function toRoutingIngress(ing: KIngress, ownerKind: 'Route' | 'Ingress', backendKey: (split: IngressSplit, path: IngressPath) => string, hash = ''): RoutingIngress {
  return {
    hash,
    namespace: ing.metadata.namespace,
    name: ing.metadata.name,
    ownerKind,
    httpOption: ing.spec.httpOption === 'Redirected' ? 'Redirected' : 'Enabled',
    allowTrace: ing.metadata.annotations?.[ALLOW_TRACE_ANNOTATION] === 'true',
    ...withRetry(retryAttempts(ing.metadata.annotations)),
    rules: ing.spec.rules.map((rule) => ({
      hosts: ruleHosts(rule),
      visibility: rule.visibility ?? 'ExternalIP',
      paths: rule.http.paths.map((p): RoutingPath => {
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(p.headers ?? {})) headers[k] = v.exact ?? ''
        const single = p.splits.length === 1
        return {
          path: p.path ?? '',
          rewriteHost: p.rewriteHost ?? '',
          headers,
          appendHeaders: { ...p.appendHeaders },
          // KIngress defaulting: a lone split without a percent takes everything.
          splits: p.splits.map((sp) => ({
            backend: backendKey(sp, p),
            percent: single && !sp.percent ? 100 : sp.percent ?? 0,
            appendHeaders: { ...sp.appendHeaders },
          })),
        }
      }),
    })),
  }
}

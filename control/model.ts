// The routing model: what reconcile hands to compile. Every host, path and split is resolved
// here (Routes flattened to KIngress shape, Services resolved to endpoints), so compile only has
// to turn it into fast lookup structures.
import type { ResilienceOverrides } from './settings/outlier-keys.ts'
import type { Visibility } from './resources/types.ts'

/** Timeouts in milliseconds; 0 means none. Knative semantics: see gateway/timeouts.ts. */
export interface Timeouts {
  readonly totalMs: number
  readonly responseStartMs: number
  readonly idleMs: number
}

export type UpstreamProtocol = 'http1' | 'h2c'

/** One backend a split can point at: a revision, or a Kubernetes Service port. */
export interface BackendSpec {
  /** stable identity, e.g. `revision/default/hello-00001` or `service/default/backend/80` */
  readonly key: string
  readonly namespace: string
  /** metrics label: the revision's Knative Service ('' when it has none), or the k8s Service name (docs/metrics.md) */
  readonly service: string
  /** metrics label: the revision's Knative Configuration; absent for k8s Services not made for a revision */
  readonly configuration?: string
  /** metrics label: the revision name, or the k8s Service name for plain KIngress backends */
  readonly revision: string
  /** ready instances as origins (`http://host:port`, `https://` with upstreamTls); may be empty (then requests get 503) */
  readonly origins: readonly string[]
  readonly protocol: UpstreamProtocol
  readonly timeouts: Timeouts
  /** revision containerConcurrency; 0 (unlimited) for Service backends */
  readonly containerConcurrency: number
  /** config-network system-internal-tls applies: TLS to the origins, checked against Knative's CAs and SANs */
  readonly upstreamTls?: boolean
  /** run by the local runtime (the revision has a command): instances come and go, from zero */
  readonly managed: boolean
  /** the revision's sluice.dev/outlier-* and sluice.dev/breaker-* annotations (valid values); absent: config-sluice's */
  readonly resilience?: ResilienceOverrides
  /**
   * The runtime reports the revision failing (crash loop, progress deadline): the one-line answer
   * (control/reconcile/unavailable.ts) given at once, with 503, while it has no ready instance.
   */
  readonly unavailable?: string
}

export interface RoutingSplit {
  readonly backend: string // BackendSpec.key
  readonly percent: number
  /** header name → value, set (overwrite) on the upstream request */
  readonly appendHeaders: Readonly<Record<string, string>>
}

export interface RoutingPath {
  /** literal prefix starting with `/`, or '' for everything */
  readonly path: string
  readonly rewriteHost: string
  /** header name → exact value ('' means "present") */
  readonly headers: Readonly<Record<string, string>>
  readonly appendHeaders: Readonly<Record<string, string>>
  readonly splits: readonly RoutingSplit[]
}

export interface RoutingRule {
  /** lower-case FQDNs; '*' matches any host, '*.example.com' any subdomain */
  readonly hosts: readonly string[]
  readonly visibility: Visibility
  readonly paths: readonly RoutingPath[]
}

/** A KIngress, written by a user or generated from a Route, that won all its hosts. */
export interface RoutingIngress {
  readonly namespace: string
  readonly name: string
  /** the object that owns it: `Route` for generated ingresses, `Ingress` for KIngress objects */
  readonly ownerKind: 'Route' | 'Ingress'
  readonly rules: readonly RoutingRule[]
  readonly httpOption: 'Enabled' | 'Redirected'
  /** annotation `sluice.dev/allow-trace: "true"`: TRACE reaches the backends (else 405) */
  readonly allowTrace: boolean
  /** annotation `sluice.dev/retry-attempts`: the route's retries (absent: the default policy) */
  readonly retryAttempts?: number
  /** Knative's readiness hash of the spec served (K-Network-Hash), '' when not computed */
  readonly hash: string
}

/**
 * A host of a Route that exists but cannot be served yet (its revision is starting, failed, has
 * nothing to run): answered 503 with Retry-After and `message` instead of 404. Hosts that some
 * ingress serves never get here.
 */
export interface UnavailableHost {
  readonly host: string
  readonly visibility: Visibility
  /** `namespace/name` of the Route */
  readonly route: string
  /** Knative's Route reason (AllTrafficAssigned): RevisionMissing, ConfigurationMissing, NoTraffic */
  readonly reason: string
  /** one line, without the newline */
  readonly message: string
}

export interface RoutingModel {
  readonly ingresses: readonly RoutingIngress[]
  readonly backends: ReadonlyMap<string, BackendSpec>
  /** absent: none */
  readonly unavailable?: readonly UnavailableHost[]
}

// The compiled, frozen route table the gateway serves from. control/compile builds it; the
// gateway only reads it. Everything a request needs is precomputed here so that matching is a
// Map lookup plus a short scan, and no per-request work depends on configuration parsing.
import type { BreakerLimits, RevisionThrottler } from './activator/throttler.ts'
import type { OutlierPolicy } from './activator/outlier-detector.ts'
import type { RetryBudget, RetryPolicy } from './activator/retry-budget.ts'
import type { RouteSlot } from './metrics/route-slots.ts'
import type { PluginChain } from './plugins/chain.ts'
import type { TrustedProxies } from './trusted-proxies.ts'
import type { UpstreamEdits } from './forward-headers.ts'
import type { UpstreamTls } from './upstream-tls.ts'
import type { AccessLog } from './access-log.ts'

/** The upstream instances of one revision or Service port. */
export interface Backend {
  readonly key: string
  readonly namespace: string
  readonly revision: string
  /** the revision's Knative Service and Configuration, for metrics labels ('' or absent: none) */
  readonly service?: string
  readonly configuration?: string
  /** with `tls`, h2c means HTTP/2 over TLS (ALPN h2) */
  readonly protocol: 'http1' | 'h2c'
  /** origins of ready instances (`https://` with `tls`); an empty list answers 503 */
  readonly origins: readonly string[]
  readonly totalMs: number
  readonly responseStartMs: number
  readonly idleMs: number
  /**
   * The runtime reports this revision failing: the one-line answer (with its newline) given at
   * once with 503 while no instance is ready, instead of a wait that ends in 504. Absent: none.
   */
  readonly unavailable?: string | null
  /** undici headersTimeout: the first of total, responseStart and idle (0 = none) */
  readonly firstByteMs: number
  /** 0 = unlimited requests per instance */
  readonly containerConcurrency: number
  /** instances come from a runtime (scale from zero), not from `origins` */
  readonly managed: boolean
  /** config-network system-internal-tls: how connections to `origins` are secured, else null */
  readonly tls?: UpstreamTls | null
  /** outlier detection (config-sluice outlier-* and sluice.dev/outlier-* annotations); absent: the defaults */
  readonly outlier?: OutlierPolicy
  /** circuit-breaker limits (config-sluice breaker-*, sluice.dev/breaker-*); absent: none */
  readonly breaker?: BreakerLimits
  /** retry budget (config-sluice retry-budget-*, sluice.dev/retry-budget-*); absent: DEFAULT_RETRY_BUDGET */
  readonly retryBudget?: RetryBudget
  /** set by the gateway when the table is installed: the revision's throttler, shared across tables */
  throttler: RevisionThrottler | null
}

export interface Split extends UpstreamEdits {
  readonly backend: Backend
  /** cumulative upper bound of this split's share in [0, 100) */
  readonly upTo: number
  readonly slot: RouteSlot
  /** the route's retry policy (sluice.dev/retry-attempts); absent: DEFAULT_RETRY_POLICY */
  readonly retry?: RetryPolicy
}

export interface PathRoute {
  readonly prefix: string
  /** exact header matches, lower-case names; '' value means "present" */
  readonly matchNames: readonly string[]
  readonly matchValues: readonly string[]
  readonly splits: readonly Split[]
  /** sum of the percents (100, or 0 when every split is 0%) */
  readonly total: number
}

export interface VirtualHost {
  /** `namespace/name` of the ingress (KIngress or Route) that owns this host */
  readonly owner: string
  readonly route: { readonly namespace: string; readonly name: string }
  /** the plugins attached to the route, or null (the plain path) */
  readonly plugins: PluginChain | null
  /** metrics for answers plugins give themselves (no revision) */
  readonly localSlot: RouteSlot
  readonly paths: readonly PathRoute[]
  /** httpOption Redirected: plain HTTP gets a 301 to https on the external listener */
  readonly redirectHttps: boolean
  /** TRACE is proxied (annotation sluice.dev/allow-trace); otherwise it is answered 405 */
  readonly allowTrace: boolean
}

/**
 * A declared host that cannot be served yet (its Route has no ready traffic): answered 503 with
 * Retry-After and `body` instead of 404. Consulted only when no VirtualHost matches.
 */
export interface UnavailableHost {
  /** `namespace/name` of the Route */
  readonly route: string
  /** Knative's Route reason: RevisionMissing, ConfigurationMissing, NoTraffic */
  readonly reason: string
  /** one line and its newline */
  readonly body: string
}

export interface HostTable {
  readonly exact: ReadonlyMap<string, VirtualHost>
  /** `*.suffix` entries as [".suffix", host], longest suffix first */
  readonly suffixes: readonly (readonly [string, VirtualHost])[]
  readonly any: VirtualHost | null
  /** exact lower-case hosts without a port → why they answer 503 (absent: none) */
  readonly unavailable?: ReadonlyMap<string, UnavailableHost>
}

export interface RouteTable {
  readonly version: number
  /** ExternalIP rules, served on the public listener */
  readonly external: HostTable
  /** every rule, served on the internal listener */
  readonly internal: HostTable
  readonly backends: ReadonlyMap<string, Backend>
  /** number of (host, path) routes, for the route-count metric */
  readonly routeCount: number
  /**
   * config-sluice trusted-proxies: the peers whose Forwarded / X-Forwarded-* are kept (null: none,
   * the default). On the table rather than set on the gateway: a reload changes routes and trust in
   * one atomic swap, and whatever is handed compiled tables (a worker too) gets trust with them,
   * with no second channel from control/ to keep in step.
   */
  readonly trustedProxies: TrustedProxies | null
  /**
   * config-sluice disable-server-header: the `server` response header Sluice writes over the
   * upstream's ('sluice', Envoy's behaviour), or null to pass the upstream's through. Optional: absent is null.
   */
  readonly serverHeader?: string | null
  /** config-sluice enable-service-access-logging: every request's line, or null (absent: null) */
  readonly accessLog?: AccessLog | null
}

export const emptyHostTable: HostTable = Object.freeze({ exact: new Map(), suffixes: [], any: null })

export function emptyRouteTable(): RouteTable {
  return Object.freeze({ version: 0, external: emptyHostTable, internal: emptyHostTable, backends: new Map(), routeCount: 0, trustedProxies: null })
}

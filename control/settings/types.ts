// Settings read from the ConfigMaps in the config directory. Keys and defaults are Knative's
// (config-domain, config-network, config-features, config-defaults) plus Sluice's own config-sluice.
import type { ExtAuthzKeys } from './extauthz-keys.ts'
import type { Resilience } from './outlier-keys.ts'
import type { TracingConfig } from '../../gateway/tracing/tracing-config.ts'

export interface DomainRule {
  readonly domain: string
  /** label selector; empty matches every Route */
  readonly selector: Readonly<Record<string, string>>
}

export interface Settings {
  /** config-domain; default [{ domain: 'localhost', selector: {} }] in standalone mode */
  readonly domains: readonly DomainRule[]
  /** config-network domain-template, default `{{.Name}}.{{.Namespace}}.{{.Domain}}` */
  readonly domainTemplate: string
  /** config-network tag-template, default `{{.Tag}}-{{.Name}}` */
  readonly tagTemplate: string
  /** config-network default-external-scheme, default `http` */
  readonly defaultExternalScheme: 'http' | 'https'
  /** config-network http-protocol: Enabled (default) | Redirected */
  readonly httpProtocol: 'Enabled' | 'Redirected'
  /** cluster domain for cluster-local hosts, `cluster.local` */
  readonly clusterDomain: string
  /**
   * config-network system-internal-tls: Enabled (or the older internal-encryption: "true"):
   * TLS 1.3 to the Services KIngress splits name, verified against routing-serving-certs' CA
   * and the trust-bundle ConfigMaps (control/tls/internal-trust.ts). Default false.
   */
  readonly systemInternalTls: boolean
  /** config-network cluster-local-domain-tls: Enabled (default false) */
  readonly clusterLocalDomainTls: boolean
  /** config-features tag-header-based-routing (default false) */
  readonly tagHeaderBasedRouting: boolean
  /** config-defaults */
  readonly revisionTimeoutSeconds: number
  readonly maxRevisionTimeoutSeconds: number
  readonly revisionResponseStartTimeoutSeconds: number
  readonly revisionIdleTimeoutSeconds: number
  readonly containerConcurrency: number
  /** config-observability tracing-* (or config-tracing's older keys); protocol none by default */
  readonly tracing: TracingConfig
  /** config-sluice */
  readonly sluice: {
    /** seconds in-flight requests get to finish after SIGTERM (drain-timeout, default 30) */
    readonly drainTimeoutSeconds: number
    /** requests one revision may buffer while it has no free slot (activator-queue-depth, default 10000); more get 503 */
    readonly activatorQueueDepth: number
    /**
     * trusted-proxies: CIDR ranges (IPv4 and IPv6) of the peers whose Forwarded / X-Forwarded-*
     * headers are kept and appended to; from any other peer they are overwritten. Default: none.
     */
    readonly trustedProxies: readonly string[]
    /** seconds a client gets for a request head, from accept or once the next one starts (client-header-timeout, default 30) */
    readonly clientHeaderTimeoutSeconds: number
    /** seconds a connection may sit with nothing in flight (client-idle-timeout, default 300) */
    readonly clientIdleTimeoutSeconds: number
    /** connections per listener; one more closes the longest-idle one (max-connections, default 20000) */
    readonly maxConnections: number
    /** enable-proxy-protocol (config-kourier's key, default false): public listeners require a PROXY v1/v2 header */
    readonly enableProxyProtocol: boolean
    /** trusted-hops-count (default 0): X-Forwarded-For entries, counted from the right, believed from any peer */
    readonly trustedHopsCount: number
    /** use-remote-address (default true in Sluice; Kourier's false): false believes one more hop (the TCP peer's own entry) */
    readonly useRemoteAddress: boolean
    /** disable-server-header / disable-envoy-server-header (default false): true passes the upstream's `server` through */
    readonly disableServerHeader: boolean
    /** stream-idle-timeout in seconds (default 0 = off): silence allowed on a proxied request; min'd with revision idle timeouts */
    readonly streamIdleTimeoutSeconds: number
    /** listen-ip-addresses: addresses of the public listeners; null = the --host flag */
    readonly listenIpAddresses: readonly string[] | null
    /** cipher-suites: OpenSSL names for TLS ≤ 1.2 (and TLS_ names for 1.3); null = Node's defaults */
    readonly cipherSuites: readonly string[] | null
    /** enable-service-access-logging (default false in Sluice; Kourier's true): one line per request on stdout */
    readonly enableServiceAccessLogging: boolean
    /** service-access-log-template: Envoy format subset; '' = Sluice's JSON line */
    readonly serviceAccessLogTemplate: string
    /** nats-url: comma-separated NATS servers for sluice.dev/jetstream brokers; null = unset (eventing-keys.ts) */
    readonly natsUrl: string | null
    /** broker-queue-limit (default 10000): events one in-memory broker holds before its ingress answers 503 */
    readonly brokerQueueLimit: number
    /** broker-max-ttl (default 255): knativebrokerttl given to events that arrive without one */
    readonly brokerMaxTtl: number
    /** extauthz-* (config-kourier's keys): the ext-authz plugin on every route; null = off (extauthz-host unset) */
    readonly extAuthz: ExtAuthzKeys | null
    /** outlier-* and breaker-* (outlier-keys.ts): outlier detection and circuit breakers every revision starts from */
    readonly resilience: Resilience
  }
}

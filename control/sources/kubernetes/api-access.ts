// Every Kubernetes API call `sluice serve --kubernetes` makes; the code must call nothing outside this list.
// config/kubernetes/ grants exactly these rules (test/kubernetes/manifests.test.ts compares them),
// and the integration test compares the fake API server's request log against this list, so the
// RBAC manifests, the docs' security table and the code cannot drift apart.

/**
 * Where a rule applies:
 * - `cluster`: every namespace (a ClusterRole bound with a ClusterRoleBinding);
 * - `own-namespace`: the namespace Sluice runs in (POD_NAMESPACE, default sluice-system; a Role);
 * - `knative-namespace`: the Knative system namespace (`--knative-namespace`, default knative-serving; a Role).
 */
export type ApiScope = 'cluster' | 'own-namespace' | 'knative-namespace'

export type ApiVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch'

export interface ApiAccess {
  /** API group; '' is the core group (v1) */
  readonly group: string
  /** plural resource name, with `/subresource` for a subresource */
  readonly resource: string
  /** sorted */
  readonly verbs: readonly ApiVerb[]
  readonly scope: ApiScope
  /** why Sluice needs it, for the docs' security table */
  readonly why: string
}

export const API_ACCESS: readonly ApiAccess[] = Object.freeze([
  { group: 'networking.internal.knative.dev', resource: 'ingresses', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'the KIngress route tables of class sluice.ingress.networking.knative.dev' },
  { group: 'networking.internal.knative.dev', resource: 'ingresses/status', verbs: ['update'], scope: 'cluster',
    why: 'the leader writes each KIngress status (NetworkConfigured, LoadBalancerReady, load balancer addresses)' },
  { group: '', resource: 'services', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'backends of KIngress splits: ports, targetPorts, ExternalName' },
  { group: '', resource: 'secrets', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'TLS certificates named by KIngress spec.tls and config-sluice default-certificate; secretKeyRef values in Plugin config' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'ready addresses of backend Services, and of sluice-internal (the replicas the leader probes)' },
  { group: 'sluice.dev', resource: 'plugins', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'Plugin objects attached to routes with sluice.dev/plugins or config-sluice plugins' },
  { group: 'eventing.knative.dev', resource: 'brokers', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'Brokers whose eventing.knative.dev/broker.class is sluice.dev/memory or sluice.dev/jetstream (others are left to Knative)' },
  { group: 'eventing.knative.dev', resource: 'brokers/status', verbs: ['update'], scope: 'cluster',
    why: 'the leader writes the status of Sluice-class Brokers (Ready, Addressable, status.address.url)' },
  { group: 'eventing.knative.dev', resource: 'triggers', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'Triggers of Sluice-class Brokers: filters, subscribers, delivery' },
  { group: 'eventing.knative.dev', resource: 'triggers/status', verbs: ['update'], scope: 'cluster',
    why: 'the leader writes the status of those Triggers (BrokerReady, SubscriberResolved, DeadLetterSinkResolved, subscriberUri)' },
  { group: 'sources.knative.dev', resource: 'pingsources', verbs: ['list', 'watch'], scope: 'cluster',
    why: 'PingSources whose sink is a Sluice-class Broker: the leader fires them' },
  { group: 'sources.knative.dev', resource: 'pingsources/status', verbs: ['update'], scope: 'cluster',
    why: 'the leader writes those PingSources\' status (SinkProvided, Deployed, sinkUri)' },
  { group: 'sluice.dev', resource: 'plugins/status', verbs: ['update'], scope: 'cluster',
    why: 'the leader writes each Plugin status (Ready, or why Sluice cannot use it, with the field path)' },
  { group: '', resource: 'configmaps', verbs: ['list', 'watch'], scope: 'knative-namespace',
    why: 'config-network, config-domain, config-features, config-defaults and config-sluice' },
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['create', 'get', 'update'], scope: 'own-namespace',
    why: 'leader election: one replica probes the replicas and writes KIngress status' },
])

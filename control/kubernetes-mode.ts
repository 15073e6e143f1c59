// `sluice serve --kubernetes`: the cluster source, the leader Lease, the status prober, the
// KIngress status writer and the eventing status writer, wired together. Every replica serves; only the leader probes and
// writes status, and it stops writing the moment it loses the lease.
import { hostname } from 'node:os'
import { CoordinationV1Api } from '@kubernetes/client-node'
import { randomUUID } from 'node:crypto'
import type { Registry } from 'prom-client'
import { collector } from '../gateway/metrics/route-slots.ts'
import type { Logger } from '../gateway/log.ts'
import type { ReconcileOutput } from './reconcile/index.ts'
import type { LoadResult } from './sources/load.ts'
import type { ConfigError } from './resources/types.ts'
import { loadKubeConfig } from './sources/kubernetes/kube-config.ts'
import { KubernetesSource, type ClusterLoad } from './sources/kubernetes/kubernetes-source.ts'
import { IngressStatusWriter, logRejected } from './status/ingress-status.ts'
import { EventingStatusWriter } from './status/eventing-status.ts'
import { PluginStatusWriter } from './status/plugin-status.ts'
import { StatusProber, type ProbeTarget } from './status/prober.ts'
import { LeaderElector } from './status/leader-election.ts'

export interface KubernetesOptions {
  /** kubeconfig file; default: the pod's service account, else $KUBECONFIG / ~/.kube/config */
  readonly kubeconfig?: string
  readonly ingressClass: string
  /** where config-network, config-sluice, … live */
  readonly knativeNamespace: string
  /** Sluice's own namespace: its Services (sluice, sluice-internal) and the leader Lease */
  readonly namespace: string
  /** this replica's name in the Lease (the pod name) */
  readonly identity?: string
  /** leader election timings in ms (client-go's 15 s / 10 s / 2 s by default) */
  readonly lease?: { readonly durationMs: number; readonly renewDeadlineMs: number; readonly retryPeriodMs: number }
}

export interface KubernetesMode {
  readonly source: KubernetesSource
  applied(out: ReconcileOutput, load: LoadResult, problems: readonly ConfigError[]): void
  /** a load the control loop refused: the Plugins its errors point at are reported on their status */
  refused(load: LoadResult, errors: readonly ConfigError[]): void
  /** the gateway listens: this replica can be probed at its internal port (when no sluice-internal endpoints are known) */
  listening(ports: { port: number; internalPort: number }): void
  stop(): Promise<void>
}

function registerMetrics(registry: Registry, source: KubernetesSource, leading: () => boolean, writes: () => IngressStatusWriter['writes'], rejected: () => number, eventingWrites: () => EventingStatusWriter['writes']): void {
  const add = (m: object) => registry.registerMetric(m as Parameters<Registry['registerMetric']>[0])
  add(collector('sluice_kubernetes_synced', 'Whether the watch of a resource has listed at least once (1) or not yet (0).', 'gauge',
    () => source.stats().map((s) => ({ labels: { resource: s.resource }, value: s.synced ? 1 : 0 }))))
  add(collector('sluice_kubernetes_objects', 'Objects of a resource Sluice holds from the cluster (KIngresses: of its class only).', 'gauge',
    () => source.stats().map((s) => ({ labels: { resource: s.resource }, value: s.objects }))))
  add(collector('sluice_kubernetes_watch_failures_total', 'Watches or lists that failed and were restarted with backoff, by resource.', 'counter',
    () => source.stats().map((s) => ({ labels: { resource: s.resource }, value: s.failures }))))
  add(collector('sluice_kubernetes_leader', 'Whether this replica holds the leader Lease and writes KIngress status (1) or not (0).', 'gauge',
    () => [{ labels: {}, value: leading() ? 1 : 0 }]))
  add(collector('sluice_kingress_status_writes_total', 'KIngress status writes by result: ok, conflict (the object moved; retried), failed.', 'counter',
    () => Object.entries(writes()).map(([result, value]) => ({ labels: { result }, value }))))
  add(collector('sluice_eventing_status_writes_total', 'Broker, Trigger and PingSource status writes by result: ok, conflict (the object moved; retried), failed.', 'counter',
    () => Object.entries(eventingWrites()).map(([result, value]) => ({ labels: { result }, value }))))
  add(collector('sluice_kubernetes_installed', 'Whether the API server serves a watched resource (0: its CRD is not installed, e.g. Knative Eventing absent; treated as empty).', 'gauge',
    () => source.stats().map((s) => ({ labels: { resource: s.resource }, value: s.installed ? 1 : 0 }))))
  add(collector('sluice_kingress_rejected', 'KIngresses of our class that cannot be served (invalid spec), reported on their status.', 'gauge',
    () => [{ labels: {}, value: rejected() }]))
}

export const LEASE_NAME = 'sluice-leader'
const PUBLIC_SERVICE = 'sluice'
const INTERNAL_SERVICE = 'sluice-internal'

export function startKubernetes(opts: KubernetesOptions, ctx: { log: Logger; registry: Registry; clusterDomain: () => string }): KubernetesMode {
  const { log } = ctx
  const kubeConfig = loadKubeConfig(opts.kubeconfig)
  const source = new KubernetesSource({ kubeConfig, log, ingressClass: opts.ingressClass, knativeNamespace: opts.knativeNamespace })
  let self: { port: number; internalPort: number } | null = null
  let writer: IngressStatusWriter | null = null
  let plugins: PluginStatusWriter | null = null
  // Kept-alive connections and 32 probes at once (Knative: 15, each on a fresh connection): the
  // probes go to Sluice's own replicas, and at start-up every ingress is probed at once.
  const newProber = () => new StatusProber({ log, onReady: (key) => writer?.evaluate(key), concurrency: 32, keepAlive: { idleMs: 5_000 } })
  // A stopped prober stays stopped: leadership lost and regained starts a fresh one.
  let prober = newProber()
  const stopProbing = () => { prober.stop(); prober = newProber() }

  /** Every ready Sluice replica's internal listener; this replica alone when none is known (outside a cluster). */
  const probeTargets = (hosts: readonly string[]): ProbeTarget[] => {
    const pods = source.endpoints(opts.namespace, INTERNAL_SERVICE)
      .map((e) => ({ ip: e.ip, port: e.ports['http2'] ?? e.ports['http'] ?? Object.values(e.ports)[0] ?? 0 }))
      .filter((p) => p.port !== 0)
    if (pods.length === 0 && self !== null) pods.push({ ip: '127.0.0.1', port: self.internalPort })
    // The internal listener serves every rule (ExternalIP ones too) from the same table swap as
    // the public one, so probing it proves both.
    return pods.map((p) => ({ ...p, hosts, scheme: 'http' as const }))
  }

  const identity = opts.identity ?? `${hostname()}_${randomUUID()}`
  const elector = new LeaderElector({
    client: kubeConfig.makeApiClient(CoordinationV1Api), namespace: opts.namespace, name: LEASE_NAME, identity,
    // A replica shutting down hands over at once instead of leaving the lease to expire.
    releaseOnCancel: true,
    onError: (err) => log.debug('leader election call failed', { error: (err as Error).message }),
    ...(opts.lease !== undefined ? { leaseDurationMs: opts.lease.durationMs, renewDeadlineMs: opts.lease.renewDeadlineMs, retryPeriodMs: opts.lease.retryPeriodMs } : {}),
    onStartedLeading: () => {
      log.info('leading: this replica writes ingress and eventing status and fires PingSources', { identity })
      source.setLeading(true)
      writer?.evaluate()
      eventing.evaluate()
      plugins?.evaluate()
    },
    onStoppedLeading: () => { log.info('no longer leading; status writes stop', { identity }); source.setLeading(false); stopProbing() },
    onNewLeader: (leader: string) => { if (leader !== identity) log.info('following', { leader }) },
  })
  writer = new IngressStatusWriter({
    kubeConfig, log,
    current: (ns, name) => source.ingress(ns, name),
    isLeader: () => elector.isLeader(),
    prober: {
      probe: (key, hash, hosts) => {
        if (prober.isReady(key, hash)) return
        // No replica known yet (this one not listening, no sluice-internal endpoints): a round
        // with no targets would count as Ready at once, unprobed. listening() evaluates again.
        const targets = probeTargets(hosts)
        if (targets.length > 0) prober.probe(key, hash, targets)
      },
      isReady: (key, hash) => prober.isReady(key, hash),
      cancel: (key) => prober.cancel(key),
      cancelAll: stopProbing,
    },
    loadBalancers: () => {
      const suffix = `${opts.namespace}.svc.${ctx.clusterDomain()}`
      return { public: `${PUBLIC_SERVICE}.${suffix}`, private: `${INTERNAL_SERVICE}.${suffix}` }
    },
  })
  const eventing = new EventingStatusWriter({
    kubeConfig, log, isLeader: () => elector.isLeader(),
    current: (bucket, ns, name) => source.eventingObject(bucket, ns, name),
  })
  plugins = new PluginStatusWriter({ kubeConfig, log, current: (ns, name) => source.plugin(ns, name), isLeader: () => elector.isLeader() })
  // A status-only update (ours, or someone overwriting it) re-checks that one ingress, not the table.
  source.onStatusChange = (ns, name) => writer?.statusChanged(ns, name)
  source.onEventingStatusChange = (kind, ns, name) => eventing.statusChanged(kind, ns, name)
  const rejectedSeen = new Map<string, string>()
  registerMetrics(ctx.registry, source, () => elector.isLeader(), () => writer!.writes, () => [...rejectedSeen.keys()].filter((k) => k.startsWith('Ingress/')).length, () => eventing.writes)
  elector.start()
  return {
    source,
    applied(out, load, problems) {
      logRejected(log, (load as ClusterLoad).rejected ?? [], rejectedSeen)
      writer!.applied(out, load, problems)
      eventing.applied(out, load as ClusterLoad)
      plugins!.applied(load as ClusterLoad)
    },
    refused(load, errors) {
      logRejected(log, (load as ClusterLoad).rejected ?? [], rejectedSeen)
      plugins!.refused(load as ClusterLoad, errors)
    },
    listening(ports) {
      self = ports
      writer?.evaluate()
    },
    async stop() {
      writer!.stop()
      eventing.stop()
      plugins!.stop()
      prober.stop()
      await elector.stop()
    },
  }
}

// `sluice serve`: one process with the gateway listeners, the admin listener and the control loop.
import { isIP } from 'node:net'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { Gateway } from '../gateway/gateway.ts'
import { createLogger, type Logger } from '../gateway/log.ts'
import { ControlLoop } from './control-loop.ts'
import { AdminServer } from './admin/admin-server.ts'
import { LiveRedaction } from './admin/redact.ts'
import { scrubbingLogger } from './admin/scrubbing-log.ts'
import { ScalingLoop } from './scaling/scaling-loop.ts'
import { guardProcess } from './process-guard.ts'
import { startKubernetes, type KubernetesOptions } from './kubernetes-mode.ts'
import { EventSources } from './eventing-sources/event-sources.ts'
import { ServedUrlLog } from './served-urls.ts'
import { Builds } from './build/build-queue.ts'
import { WorkerPool } from './workers/worker-pool.ts'
import { emptySnapshot } from './workers/empty-snapshot.ts'
import type { TableSnapshot } from './workers/protocol.ts'

export interface ServeOptions {
  /** YAML files to serve; optional with `kubernetes` */
  configDir?: string
  /** watch a cluster: `sluice serve --kubernetes` */
  kubernetes?: KubernetesOptions
  stateDir: string
  port: number
  internalPort: number
  /** TLS port, opened once a KIngress tls[] or config-sluice default-certificate names a certificate */
  tlsPort?: number
  /** cluster-local TLS port, opened once config-kourier cluster-cert-secret or a ClusterLocal tls[] entry names a certificate */
  internalTlsPort?: number
  adminPort: number
  adminHost: string
  /** names accepted in the admin listener's Host header besides IP literals and localhost */
  adminAllowedHosts?: readonly string[]
  /** bearer token for the admin API (SLUICE_ADMIN_TOKEN); never logged */
  adminToken?: string
  /** serve /metrics without the admin token */
  adminMetricsPublic?: boolean
  host?: string
  /**
   * The internal listener's address (cluster-local routes). Default 127.0.0.1: on one machine
   * only local clients are "in the cluster". In Kubernetes the pod network is the boundary: 0.0.0.0.
   */
  internalHost?: string
  /**
   * sluice serve --workers N: N worker threads serve the ports (SO_REUSEPORT), this process keeps
   * the control loop, autoscaler, runtime and admin listener (docs/workers.md). 0: one process.
   */
  workers?: number
  log?: Logger
}

export interface Running {
  gateway: Gateway
  loop: ControlLoop
  scaling: ScalingLoop
  eventSources: EventSources
  admin: AdminServer
  ports: { port: number; internalPort: number; adminPort: number }
  /** SIGTERM behaviour: stop accepting, fail /readyz, drain, close. Resolves true if drained in time. */
  shutdown(): Promise<boolean>
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

export async function serve(opts: ServeOptions): Promise<Running> {
  let loop: ControlLoop | undefined
  // Secrets of the applied configuration are scrubbed from the logs as from the admin views.
  const redaction = new LiveRedaction(() => loop)
  const log = scrubbingLogger(opts.log ?? createLogger(), redaction)
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' })
  // prom-client also exports the sums of these per-type gauges as gauges ending in `_total`, which
  // `promtool check metrics` rejects (only counters may end in _total). The per-type gauges stay.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric('sluice_' + name)
  }
  const guard = guardProcess(log, registry)
  // With workers this gateway never listens: it is where the control loop compiles and keeps the
  // table (for /debug/routes and the runtime), while the workers serve (control/workers/).
  const gateway = new Gateway()
  gateway.log = log
  const internalHost = opts.internalHost ?? '127.0.0.1'
  const workers = (opts.workers ?? 0) > 0
    ? new WorkerPool({ count: opts.workers!, log, listen: { port: opts.port, internalPort: opts.internalPort, host: opts.host, internalHost } })
    : null
  if (workers === null) gateway.metrics.register(registry, { inflight: () => gateway.inflight, throttlers: () => gateway.activator.throttlers() })
  const scaling = new ScalingLoop({ gateway, log, registry, onStatusChange: () => loop!.refresh(), ...(workers !== null ? { activator: workers } : {}) })
  const cluster = opts.kubernetes !== undefined ? startKubernetes(opts.kubernetes, { log, registry, clusterDomain: () => loop?.settings?.clusterDomain ?? 'cluster.local' }) : undefined
  const servedUrlLog = new ServedUrlLog(log)
  const eventSources = new EventSources({ log, appLogs: scaling.runtime.appLogs, onChange: () => loop!.refresh() })
  const builds = new Builds({ stateDir: opts.stateDir, log, appLogs: scaling.runtime.appLogs, onChange: () => loop!.refresh() })
  loop = new ControlLoop({
    ...(opts.configDir !== undefined ? { configDir: opts.configDir } : {}),
    ...(cluster !== undefined ? { kubernetes: cluster.source, onRefused: (load, errors) => cluster.refused(load, errors) } : {}),
    onApplied: (out, load, problems) => {
      cluster?.applied(out, load, problems)
      servedUrlLog.update(out.objects, gateway.eventing, loop?.settings?.clusterDomain ?? 'cluster.local')
    },
    stateDir: opts.stateDir, gateway, log, registry, scaling, eventSources, builds,
    ...(workers !== null ? { onTable: (t: TableSnapshot) => workers.publish(t) } : {}),
  })
  const admin = new AdminServer({
    port: opts.adminPort, host: opts.adminHost, gateway, loop, registry, scaling, redaction, workers,
    access: { allowedHosts: opts.adminAllowedHosts, token: opts.adminToken, metricsPublic: opts.adminMetricsPublic },
  })
  const adminPort = await admin.listen()
  if (opts.adminToken === undefined && !isLoopback(opts.adminHost)) {
    log.warn('the admin API is reachable from the network without a token; set SLUICE_ADMIN_TOKEN', { admin: opts.adminHost })
  }
  // Load before listening so the first request already sees the full configuration.
  await eventSources.listen()
  const first = loop.nextLoad()
  loop.start()
  await first
  scaling.start()
  const { port, internalPort } = workers !== null
    ? await workers.start(emptySnapshot())
    : await gateway.listen({ port: opts.port, internalPort: opts.internalPort, tlsPort: opts.tlsPort, internalTlsPort: opts.internalTlsPort, host: opts.host, internalHost })
  log.info('sluice listening', {
    public: port, internal: internalPort, admin: `${opts.adminHost}:${adminPort}`, internalHost,
    ...(opts.configDir !== undefined ? { config: opts.configDir } : {}),
    ...(opts.kubernetes !== undefined ? { kubernetes: opts.kubernetes.ingressClass } : {}),
    ...(workers !== null ? { workers: workers.count } : {}),
  })
  servedUrlLog.start({ port, internalPort, tlsPort: opts.tlsPort }, loop.last?.objects ?? [], gateway.eventing, loop.settings?.clusterDomain ?? 'cluster.local')
  cluster?.listening({ port, internalPort })
  // Shown URLs name the public port on one machine; in a cluster they stay as Knative writes them.
  if (opts.kubernetes === undefined) loop.publicPorts = { http: port, https: opts.tlsPort ?? 8443 }
  // Event deliveries to Sluice-served subscribers go through the internal listener, now that its port is known.
  loop.internalOrigin = internalOrigin(internalHost, internalPort)
  eventSources.setInternalOrigin(loop.internalOrigin)
  // Only event deliveries use the origin: without brokers, the first table stays version 1.
  if (gateway.eventing.brokers.size > 0) loop.refresh()
  let stopping: Promise<boolean> | null = null
  return {
    gateway, loop, scaling, eventSources, admin,
    ports: { port, internalPort, adminPort },
    shutdown() {
      stopping ??= (async () => {
        const timeoutMs = (loop.settings?.sluice.drainTimeoutSeconds ?? 30) * 1000
        log.info('draining', { inflight: gateway.inflight, timeoutMs })
        loop.stop()
        builds.stop()
        await cluster?.stop()
        let drained = await gateway.drain(timeoutMs)
        let cut = gateway.cutByDrain
        if (workers !== null) ({ finished: drained, cut } = await workers.drain(timeoutMs))
        if (!drained) log.warn('drain timeout reached; closing remaining connections', { inflight: cut })
        await eventSources.stop()
        await scaling.stop()
        await admin.close()
        guard.remove()
        log.info('stopped')
        return drained
      })()
      return stopping
    },
  }
}

/** an origin that reaches the internal listener from this process (a wildcard bind is reached on loopback) */
function internalOrigin(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${isIP(h) === 6 ? `[${h}]` : h}:${port}`
}

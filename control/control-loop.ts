// Ties the control plane together: every time the source reports a full load, read settings,
// reconcile, compile and hand the table to the gateway. Any error keeps the last good table for
// everything and is reported (log, /readyz, metrics) until a later load is clean.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Gateway } from '../gateway/gateway.ts'
import type { Logger } from '../gateway/log.ts'
import type { ConfigError, KObject, Revision } from './resources/types.ts'
import { FileSource } from './sources/file-source.ts'
import { assertConfigPath } from './sources/config-path.ts'
import type { LoadResult } from './sources/load.ts'
import type { ClusterLoad, KubernetesSource } from './sources/kubernetes/kubernetes-source.ts'
import { CLUSTER_FILE_PREFIX } from './sources/kubernetes/cluster-objects.ts'
import { mergeLoads } from './sources/merge-loads.ts'
import { formatError } from './sources/format-error.ts'
import { localRunWarnings } from './sources/local-run-warnings.ts'
import { envErrors } from './sources/env-refs.ts'
import { envObjects, withLiteralEnv } from './resources/env.ts'
import { readSettings } from './settings/read-settings.ts'
import { keepObjectTransitionTimes } from './reconcile/status.ts'
import { withServedUrls, type PublicPorts } from '../lib/served-url.ts'
import { reconcile, type ReconcileOutput } from './reconcile/index.ts'
import { CompileCache, compile } from './compile/compile.ts'
import { ReconcileCache } from './reconcile/cache.ts'
import { loadState, saveState, type RevisionState } from './state.ts'
import type { Settings } from './settings/types.ts'
import { readAutoscalerSettings } from './settings/autoscaler.ts'
import { edgeOptions, listenerSettings } from './settings/kourier-keys.ts'
import { connectionLimits } from './settings/connection-limits.ts'
import { pluginRef, type TableSnapshot } from './workers/protocol.ts'
import type { AutoscalerSettings } from './autoscaler/config.ts'
import { scalingErrors } from './scaling/validate-scaling.ts'
import { outlierAnnotationErrors } from './settings/outlier-keys.ts'
import type { ScalingLoop } from './scaling/scaling-loop.ts'
import { PluginRegistry } from './plugins/registry.ts'
import { PluginInstances } from './plugins/instances.ts'
import { PluginQuarantine } from './plugins/quarantine.ts'
import { PluginCreateError, pluginModules, resolvePlugins } from './plugins/resolve.ts'
import { collector } from '../gateway/metrics/route-slots.ts'
import { buildCertTable } from './tls/certificates.ts'
import { hasCertificates } from '../gateway/tls/cert-table.ts'
import { CertContextCache } from './tls/context-cache.ts'
import { readInternalTrust, type InternalTrust } from './tls/internal-trust.ts'
import { buildInternalCertTable } from './tls/internal-certificates.ts'
import { compileEventing } from './compile/eventing.ts'
import type { EventSources } from './eventing-sources/event-sources.ts'
import type { Builds } from './build/build-queue.ts'
import { withSnapshots } from './build/runtime-spec.ts'

export interface ControlLoopOptions {
  /** YAML files; with `kubernetes` too, both land in one load */
  configDir?: string
  /** the cluster's objects (sluice serve --kubernetes) */
  kubernetes?: KubernetesSource
  /** after every applied load or refresh, with what was applied (status writing in Kubernetes) */
  onApplied?: (out: ReconcileOutput, load: LoadResult, problems: readonly ConfigError[]) => void
  /** after a load that was refused (the last good table keeps serving), with its errors (Plugin status in Kubernetes) */
  onRefused?: (load: LoadResult, errors: readonly ConfigError[]) => void
  stateDir: string
  gateway: Gateway
  log: Logger
  registry: Registry
  debounceMs?: number
  /** runs revisions that have a command (local processes, autoscaled) */
  scaling?: ScalingLoop
  /** PingSources, ContainerSources and SinkBindings run locally (statuses, schedules, processes, binding env) */
  eventSources?: EventSources
  /** builds revisions with sluice.dev/source into snapshots (control/build) */
  builds?: Builds
  /** sluice serve --workers: every table installed here, as the data the workers compile it from */
  onTable?: (snapshot: TableSnapshot) => void
}

export class ControlLoop {
  readonly #opts: ControlLoopOptions
  readonly #source: FileSource | null
  #fileLoad: LoadResult | null = null
  /** local-run warnings already logged */
  readonly #warned = new Set<string>()
  #clusterLoad: ClusterLoad | null = null
  /** settings of the last applied load: a bad cluster ConfigMap keeps them (files report instead) */
  #goodSettings: { settings: Settings; autoscaler: AutoscalerSettings } | null = null
  /** deferred problems already logged: said once, not at every cluster event */
  #deferredSaid = new Set<string>()
  #state: RevisionState
  #stateJson: string
  #version = 0
  #onLoadWaiters: (() => void)[] = []
  #lastLoad: LoadResult | null = null
  readonly plugins = new PluginRegistry()
  readonly #instances: PluginInstances
  readonly #quarantine: PluginQuarantine
  readonly #certCache = new CertContextCache()
  /** its own: each cache keeps only what its last build used */
  readonly #localCertCache = new CertContextCache()
  /** unchanged ingresses keep their routing model and compiled hosts from one apply to the next */
  readonly #reconcileCache = new ReconcileCache()
  readonly #compileCache = new CompileCache()
  /** loads are applied one at a time, in order, after their plugin modules are imported */
  #queue: Promise<void> = Promise.resolve()
  #refreshTimer: NodeJS.Timeout | null = null
  /** the last good reconcile, or null before the first good load */
  last: ReconcileOutput | null = null
  settings: Settings | null = null
  /**
   * The public listeners' ports, shown in Service and Route URLs (serve.ts sets them once listening,
   * in file mode only: in Kubernetes the URLs stay portless, as Knative writes them).
   */
  publicPorts: PublicPorts | null = null
  /** where event deliveries reach Sluice-served subscribers (serve.ts sets it once the internal listener is up) */
  internalOrigin = 'http://127.0.0.1:8081'
  /** errors of the latest load (a refresh keeps them); empty when it was good */
  errors: readonly ConfigError[] = []
  loadedAt: Date | null = null
  readonly #reloads: Counter<'result'>
  readonly #errorGauge: Gauge
  readonly #lastSuccess: Gauge

  constructor(opts: ControlLoopOptions) {
    // Refuse to start on a mistyped --config rather than serve nothing (before any port opens).
    if (opts.configDir !== undefined) assertConfigPath(opts.configDir)
    else if (opts.kubernetes === undefined) throw new Error('serve needs --config DIR, --kubernetes, or both')
    this.#opts = opts
    this.#source = opts.configDir !== undefined ? new FileSource(opts.configDir, { debounceMs: opts.debounceMs }) : null
    this.#state = loadState(opts.stateDir)
    this.#stateJson = JSON.stringify(this.#state)
    const registers = [opts.registry]
    this.#reloads = new Counter({ name: 'sluice_config_reloads_total', help: 'Configuration loads, by result (success or error).', labelNames: ['result'], registers })
    this.#reloads.inc({ result: 'success' }, 0)
    this.#reloads.inc({ result: 'error' }, 0)
    this.#errorGauge = new Gauge({ name: 'sluice_config_errors', help: 'Errors in the latest configuration load (0 when it was applied).', registers })
    this.#lastSuccess = new Gauge({ name: 'sluice_config_last_success_timestamp_seconds', help: 'When a configuration was last applied.', registers })
    this.#instances = new PluginInstances(opts.log)
    this.#quarantine = new PluginQuarantine(opts.log)
    opts.registry.registerMetric(collector('sluice_plugin_errors_total', 'Requests failed by a plugin that threw or rejected, by plugin.', 'counter', () => {
      const sums = new Map<string, number>()
      for (const e of this.#instances.entries()) sums.set(e.name, (sums.get(e.name) ?? 0) + e.errors)
      return [...sums].map(([plugin, value]) => ({ labels: { plugin }, value }))
    }) as Parameters<Registry['registerMetric']>[0])
    opts.registry.registerMetric(collector('sluice_plugins_quarantined', 'Cluster Plugins Sluice cannot use as written, by what the routes that use them do: last_good (keep its last good config) or fail_closed (answer 503).', 'gauge',
      () => Object.entries(this.#quarantine.counts()).map(([fallback, value]) => ({ labels: { fallback: fallback.replace('-', '_') }, value }))) as Parameters<Registry['registerMetric']>[0])
  }

  get ready(): boolean {
    return this.last !== null
  }

  start(): void {
    this.#source?.start((r) => { this.#fileLoad = r; this.#sourcesChanged() })
    this.#opts.kubernetes?.start((r) => { this.#clusterLoad = r; this.#sourcesChanged() })
  }

  /** One load from whichever sources are configured, once each has reported. */
  #sourcesChanged(): void {
    const { configDir, kubernetes } = this.#opts
    if (kubernetes === undefined) { this.#enqueue(this.#fileLoad!); return }
    if (this.#clusterLoad === null) return
    if (configDir === undefined) { this.#enqueue(this.#clusterLoad); return }
    if (this.#fileLoad !== null) this.#enqueue(mergeLoads(this.#fileLoad, this.#clusterLoad))
  }

  #enqueue(r: LoadResult): void {
    this.#queue = this.#queue.then(async () => {
      const modules = r.errors.length === 0 ? pluginModules(r.resources, this.plugins) : []
      if (modules.length > 0) await this.plugins.load(modules)
      this.apply(r)
    }).catch((err) => this.#opts.log.error('applying configuration failed', { err }))
  }

  stop(): void {
    this.#source?.stop()
    this.#opts.kubernetes?.stop()
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer)
    this.#refreshTimer = null
  }

  /**
   * Reconcile the last good load again because something it depends on changed (an instance
   * became ready, a revision failed, the autoscaler went idle). Coalesced: one pass per burst.
   */
  refresh(): void {
    if (this.#refreshTimer !== null || this.#lastLoad === null) return
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null
      if (this.#lastLoad !== null) this.apply(this.#lastLoad, true)
    }, 5)
  }

  /** Resolves after the next load has been applied or rejected (tests, CLI). */
  nextLoad(): Promise<void> {
    return new Promise((resolve) => this.#onLoadWaiters.push(resolve))
  }

  apply(result: LoadResult, refresh = false): void {
    const { log, gateway, scaling, builds } = this.#opts
    const startedAt = performance.now()
    const cpuAt = process.cpuUsage()
    let errors: ConfigError[] = [...result.errors]
    let out: ReconcileOutput | null = null
    let settings: Settings | null = null
    let autoscaler: AutoscalerSettings | null = null
    let resolution: ReturnType<typeof resolvePlugins> | null = null
    let certs: ReturnType<typeof buildCertTable> | null = null
    let trust: InternalTrust | null = null
    let localCerts: ReturnType<typeof buildInternalCertTable> | null = null
    /** problems of single cluster objects that do not stop the load (see #blocking) */
    const deferred: ConfigError[] = []
    if (errors.length === 0) {
      let s = readSettings(result.resources.configMaps)
      let a = readAutoscalerSettings(result.resources.configMaps)
      errors = [...s.errors, ...a.errors]
      // A bad value in a cluster ConfigMap must not freeze every ingress: keep the last good
      // settings and say so (a file's mistake stops the load, where the user sees it at once).
      const good = this.#goodSettings
      if (errors.length > 0 && good !== null && errors.every((e) => e.file.startsWith(CLUSTER_FILE_PREFIX))) {
        for (const e of errors) log.error('bad setting in the cluster; keeping the last good settings', { at: formatError(e) })
        s = { settings: good.settings, errors: [] }
        a = { settings: good.autoscaler, errors: [] }
        errors = []
      }
      if (errors.length === 0) errors = [...scalingErrors(result.resources, a.settings), ...outlierAnnotationErrors(result.resources), ...envErrors(result.resources)]
      if (errors.length === 0) {
        // In a cluster a bad Plugin is quarantined: only the routes that use it are affected.
        resolution = resolvePlugins(result.resources, this.plugins, s.settings.sluice.extAuthz, this.#opts.kubernetes !== undefined ? this.#quarantine.view(result) : undefined)
        errors = resolution.errors
      }
      if (errors.length === 0) {
        certs = buildCertTable(result.resources, undefined, { cache: this.#certCache })
        errors = this.#blocking(certs.errors, deferred)
      }
      if (errors.length === 0 && s.settings.systemInternalTls) {
        trust = readInternalTrust(result.resources)
        errors = trust.errors
      }
      if (errors.length === 0) {
        localCerts = buildInternalCertTable(result.resources, { cache: this.#localCertCache, clusterLocalDomainTls: s.settings.clusterLocalDomainTls })
        errors = this.#blocking(localCerts.errors, deferred)
      }
      settings = s.settings
      autoscaler = a.settings
    }
    if (errors.length === 0 && settings !== null && autoscaler !== null) {
      try {
        out = reconcile({
          resources: result.resources, settings, state: this.#state, now: new Date(), runtime: scaling ? (k) => scaling.view(k) : undefined,
          build: builds !== undefined ? (k) => builds.view(k) : undefined,
          internalOrigin: this.internalOrigin,
          cache: this.#reconcileCache,
          previous: this.last?.objects,
          // In a cluster a KIngress moves to backends that may not be ready yet: keep serving its last good spec meanwhile.
          ...(this.#opts.kubernetes !== undefined && this.last !== null ? { lastServed: this.last.served } : {}),
        })
        // new revisions with a source start building; finished builds are recorded in the history
        if (builds !== undefined) out = { ...out, state: builds.sync(out.state) }
        gateway.activator.queueDepth = settings.sluice.activatorQueueDepth
        gateway.setConnectionLimits(connectionLimits(settings))
        const instances = this.#instances
        const r = resolution!
        instances.begin()
        const table = compile(out.model, gateway.metrics.slots, ++this.#version,
          (ing) => r.forOwner(ing.ownerKind, ing.namespace, ing.name).map((p) => instances.entry(ing.namespace, ing.name, p)),
          { ...edgeOptions(settings), ...(trust?.pem !== undefined ? { internalTrust: trust.pem } : {}) }, this.#compileCache)
        instances.commit()
        gateway.swap(table)
        gateway.swapEventing(compileEventing(out.eventing, settings, this.#version))
        gateway.setListenerSettings(listenerSettings(settings))
        void gateway.setTracing(settings.tracing)
        gateway.setCertificates(certs!.table)
        gateway.setInternalCertificates(localCerts!.table)
        this.#opts.onTable?.({
          version: this.#version, model: out.model, settings,
          plugins: out.model.ingresses.map((ing) => r.forOwner(ing.ownerKind, ing.namespace, ing.name).map(pluginRef)),
          ...(trust?.pem !== undefined ? { internalTrust: trust.pem } : {}),
          modules: pluginModules(result.resources, this.plugins),
          unserved: { tls: hasCertificates(certs!.table) || hasCertificates(localCerts!.table), brokers: gateway.eventing.brokers.size },
        })
        if (!refresh) for (const w of certs!.warnings) log.warn('certificate warning', { at: formatError(w) })
        const deferredNow = new Set(deferred.map(formatError))
        for (const e of deferredNow) if (!this.#deferredSaid.has(e)) log.error('certificate problem; this host has no certificate until it is fixed', { at: e })
        this.#deferredSaid = deferredNow
        // logged by the quarantine itself, once per change; reported on the Plugins' and KIngresses' status
        deferred.push(...this.#quarantine.served(r, instances))
        if (!refresh) for (const w of trust?.warnings ?? []) log.warn('system-internal-tls trust warning', { at: formatError(w) })
        // The cluster-local table shares tls[] entries with the public one: say each thing once.
        const said = new Set(certs!.warnings.map((w) => w.message))
        if (!refresh) for (const w of localCerts!.warnings) if (!said.has(w.message)) log.warn('certificate warning', { at: formatError(w) })
        // event sources: statuses into `out`; bound revisions get K_SINK/K_CE_OVERRIDES for the runtime only
        if (this.#opts.eventSources !== undefined) {
          out = this.#opts.eventSources.apply(out, result.resources)
          const objects = keepObjectTransitionTimes(out.objects, this.last?.objects)
          out = { ...out, objects }
        }
        let runtimeOut = withRuntimeEnv(out, result.resources)
        if (builds !== undefined) runtimeOut = { ...runtimeOut, objects: withSnapshots(runtimeOut.objects, (k) => builds.view(k)) }
        scaling?.sync(this.#opts.eventSources?.bind(runtimeOut) ?? runtimeOut, autoscaler)
        this.#warnLocalRun(result.resources)
      } catch (err) {
        this.#instances.abort()
        // A plugin that cannot start is a user error; anything else is a bug, reported the same
        // way so the last good table stays.
        errors = [err instanceof PluginCreateError ? err.error
          : { file: this.#opts.configDir ?? 'kubernetes', line: 0, column: 0, path: '', message: `internal error while applying configuration: ${(err as Error).stack ?? err}` }]
        out = null
      }
    }
    if (refresh && out === null) {
      // Only a bug can get here (the load itself was good before): keep serving, say so.
      for (const e of errors) log.error('reconcile failed; keeping the last good configuration', { at: formatError(e) })
      return
    }
    // A refresh re-applies the last good load, which says nothing about the files on disk now:
    // only a load may set or clear the errors, or a scale event would hide a bad edit.
    if (!refresh) {
      this.errors = errors
      this.#errorGauge.set(errors.length)
    }
    if (out === null) {
      this.#reloads.inc({ result: 'error' })
      for (const e of errors) log.error('configuration error; keeping the last good configuration', { at: formatError(e) })
      try {
        this.#opts.onRefused?.(result, errors)
      } catch (err) {
        log.error('after-refusal hook failed', { err })
      }
    } else {
      if (!refresh) {
        this.#reloads.inc({ result: 'success' })
        this.#lastSuccess.set(Date.now() / 1000)
        this.loadedAt = new Date()
      }
      this.#lastLoad = result
      this.last = out
      this.settings = settings
      this.#goodSettings = { settings: settings!, autoscaler: autoscaler! }
      this.#persist(out.state)
      ;(refresh ? log.debug : log.info)(refresh ? 'status refreshed' : 'configuration applied', {
        version: this.#version, services: out.summary.services, routes: out.summary.routes,
        ingresses: out.summary.ingresses, hosts: out.summary.hosts.length,
        // how much of the last pass came from the caches (an event should rebuild only what it touched)
        rebuilt: this.#reconcileCache.stats.misses, reused: this.#reconcileCache.stats.hits, ms: Math.round(performance.now() - startedAt),
        cpuMs: Math.round(sumCpu(process.cpuUsage(cpuAt)) / 1000),
      })
    }
    if (out !== null) {
      try {
        this.#opts.onApplied?.(out, result, deferred)
      } catch (err) {
        log.error('after-apply hook failed', { err })
      }
    }
    if (refresh) return
    const waiters = this.#onLoadWaiters
    this.#onLoadWaiters = []
    for (const w of waiters) w()
  }

  /**
   * A certificate Secret a cluster KIngress names may appear after it (cert-manager, a user's
   * kubectl): its absence is that ingress's problem, reported on its status, not a reason to stop
   * applying every other change. Problems of files still stop the load, where the user sees them.
   */
  #blocking(errors: readonly ConfigError[], deferred: ConfigError[]): ConfigError[] {
    const blocking: ConfigError[] = []
    for (const e of errors) (e.file.startsWith(CLUSTER_FILE_PREFIX) ? deferred : blocking).push(e)
    return blocking
  }

  #persist(state: RevisionState): void {
    this.#state = state
    const json = JSON.stringify(state)
    if (json === this.#stateJson) return
    try {
      saveState(this.#opts.stateDir, state)
      this.#stateJson = json
    } catch (err) {
      this.#opts.log.error('cannot write the state directory; revision history will not survive a restart', { dir: this.#opts.stateDir, err })
    }
  }

  /** What will not run as written (sluice validate prints the same), logged once each. */
  #warnLocalRun(rs: LoadResult['resources']): void {
    if (this.#opts.configDir === undefined) return
    for (const w of localRunWarnings(rs)) {
      const key = formatError(w)
      if (this.#warned.has(key)) continue
      if (this.#warned.size >= 10_000) this.#warned.clear()
      this.#warned.add(key)
      this.#opts.log.warn('will not run as on Knative', { revision: w.revision, at: key })
    }
  }

  /** Builds of revisions with sluice.dev/source: state, snapshot and start command, for /debug/builds. */
  describeBuilds(): object {
    return { revisions: this.#opts.builds?.describe() ?? {} }
  }

  /** Every object with its computed status, for /debug/resources: Service and Route URLs as served (lib/served-url.ts). */
  resources(): object[] {
    const ports = this.publicPorts
    const clusterDomain = this.settings?.clusterDomain ?? 'cluster.local'
    return (this.last?.objects ?? []).map((o) => withServedUrls(stripSource(o), ports, clusterDomain))
  }
}

/**
 * What the runtime runs: revisions with literal env (Secret and ConfigMap references resolved now),
 * while `last` keeps the references, so no secret value reaches /debug/resources.
 */
function withRuntimeEnv(out: ReconcileOutput, resources: LoadResult['resources']): ReconcileOutput {
  const objs = envObjects(resources)
  return { ...out, objects: out.objects.map((o) => (o.kind === 'Revision' ? withLiteralEnv(o as Revision, objs) : o)) }
}

function sumCpu(u: NodeJS.CpuUsage): number {
  return u.user + u.system
}

function stripSource(o: KObject): Omit<KObject, 'source'> {
  const { source: _source, ...rest } = o
  return rest
}

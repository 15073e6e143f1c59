// Serverless on one machine: joins the gateway's activator (meters, demand), the KPA autoscaler
// and the local process runtime. Every second the activator's meters feed the autoscaler; every
// 2 s (or at once when a request reaches a revision at zero) decisions go to the runtime; every
// instance that passes its readiness probe is pushed to the activator, which releases the
// requests buffered for it.
import { Gauge, Histogram, type Registry } from 'prom-client'
import type { Gateway } from '../../gateway/gateway.ts'
import type { Logger } from '../../gateway/log.ts'
import type { Revision } from '../resources/types.ts'
import type { ReconcileOutput } from '../reconcile/index.ts'
import { servingContainer, type RuntimeView } from '../reconcile/revision.ts'
import { CONFIGURATION_LABEL, SERVICE_LABEL, UPSTREAM_ANNOTATION } from '../reconcile/names.ts'
import { LocalRuntime, type RuntimeRevision } from '../runtime/local-runtime.ts'
import { Autoscaler, type RevisionScale } from '../autoscaler/autoscaler.ts'
import { revisionScaling } from '../settings/autoscaler.ts'
import type { AutoscalerSettings } from '../autoscaler/config.ts'
import { RESTART_AFTER_EJECTIONS } from '../../gateway/activator/outlier-detector.ts'
import { ScaleDecisions } from './scale-decisions.ts'
import { localActivatorPort, type ActivatorPort } from './activator-port.ts'

const SAMPLE_INTERVAL_MS = 1_000
const TICK_EVERY_SAMPLES = 2 // Knative's 2 s tick

const backendKey = (key: string): string => `revision/${key}`
const runtimeKey = (backend: string): string => backend.slice('revision/'.length)

export interface ScalingLoopOptions {
  gateway: Gateway
  /** where meters come from and instances go; default the gateway's activator (--workers: the worker pool) */
  activator?: ActivatorPort
  log: Logger
  registry: Registry
  /** something the revision status depends on changed: reconcile again */
  onStatusChange(): void
  probeIntervalMs?: number
  clock?: () => number
}

/** A revision the runtime runs: it has a container command and no fixed upstream. */
export function isRunnable(rev: Revision): boolean {
  const cmd = servingContainer(rev.spec)?.command
  return cmd !== undefined && cmd.length > 0 && rev.metadata.annotations?.[UPSTREAM_ANNOTATION] === undefined
}

export class ScalingLoop {
  readonly runtime: LocalRuntime
  readonly autoscaler = new Autoscaler()
  readonly #opts: ScalingLoopOptions
  readonly #activator: ActivatorPort
  readonly #clock: () => number
  #timer: NodeJS.Timeout | null = null
  #samples = 0
  /** the immediate stat sent on demand, subtracted from the next sample (Knative's activator does this) */
  readonly #firstStat = new Map<string, number>()
  /** when a revision at zero was asked for, for the cold-start histogram */
  readonly #coldSince = new Map<string, number>()
  readonly #last = new Map<string, { concurrency: number; rps: number }>()
  /** what status last showed, to reconcile again only when it changes */
  readonly #shown = new Map<string, string>()
  #revisions = new Map<string, RuntimeRevision>()
  /** instances restarted because outlier detection ejected them repeatedly */
  #restarts = 0
  readonly #coldStart: Histogram<'namespace' | 'service' | 'configuration' | 'revision'>
  readonly #decisions: ScaleDecisions

  constructor(opts: ScalingLoopOptions) {
    this.#opts = opts
    this.#clock = opts.clock ?? Date.now
    this.#decisions = new ScaleDecisions(opts.log)
    const activator = this.#activator = opts.activator ?? localActivatorPort(opts.gateway.activator)
    this.runtime = new LocalRuntime({
      log: opts.log,
      probeIntervalMs: opts.probeIntervalMs,
      onChange: (key) => this.#instancesChanged(key),
      drain: (inst, timeoutMs) => activator.drainInstance(backendKey(inst.revision), inst.id, timeoutMs),
    })
    activator.listen({
      demand: (key) => this.#demand(runtimeKey(key)),
      ejected: (key, id, ejections) => this.#ejected(key, id, ejections),
    })
    this.#coldStart = new Histogram({
      name: 'sluice_cold_start_duration_seconds',
      help: 'Time from a request reaching a revision with no ready instance to its first ready instance.',
      labelNames: ['namespace', 'service', 'configuration', 'revision'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [opts.registry],
    })
    this.#registerGauges(opts.registry)
  }

  start(): void {
    this.#timer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.runtime.stop()
  }

  /** What reconcile needs to judge a runnable revision. */
  view(key: string): RuntimeView | undefined {
    if (!this.#revisions.has(key)) return undefined
    const st = this.runtime.status(key)
    const scale = this.autoscaler.result(key)
    return {
      everReady: st.everReady,
      startsAtZero: this.autoscaler.describe()[key]?.initialScale === 0,
      ready: st.ready,
      desired: st.desired,
      ...(st.failure !== undefined ? { failure: st.failure } : {}),
      ...(scale !== undefined ? { active: activeCondition(scale) } : {}),
    }
  }

  /** After every reconcile: the runnable revisions, their scaling config, and which are routed. */
  sync(out: ReconcileOutput, settings: AutoscalerSettings): void {
    const routed = new Set<string>()
    for (const b of out.model.backends.values()) if (b.managed) routed.add(runtimeKey(b.key))
    const next = new Map<string, RuntimeRevision>()
    for (const o of out.objects) {
      if (o.kind !== 'Revision' || !isRunnable(o as Revision)) continue
      const rev = o as Revision
      const key = `${rev.metadata.namespace}/${rev.metadata.name}`
      const labels = rev.metadata.labels ?? {}
      next.set(key, {
        key,
        namespace: rev.metadata.namespace,
        name: rev.metadata.name,
        service: labels[SERVICE_LABEL] ?? '',
        configuration: labels[CONFIGURATION_LABEL] ?? '',
        container: servingContainer(rev.spec)!,
        timeoutSeconds: rev.spec.timeoutSeconds ?? 300,
      })
      // Annotation errors were reported (with their file positions) before reconcile; here the
      // config is valid or falls back to defaults field by field.
      const { config } = revisionScaling(rev.metadata.annotations ?? {}, rev.spec.containerConcurrency ?? 0, settings, undefined, { reachable: routed.has(key) })
      this.autoscaler.configure(key, config, { nowMs: this.#clock(), ready: this.runtime.status(key).ready })
    }
    for (const key of this.#revisions.keys()) {
      if (next.has(key)) continue
      this.autoscaler.remove(key)
      this.#decisions.removed(key)
    }
    const added = new Set([...next.keys()].filter((k) => !this.#revisions.has(k)))
    this.#revisions = next
    this.runtime.setRevisions([...next.values()])
    // New revisions start at their initial scale right away (Knative creates the Deployment at once).
    for (const key of next.keys()) {
      if (!added.has(key)) continue
      const initial = this.autoscaler.result(key)?.scale ?? 1
      this.runtime.scale(key, initial)
      this.#decisions.started(key, initial)
    }
  }

  #demand(key: string): void {
    if (!this.#revisions.has(key)) return
    const now = this.#clock()
    if (this.runtime.status(key).ready === 0 && !this.#coldSince.has(key)) this.#coldSince.set(key, performance.now())
    const current = this.#activator.current(backendKey(key)) ?? 1
    // Every request buffered at zero lands here, but Knative's activator sends its immediate stat
    // only once, when an idle revision gets a request: stats in the same second add up, so one per
    // request would record 1+2+…+n and scale n requests to n²/2 of concurrency.
    if (!this.#firstStat.has(key) && (this.#last.get(key)?.concurrency ?? 0) === 0) {
      this.autoscaler.record(key, now, current, 1)
      this.#firstStat.set(key, current)
    }
    const r = this.autoscaler.poke(key, now, { ready: this.runtime.status(key).ready, concurrency: current })
    if (r !== undefined) this.#apply(key, r, 'request')
  }

  /** A local instance ejected again and again is restarted (a fixed upstream can only be ejected). */
  #ejected(key: string, id: string, ejections: number): void {
    if (ejections < RESTART_AFTER_EJECTIONS || !key.startsWith('revision/')) return
    const k = runtimeKey(key)
    if (this.#revisions.has(k) && this.runtime.replace(k, id)) this.#restarts++
  }

  #sample(): void {
    const now = this.#clock()
    for (const s of this.#activator.sample(performance.now())) {
      if (!s.key.startsWith('revision/')) continue
      const key = runtimeKey(s.key)
      if (!this.#revisions.has(key)) continue
      const first = this.#firstStat.get(key) ?? 0
      this.#firstStat.delete(key)
      const concurrency = Math.max(0, s.concurrency - first)
      this.#last.set(key, { concurrency: s.concurrency, rps: s.requests })
      this.autoscaler.record(key, now, concurrency, s.requests)
    }
    if (++this.#samples % TICK_EVERY_SAMPLES !== 0) return
    const results = this.autoscaler.tick(now, (k) => this.runtime.status(k).ready)
    for (const [key, r] of results) this.#apply(key, r, 'tick')
  }

  #apply(key: string, r: RevisionScale, trigger: 'tick' | 'request'): void {
    this.#decisions.applied(key, r, this.autoscaler.config(key), trigger)
    this.runtime.scale(key, r.scale)
    this.#statusMaybeChanged(key)
  }

  #instancesChanged(key: string): void {
    const ready = this.runtime.ready(key)
    this.#activator.setInstances(backendKey(key), ready.map((i) => ({ id: i.id, origin: i.origin, protocol: i.protocol })))
    const since = this.#coldSince.get(key)
    if (since !== undefined && ready.length > 0) {
      this.#coldSince.delete(key)
      const rev = this.#revisions.get(key)
      this.#coldStart.observe({ namespace: rev?.namespace ?? '', service: rev?.service ?? '', configuration: rev?.configuration ?? '', revision: rev?.name ?? key }, (performance.now() - since) / 1000)
    }
    this.#statusMaybeChanged(key)
  }

  #statusMaybeChanged(key: string): void {
    const v = this.view(key)
    const shown = JSON.stringify(v)
    if (this.#shown.get(key) === shown) return
    this.#shown.set(key, shown)
    this.#opts.onStatusChange()
  }

  describeInstances(): object {
    const activator = this.#activator
    const d = this.runtime.describe() as { revisions?: Record<string, { instances?: { id: string; inflight?: number }[] }> }
    for (const [key, rev] of Object.entries(d.revisions ?? {})) {
      for (const inst of rev.instances ?? []) {
        const live = activator.describeInstance(backendKey(key), inst.id)
        if (live === undefined) inst.inflight = 0
        else Object.assign(inst, live)
      }
    }
    return { ...d, upstreams: activator.describeFixed(), outlierRestarts: this.#restarts }
  }

  describeAutoscaler(): object {
    const out: Record<string, object> = {}
    const desc = this.autoscaler.describe(this.#clock())
    for (const [key, d] of Object.entries(desc)) {
      out[key] = { ...d, ready: this.runtime.status(key).ready, lastSample: this.#last.get(key) ?? null, queued: this.#activator.queued(backendKey(key)) }
    }
    return out
  }

  #registerGauges(registry: Registry): void {
    const self = this
    const perRevision = (name: string, help: string, value: (key: string) => number | undefined): void => {
      new Gauge({
        name, help, labelNames: ['namespace', 'service', 'configuration', 'revision'], registers: [registry],
        collect() {
          this.reset()
          for (const [key, rev] of self.#revisions) {
            const v = value(key)
            if (v !== undefined) this.set({ namespace: rev.namespace, service: rev.service, configuration: rev.configuration, revision: rev.name }, v)
          }
        },
      })
    }
    perRevision('sluice_autoscaler_desired_instances', 'Instances the autoscaler wants for a revision.', (k) => this.autoscaler.result(k)?.scale)
    perRevision('sluice_autoscaler_actual_instances', 'Ready instances of a revision.', (k) => this.runtime.status(k).ready)
    perRevision('sluice_autoscaler_panic_mode', '1 while the revision\'s autoscaler is in panic mode.', (k) => {
      const d = this.autoscaler.describe(this.#clock())[k]
      return d === undefined ? undefined : d.panic ? 1 : 0
    })
    perRevision('sluice_autoscaler_excess_burst_capacity', 'Excess burst capacity (negative: the activator must buffer bursts).', (k) => this.autoscaler.result(k)?.excessBurstCapacity)
    perRevision('sluice_revision_concurrency', 'Time-weighted average concurrency over the last second, buffered requests included.', (k) => this.#last.get(k)?.concurrency)
    perRevision('sluice_revision_requests_per_second', 'Requests per second over the last second.', (k) => this.#last.get(k)?.rps)
    new Gauge({
      name: 'sluice_instances', help: 'Local instances by state.', labelNames: ['state'], registers: [registry],
      collect() {
        this.reset()
        const counts: Record<string, number> = { starting: 0, ready: 0, draining: 0, stopping: 0 }
        for (const i of self.runtime.instances()) if (i.state in counts) counts[i.state]++
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
      },
    })
  }
}

function activeCondition(r: RevisionScale): RuntimeView['active'] {
  if (r.state === 'Active') return { status: 'True' }
  if (r.state === 'Activating') return { status: 'Unknown', reason: r.reason || 'Queued', message: r.message }
  return { status: 'False', reason: r.reason || 'NoTraffic', message: r.message }
}


// The event sources running in this process: after every reconcile, PingSources go to the
// scheduler, ContainerSources to their supervised processes, SinkBindings become env for the
// revisions they bind, and each source gets its status. Ticks are sent in binary mode with
// Knative's retries; at most MAX_IN_FLIGHT sends per PingSource at a time (a slow sink drops ticks
// rather than piling them up, and says so).
import type { Logger } from '../../gateway/log.ts'
import type { Destination } from '../../gateway/eventing/types.ts'
import type { KObject, ResourceSet } from '../resources/types.ts'
import type { ContainerSource, PingSource, SinkBinding } from '../resources/eventing.ts'
import type { ReconcileOutput } from '../reconcile/index.ts'
import { knativeServiceKeys, resolveDestination, type ResolveContext, type Resolved } from '../reconcile/destinations.ts'
import { containerSourceWithStatus, pingSourceWithStatus, sinkBindingWithStatus } from '../reconcile/event-sources.ts'
import { rfc3339 } from '../reconcile/status.ts'
import { envObjects, resolveEnv } from '../resources/env.ts'
import type { AppLogs } from '../runtime/app-logs.ts'
import { ContainerSources, type ContainerSourceRun } from './container-source.ts'
import { pingEvent, pingTemplate, type PingTemplate } from './ping-event.ts'
import { PingScheduler, type Clock } from './ping-scheduler.ts'
import { sendEvent, type SendOptions } from './sender.ts'
import { SinkProxy } from './sink-proxy.ts'
import { bindingEnv, bindingSubjects, ceOverridesEnv, withBindingEnv, type ResolvedBinding } from './sink-binding.ts'

const MAX_IN_FLIGHT = 4

interface PingPayload { readonly template: PingTemplate; readonly sink: Destination }

interface PingStats { sent: number; failed: number; dropped: number; inFlight: number; lastError: string | undefined; lastSentAt: string | undefined }

export interface EventSourcesOptions {
  log: Logger
  appLogs?: AppLogs
  /** a source's runtime state changed (a process started or exited): statuses should be refreshed */
  onChange?: () => void
  /** the gateway's internal listener origin, until setInternalOrigin says otherwise */
  internalOrigin?: string
  clock?: Clock
  send?: SendOptions
  /** ContainerSource SIGTERM → SIGKILL */
  graceMs?: number
}

export class EventSources {
  readonly #opts: EventSourcesOptions
  readonly scheduler: PingScheduler<PingPayload>
  readonly containers: ContainerSources
  readonly #stats = new Map<string, PingStats>()
  #internalOrigin: string
  #bindings = new Map<string, Record<string, string>>()
  #stopped = false
  #containerKeys: string[] = []
  #proxy: SinkProxy | undefined
  /** set by setInternalOrigin: the gateway listens */
  #listening = false

  constructor(opts: EventSourcesOptions) {
    this.#opts = opts
    this.#internalOrigin = opts.internalOrigin ?? 'http://127.0.0.1:8081'
    this.scheduler = new PingScheduler<PingPayload>({ fire: (job) => this.#fire(job.key, job.payload), ...(opts.clock ? { clock: opts.clock } : {}) })
    this.containers = new ContainerSources({
      log: opts.log, ...(opts.appLogs ? { appLogs: opts.appLogs } : {}), ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
      onChange: () => opts.onChange?.(),
    })
  }

  /**
   * Opens the loopback sink proxy: from then on, processes bound to a Broker or Service sink get a
   * K_SINK they can reach (sink-proxy.ts). Without it K_SINK is Knative's cluster URL.
   */
  async listen(): Promise<void> {
    const proxy = new SinkProxy(() => (this.#listening ? this.#internalOrigin : undefined))
    await proxy.listen()
    this.#proxy = proxy
  }

  /** The internal listener is known once the gateway listens (port 0 in tests): later sends use it. */
  setInternalOrigin(origin: string): void {
    this.#internalOrigin = origin
    this.#listening = true
  }

  /**
   * After a reconcile: start, re-plan or stop the sources, and return the output with their
   * statuses. Idempotent (called again on every status refresh); nothing restarts unless it changed.
   */
  apply(out: ReconcileOutput, rs: ResourceSet, now = new Date()): ReconcileOutput {
    if (this.#stopped) return out
    const ts = rfc3339(now)
    const ctx: ResolveContext = {
      internalOrigin: this.#internalOrigin,
      services: knativeServiceKeys(rs.services, rs.coreServices),
      brokers: new Set(rs.brokers.map(key)),
    }
    const resolve = (o: PingSource | ContainerSource | SinkBinding): Resolved => resolveDestination(o.spec.sink, o.metadata.namespace, ctx)
    const replaced = new Map<KObject, KObject>()

    const jobs = []
    for (const ps of firstByKey(rs.pingSources)) {
      const r = resolve(ps)
      replaced.set(ps, pingSourceWithStatus(ps, r, ts))
      if (!r.ok) continue
      jobs.push({ key: key(ps), schedule: ps.spec.schedule ?? '* * * * *', ...(ps.spec.timezone ? { timezone: ps.spec.timezone } : {}), payload: { template: pingTemplate(ps), sink: r.destination } })
    }
    this.scheduler.set(jobs)
    for (const k of [...this.#stats.keys()]) if (!jobs.some((j) => j.key === k)) this.#stats.delete(k)

    const proxied = new Set<string>()
    const processSink = (d: Destination): string => {
      if (d.connectTo !== null) proxied.add(new URL(d.url).host)
      return this.#proxy?.urlFor(d) ?? d.url
    }
    const objs = envObjects(rs)
    const runs: ContainerSourceRun[] = []
    for (const cs of firstByKey(rs.containerSources)) {
      const r = resolve(cs)
      replaced.set(cs, containerSourceWithStatus(cs, r, this.containers.state(key(cs)), ts))
      const container = (cs.spec.template.spec['containers'] as ContainerSourceRun['container'][] | undefined)?.[0]
      if (!r.ok || container === undefined || (container.command?.length ?? 0) === 0) continue
      const env: Record<string, string> = {}
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
      for (const e of resolveEnv(container, cs.metadata.namespace, objs).env) env[e.name] = e.value
      env['K_SINK'] = processSink(r.destination)
      env['K_CE_OVERRIDES'] = ceOverridesEnv(cs.spec.ceOverrides)
      runs.push({ key: key(cs), container, env })
    }
    this.containers.set(runs)
    this.#containerKeys = runs.map((r) => r.key)

    const bound: ResolvedBinding[] = []
    for (const sb of firstByKey(rs.sinkBindings)) {
      const r = resolve(sb)
      replaced.set(sb, sinkBindingWithStatus(sb, r, bindingSubjects(sb, out.objects).length, ts))
      if (r.ok) bound.push({ binding: sb, sinkUrl: processSink(r.destination) })
    }
    this.#bindings = bindingEnv(bound, out.objects)
    this.#proxy?.allow(proxied)

    if (replaced.size === 0) return out
    return { ...out, objects: out.objects.map((o) => replaced.get(o) ?? o) }
  }

  /** What the runtime runs: bound revisions carry K_SINK / K_CE_OVERRIDES (not shown in /debug/resources). */
  bind(out: ReconcileOutput): ReconcileOutput {
    return this.#bindings.size === 0 ? out : { ...out, objects: withBindingEnv(out.objects, this.#bindings) }
  }

  /** For /debug: per PingSource, its next tick and send counts. */
  describe(): object {
    const ping: Record<string, unknown> = {}
    for (const [k, s] of this.#stats) ping[k] = { ...s, next: isoOrUndefined(this.scheduler.next(k)) }
    const containers: Record<string, unknown> = {}
    for (const k of this.#containerKeys) containers[k] = this.containers.state(k)
    return { pingSources: ping, containerSources: containers }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.scheduler.stop()
    await this.containers.stop()
    await this.#proxy?.close()
  }

  #fire(k: string, p: PingPayload): void {
    let s = this.#stats.get(k)
    if (s === undefined) this.#stats.set(k, s = { sent: 0, failed: 0, dropped: 0, inFlight: 0, lastError: undefined, lastSentAt: undefined })
    const stats = s
    if (stats.inFlight >= MAX_IN_FLIGHT) {
      stats.dropped++
      this.#opts.log.warn('ping tick dropped: earlier ticks are still being sent', { source: k, sink: p.sink.url, inFlight: stats.inFlight })
      return
    }
    stats.inFlight++
    const now = Date.now()
    const event = pingEvent(p.template, now)
    // connectTo follows the internal listener as it is now (it may have been learnt after apply)
    const sink = p.sink.connectTo !== null ? { url: p.sink.url, connectTo: this.#internalOrigin } : p.sink
    void sendEvent(sink, event, this.#opts.send).then((res) => {
      stats.inFlight--
      if (res.ok) {
        stats.sent++
        stats.lastSentAt = new Date(now).toISOString()
        this.#opts.log.debug('ping sent', { source: k, id: event.attributes['id'], status: res.status, attempts: res.attempts })
      } else {
        stats.failed++
        stats.lastError = res.error ?? `HTTP ${res.status}`
        this.#opts.log.error('ping event lost: the sink refused it or could not be reached after retries', { source: k, sink: p.sink.url, status: res.status, attempts: res.attempts, error: res.error })
      }
    })
  }
}

function key(o: KObject): string {
  return `${o.metadata.namespace}/${o.metadata.name}`
}

function firstByKey<T extends KObject>(list: readonly T[]): T[] {
  const seen = new Set<string>()
  return list.filter((o) => !seen.has(key(o)) && seen.add(key(o)) !== undefined)
}

function isoOrUndefined(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString()
}

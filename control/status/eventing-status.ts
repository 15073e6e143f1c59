// Writes the status of the cluster's Brokers, Triggers and PingSources that are Sluice's
// (sources/kubernetes/eventing-ownership.ts), as control/reconcile/eventing.ts and
// reconcile/event-sources.ts computed it: Knative's condition sets, status.address.url,
// subscriberUri, deadLetterSinkUri, sinkUri. A Broker, Trigger or PingSource Sluice cannot read gets
// Ready False with the located errors (in Knative its webhook would have refused it).
// As the KIngress writer: leader only, through the status subresource, with the resourceVersion it
// read (a 409 means the object moved; the next evaluation starts from the new one), only when the
// status differs from the cluster's (lastTransitionTime aside), at most `maxInFlight` writes at once.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../../gateway/log.ts'
import type { Condition } from '../resources/types.ts'
import type { ReconcileOutput } from '../reconcile/index.ts'
import type { LoadResult } from '../sources/load.ts'
import { condition, rfc3339, withReady } from '../reconcile/status.ts'
import { isFromCluster, type RawObject, type RejectedObject } from '../sources/kubernetes/cluster-objects.ts'
import { EVENTING_KINDS, type EventingKind } from '../sources/kubernetes/eventing-ownership.ts'
import type { EventingBucket } from '../sources/kubernetes/eventing-ownership.ts'
import { keepStatusTimes } from './ingress-status.ts'

export interface EventingStatusOptions {
  readonly kubeConfig: KubeConfig
  readonly log: Logger
  /** the cluster's copy (status and resourceVersion), from the informer cache */
  readonly current: (bucket: EventingBucket, namespace: string, name: string) => RawObject | undefined
  readonly isLeader: () => boolean
  /** wait before evaluating again after a failed write */
  readonly retryMs?: number
  /** status writes in flight at once; the others wait their turn (default 16) */
  readonly maxInFlight?: number
  readonly now?: () => Date
}

interface Desired {
  readonly kind: EventingKind
  readonly namespace: string
  readonly name: string
  readonly generation: number
  readonly status: Record<string, unknown>
}

const byKind = new Map(EVENTING_KINDS.map((k) => [k.kind, k]))
const keyOf = (kind: string, namespace: string, name: string): string => `${kind}/${namespace}/${name}`

export class EventingStatusWriter {
  readonly #o: EventingStatusOptions
  readonly #api: CustomObjectsApi
  /** what the last load says each object's status should be, by `Kind/namespace/name` */
  #desired = new Map<string, Desired>()
  readonly #writing = new Set<string>()
  readonly #again = new Set<string>()
  /** keys waiting for a free write slot, oldest first */
  readonly #queued = new Set<string>()
  #retry: NodeJS.Timeout | undefined
  #stopped = false
  /** status writes done, by result: for tests and metrics */
  readonly writes = { ok: 0, conflict: 0, failed: 0 }

  constructor(o: EventingStatusOptions) {
    this.#o = o
    this.#api = o.kubeConfig.makeApiClient(CustomObjectsApi)
  }

  /** After every applied load or refresh: the statuses it computed, and the objects it could not read. */
  applied(out: ReconcileOutput, load: LoadResult & { rejected?: readonly RejectedObject[] }): void {
    const desired = new Map<string, Desired>()
    for (const o of out.objects) {
      const kind = byKind.get(o.kind)
      if (kind === undefined || !isFromCluster(o) || o.status === undefined) continue
      const key = keyOf(o.kind, o.metadata.namespace, o.metadata.name)
      if (!desired.has(key)) desired.set(key, { kind, namespace: o.metadata.namespace, name: o.metadata.name, generation: o.metadata.generation ?? 1, status: o.status })
    }
    const now = rfc3339((this.#o.now ?? (() => new Date()))())
    for (const r of load.rejected ?? []) {
      const kind = byKind.get(r.kind)
      const key = keyOf(r.kind, r.namespace, r.name)
      if (kind === undefined || desired.has(key)) continue
      const message = r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')
      const conditions = withReady([condition('SpecValid', 'False', now, 'InvalidSpec', message)], now)
      desired.set(key, { kind, namespace: r.namespace, name: r.name, generation: r.generation, status: { observedGeneration: r.generation, conditions } })
    }
    this.#desired = desired
    this.evaluate()
  }

  /** Compare with the cluster and write what differs; with a key (`Kind/namespace/name`), that object only. */
  evaluate(key?: string): void {
    if (this.#stopped || !this.#o.isLeader()) return
    if (key !== undefined) { this.#reconcile(key); return }
    for (const k of this.#desired.keys()) this.#reconcile(k)
  }

  /** A status-only watch update of one object (ours coming back, or someone overwriting it). */
  statusChanged(kind: string, namespace: string, name: string): void {
    this.evaluate(keyOf(kind, namespace, name))
  }

  stop(): void {
    this.#stopped = true
    if (this.#retry !== undefined) clearTimeout(this.#retry)
    this.#queued.clear()
  }

  #reconcile(key: string): void {
    const d = this.#desired.get(key)
    if (d === undefined) return
    if (this.#writing.has(key)) { this.#again.add(key); return }
    if (this.#writing.size >= (this.#o.maxInFlight ?? 16)) { this.#queued.add(key); return }
    this.#queued.delete(key)
    const raw = this.#o.current(d.kind.bucket, d.namespace, d.name)
    // Gone, or a newer generation than the load computed from: the next load decides.
    if (raw === undefined || (raw.metadata?.generation ?? 1) !== d.generation) return
    const current = (raw['status'] ?? {}) as Record<string, unknown>
    if (sameStatus(current, d.status)) return
    const status = keepStatusTimes(d.status, current)
    this.#writing.add(key)
    const { group, version, plural, kind } = d.kind
    const body = { apiVersion: `${group}/${version}`, kind, metadata: { name: d.name, namespace: d.namespace, resourceVersion: raw.metadata?.resourceVersion }, status }
    this.#api.replaceNamespacedCustomObjectStatus({ group, version, namespace: d.namespace, plural, name: d.name, body })
      .then(() => {
        this.writes.ok++
        this.#o.log.debug('eventing status written', { object: key, ready: readyOf(status) })
      }, (err: { code?: number; message?: string }) => {
        if (err.code === 409) this.writes.conflict++
        else {
          this.writes.failed++
          this.#o.log.warn('cannot write eventing status; retrying', { object: key, code: err.code, error: err.message })
        }
        this.#retryLater()
      })
      .finally(() => {
        this.#writing.delete(key)
        if (this.#again.delete(key)) this.evaluate(key)
        for (const next of this.#queued) {
          if (this.#writing.size >= (this.#o.maxInFlight ?? 16) || this.#stopped) break
          this.#queued.delete(next)
          this.evaluate(next)
        }
      })
  }

  #retryLater(): void {
    if (this.#retry !== undefined || this.#stopped) return
    this.#retry = setTimeout(() => { this.#retry = undefined; this.evaluate() }, this.#o.retryMs ?? 1000)
  }
}

function readyOf(status: Record<string, unknown>): string {
  return ((status['conditions'] ?? []) as Condition[]).find((c) => c.type === 'Ready')?.status ?? 'Unknown'
}

/**
 * Equal but for conditions' lastTransitionTime. Key order aside: the API server stores a custom
 * resource's status as a map and answers with its keys sorted.
 */
export function sameStatus(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return canonical(a, true) === canonical(b, true)
}

function canonical(v: unknown, top = false, inCondition = false): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x)).join(',')}]`
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null'
  const o = v as Record<string, unknown>
  const keys = Object.keys(o).filter((k) => o[k] !== undefined && !(inCondition && k === 'lastTransitionTime')).sort()
  const value = (k: string): string => top && k === 'conditions' && Array.isArray(o[k])
    ? `[${(o[k] as unknown[]).map((c) => canonical(c, false, true)).join(',')}]`
    : canonical(o[k])
  return `{${keys.map((k) => `${JSON.stringify(k)}:${value(k)}`).join(',')}}`
}

// Writes the status of the cluster's Brokers, Triggers and PingSources that are Sluice's
// (sources/kubernetes/eventing-ownership.ts), as control/reconcile/eventing.ts and
// reconcile/event-sources.ts computed it: Knative's condition sets, status.address.url,
// subscriberUri, deadLetterSinkUri, sinkUri. A Broker, Trigger or PingSource Sluice cannot read gets
// Ready False with the located errors (in Knative its webhook would have refused it).
// As the KIngress writer: leader only, through the status subresource, with the resourceVersion it
// read (a 409 means the object moved; the next evaluation starts from the new one), only when the
// status differs from the cluster's (lastTransitionTime aside), at most `maxInFlight` writes at once.
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../../gateway/log.ts'
import type { ReconcileOutput } from '../reconcile/index.ts'
import type { LoadResult } from '../sources/load.ts'
import { condition, rfc3339, withReady } from '../reconcile/status.ts'
import { isFromCluster, type RawObject, type RejectedObject } from '../sources/kubernetes/cluster-objects.ts'
import { EVENTING_KINDS, type EventingKind } from '../sources/kubernetes/eventing-ownership.ts'
import type { EventingBucket } from '../sources/kubernetes/eventing-ownership.ts'
import { keepStatusTimes, StatusWrites } from './status-writes.ts'

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
  readonly #writes: StatusWrites
  /** what the last load says each object's status should be, by `Kind/namespace/name` */
  #desired = new Map<string, Desired>()

  constructor(o: EventingStatusOptions) {
    this.#o = o
    this.#writes = new StatusWrites({
      kubeConfig: o.kubeConfig, log: o.log, what: 'eventing', keyField: 'object', maxInFlight: o.maxInFlight ?? 16, retryMs: o.retryMs,
      evaluate: (key) => this.evaluate(key),
      retry: () => this.evaluate(),
    })
  }

  /** status writes done, by result: for tests and metrics */
  get writes(): StatusWrites['counts'] { return this.#writes.counts }

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
    if (this.#writes.stopped || !this.#o.isLeader()) return
    if (key !== undefined) { this.#reconcile(key); return }
    for (const k of this.#desired.keys()) this.#reconcile(k)
  }

  /** A status-only watch update of one object (ours coming back, or someone overwriting it). */
  statusChanged(kind: string, namespace: string, name: string): void {
    this.evaluate(keyOf(kind, namespace, name))
  }

  stop(): void {
    this.#writes.stop()
  }

  #reconcile(key: string): void {
    const d = this.#desired.get(key)
    if (d === undefined) return
    if (!this.#writes.admit(key)) return
    const raw = this.#o.current(d.kind.bucket, d.namespace, d.name)
    // Gone, or a newer generation than the load computed from: the next load decides.
    if (raw === undefined || (raw.metadata?.generation ?? 1) !== d.generation) return
    const current = (raw['status'] ?? {}) as Record<string, unknown>
    if (sameStatus(current, d.status)) return
    const status = keepStatusTimes(d.status, current)
    const { group, version, plural, kind } = d.kind
    this.#writes.write(key, { group, version, kind, plural, namespace: d.namespace, name: d.name, resourceVersion: raw.metadata?.resourceVersion }, status)
  }
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

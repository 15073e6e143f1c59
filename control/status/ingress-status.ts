// Writes KIngress status the way Kourier does (pkg/reconciler/ingress): NetworkConfigured once the
// table serving it is live, LoadBalancerReady only after every ready Sluice replica answered the
// probe with this generation's hash, both load balancers as `domainInternal`, observedGeneration,
// and the failure reasons (DomainConflict, ReconcileIngressFailed for an object we cannot read).
// Only the leader writes, through the status subresource, with the resourceVersion it read: a
// conflict means the object moved, and the next evaluation starts from the new one.
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../../gateway/log.ts'
import type { Condition, ConfigError, KIngress, KObject } from '../resources/types.ts'
import type { ReconcileOutput } from '../reconcile/index.ts'
import type { LoadResult } from '../sources/load.ts'
import { condition, withReady } from '../reconcile/status.ts'
import { rfc3339 } from '../reconcile/status.ts'
import { isFromCluster, type RawObject, type RejectedObject } from '../sources/kubernetes/cluster-objects.ts'
import { servedHash } from '../sources/declared-hash.ts'
import { formatError } from '../sources/format-error.ts'
import { keepStatusTimes, StatusWrites } from './status-writes.ts'

const GROUP = 'networking.internal.knative.dev'
const VERSION = 'v1alpha1'
const PLURAL = 'ingresses'

/** What the writer needs of the prober (control/status/prober.ts). */
export interface ReadinessProber {
  probe(key: string, hash: string, hosts: readonly string[]): void
  isReady(key: string, hash: string): boolean
  cancel(key: string): void
  cancelAll(): void
}

export interface IngressStatusOptions {
  readonly kubeConfig: KubeConfig
  readonly log: Logger
  /** the cluster's copy of an ingress of ours (status and resourceVersion), from the informer cache */
  readonly current: (namespace: string, name: string) => RawObject | undefined
  readonly isLeader: () => boolean
  readonly prober: ReadinessProber
  /** `domainInternal` of the public and the private Service (sluice, sluice-internal) */
  readonly loadBalancers: () => { readonly public: string; readonly private: string }
  /** wait before evaluating again after a failed write */
  readonly retryMs?: number
  /** status writes in flight at once; the others wait their turn (default 32) */
  readonly maxInFlight?: number
  /**
   * How long the `LoadBalancerReady: Unknown` status of a generation being probed waits before it
   * is written (default 2 s). A probe round usually ends first: then only the final status is
   * written, one write and one watch echo per ingress instead of two (half the API traffic at a
   * start with thousands of ingresses). Until then the object still shows its older
   * observedGeneration, which Knative already reads as not ready.
   */
  readonly probingGraceMs?: number
  readonly now?: () => Date
}

interface Desired {
  readonly namespace: string
  readonly name: string
  readonly generation: number
  readonly status: Record<string, unknown>
  /** LoadBalancerReady is Unknown only because a probe round for this generation runs */
  readonly probing: boolean
}

/** One load's ingresses by key: served ones with their reconciled conditions, rejected ones, in load order. */
interface Index {
  readonly keys: readonly string[]
  readonly problemsOf: ReadonlyMap<string, readonly string[]>
  readonly served: ReadonlyMap<string, { readonly ing: KIngress; readonly conds: readonly Condition[] }>
  readonly rejected: ReadonlyMap<string, RejectedObject>
}

export class IngressStatusWriter {
  readonly #o: IngressStatusOptions
  readonly #writes: StatusWrites
  #last: { out: ReconcileOutput; load: LoadResult & { rejected?: readonly RejectedObject[] }; problems: readonly ConfigError[] } | null = null
  #index: Index | null = null
  /** what the last evaluation of every ingress saw: the next load evaluates only what differs */
  #evaluated: { index: Index; lbs: string } | null = null
  #pending: NodeJS.Immediate | undefined
  /** when probing of each ingress's current hash began (ms, performance.now()), for the grace */
  readonly #probingSince = new Map<string, { readonly hash: string; readonly at: number }>()
  /** ingresses whose probing status waits for its grace to end: key → when, in that order */
  readonly #held = new Map<string, number>()
  #heldTimer: NodeJS.Timeout | undefined
  /**
   * Each ingress's last status write until the informer cache shows it: the resourceVersion it was
   * based on, the one the write returned, and the status. A re-evaluation in between (a probe round
   * ending during the write) then neither conflicts on the old resourceVersion nor writes again, and
   * the write's own watch echo is recognised by its resourceVersion and skipped.
   */
  readonly #written = new Map<string, { readonly from: string; readonly rv: string; readonly status: Record<string, unknown> }>()

  constructor(o: IngressStatusOptions) {
    this.#o = o
    this.#writes = new StatusWrites({
      kubeConfig: o.kubeConfig, log: o.log, what: 'ingress', maxInFlight: o.maxInFlight ?? 32, retryMs: o.retryMs,
      evaluate: (key) => this.evaluate(key),
      // only the ingresses whose write failed: evaluating all of them is O(N) per failure
      retry: (keys) => { for (const k of keys) this.evaluate(k) },
    })
  }

  /** status writes done, by result: for tests and metrics */
  get writes(): StatusWrites['counts'] { return this.#writes.counts }

  /** `problems`: errors of single cluster objects that did not stop the load (a missing TLS Secret) */
  applied(out: ReconcileOutput, load: LoadResult, problems: readonly ConfigError[] = []): void {
    this.#last = { out, load, problems }
    this.#index = null
    // After the I/O already waiting: applied() runs right after the table swap, and requests for
    // the new table should not wait behind N status comparisons (≈ 10 ms at 2,000 ingresses).
    // Loads in a burst share one evaluation.
    if (this.#pending !== undefined) return
    this.#pending = setImmediate(() => { this.#pending = undefined; this.#evaluateChanged() })
  }

  /**
   * After a load: only the ingresses whose declared object, reconciled conditions or problems
   * differ from the last full look (one event must not cost N status comparisons). Whatever
   * else moves a status asks for its own key: a probe round ending, a status-only watch update.
   */
  #evaluateChanged(): void {
    const prev = this.#evaluated
    if (this.#writes.stopped || this.#last === null || !this.#o.isLeader()) return
    const index = this.#indexed()
    const lbs = this.#o.loadBalancers()
    if (prev === null || prev.lbs !== `${lbs.public} ${lbs.private}`) { this.evaluate(); return }
    const p = prev.index
    for (const key of p.keys) {
      if (index.served.has(key) || index.rejected.has(key)) continue
      this.#o.prober.cancel(key)
      this.#probingSince.delete(key)
      this.#held.delete(key)
      this.#written.delete(key)
    }
    const now = rfc3339((this.#o.now ?? (() => new Date()))())
    for (const key of index.keys) {
      if (unchanged(p, index, key)) continue
      const d = this.#desiredOf(index, key, now, lbs)
      if (d !== undefined) this.#reconcile(d)
    }
    this.#evaluated = { index, lbs: prev.lbs }
  }

  stop(): void {
    this.#writes.stop()
    if (this.#pending !== undefined) clearImmediate(this.#pending)
    this.#written.clear()
    if (this.#heldTimer !== undefined) clearTimeout(this.#heldTimer)
    this.#heldTimer = undefined
    this.#held.clear()
    this.#probingSince.clear()
    this.#o.prober.cancelAll()
  }

  /**
   * Compare what the status should be with what the cluster holds; write the differences. With a
   * key (namespace/name), only that ingress: a probe round that finished concerns one ingress, and
   * evaluating all of them on each of N rounds would be O(N²) (≈ 7 s of CPU at 2,000 ingresses).
   */
  evaluate(key?: string): void {
    if (this.#writes.stopped || this.#last === null || !this.#o.isLeader()) return
    const index = this.#indexed()
    const now = rfc3339((this.#o.now ?? (() => new Date()))())
    const lbs = this.#o.loadBalancers()
    if (key !== undefined) {
      const d = this.#desiredOf(index, key, now, lbs)
      if (d !== undefined) this.#reconcile(d)
      return
    }
    for (const k of index.keys) {
      const d = this.#desiredOf(index, k, now, lbs)
      if (d !== undefined) this.#reconcile(d)
    }
    this.#evaluated = { index, lbs: `${lbs.public} ${lbs.private}` }
  }

  /**
   * The informer saw a status-only change of `namespace/name`. The echo of our own last write
   * (its resourceVersion) changes nothing and is skipped; anything else (someone overwrote the
   * status) is evaluated.
   */
  statusChanged(namespace: string, name: string): void {
    const key = `${namespace}/${name}`
    const w = this.#written.get(key)
    if (w !== undefined && this.#o.current(namespace, name)?.metadata?.resourceVersion === w.rv) {
      this.#written.delete(key)
      return
    }
    this.evaluate(key)
  }

  /** The last load, indexed by ingress key once per load (not once per evaluation). */
  #indexed(): Index {
    if (this.#index !== null) return this.#index
    const { out, load, problems } = this.#last!
    const problemsOf = new Map<string, string[]>()
    for (const p of problems) {
      const m = /^kubernetes:Ingress\/([^/]+)\/(.+)$/.exec(p.file)
      if (m === null) continue
      const key = `${m[1]}/${m[2]}`
      problemsOf.set(key, [...(problemsOf.get(key) ?? []), `${p.path}: ${p.message}`])
    }
    const declared = new Map<string, KIngress>()
    for (const ing of load.resources.ingresses) if (isFromCluster(ing)) declared.set(keyOf(ing), ing)
    const served = new Map<string, { ing: KIngress; conds: Condition[] }>()
    const keys: string[] = []
    for (const o of out.objects) {
      if (o.kind !== 'Ingress') continue
      const key = keyOf(o)
      const ing = declared.get(key)
      if (ing === undefined || served.has(key)) continue
      served.set(key, { ing, conds: (o.status?.conditions ?? []) as Condition[] })
      keys.push(key)
    }
    const rejected = new Map<string, RejectedObject>()
    for (const r of load.rejected ?? []) {
      if (r.kind !== 'Ingress') continue
      const key = `${r.namespace}/${r.name}`
      if (served.has(key) || rejected.has(key)) continue
      rejected.set(key, r)
      keys.push(key)
    }
    this.#index = { keys, problemsOf, served, rejected }
    return this.#index
  }

  #desiredOf(index: Index, key: string, now: string, lbs: { readonly public: string; readonly private: string }): Desired | undefined {
    const s = index.served.get(key)
    if (s !== undefined) {
      const { ing, conds } = s
      const failed = index.problemsOf.get(key)
      const network = failed !== undefined
        ? condition('NetworkConfigured', 'False', now, 'ReconcileIngressFailed', failed.join('; '))
        : conds.find((c) => c.type === 'NetworkConfigured') ?? condition('NetworkConfigured', 'True', now)
      let lb = conds.find((c) => c.type === 'LoadBalancerReady') ?? condition('LoadBalancerReady', 'Unknown', now)
      const status: Record<string, unknown> = { observedGeneration: ing.metadata.generation ?? 1 }
      let probing = false
      if (lb.status === 'True' && failed === undefined) {
        const hash = servedHash(ing)
        if (this.#o.prober.isReady(key, hash)) {
          this.#probingSince.delete(key)
          status.privateLoadBalancer = { ingress: [{ domainInternal: lbs.private }] }
          status.publicLoadBalancer = { ingress: [{ domainInternal: lbs.public }] }
        } else {
          const hosts = ing.spec.rules.flatMap((r) => r.hosts ?? []).filter((h) => !h.includes('*'))
          this.#o.prober.probe(key, hash, [...new Set(hosts)])
          if (this.#probingSince.get(key)?.hash !== hash) this.#probingSince.set(key, { hash, at: performance.now() })
          probing = true
          lb = condition('LoadBalancerReady', 'Unknown', now, 'Uninitialized', 'Waiting for load balancer to be ready')
        }
      } else {
        this.#probingSince.delete(key)
        this.#o.prober.cancel(key)
      }
      status.conditions = withReady([network, lb], now)
      return { namespace: ing.metadata.namespace, name: ing.metadata.name, generation: ing.metadata.generation ?? 1, status, probing }
    }
    const r = index.rejected.get(key)
    if (r === undefined) return undefined
    const message = r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')
    const network = condition('NetworkConfigured', 'False', now, 'ReconcileIngressFailed', message)
    const lb = condition('LoadBalancerReady', 'Unknown', now, 'Uninitialized', 'Waiting for the ingress to be valid')
    this.#probingSince.delete(key)
    this.#o.prober.cancel(key)
    return { namespace: r.namespace, name: r.name, generation: r.generation, status: { observedGeneration: r.generation, conditions: withReady([network, lb], now) }, probing: false }
  }

  #reconcile(d: Desired): void {
    const key = `${d.namespace}/${d.name}`
    // Asked again while a write is in flight (its own watch event, a probe round ending), or a
    // burst (a start with 2,000 ingresses, each finishing its probe) filling every write slot.
    if (!this.#writes.admit(key)) return
    const raw = this.#o.current(d.namespace, d.name)
    // Gone, or already a newer generation than the snapshot computed from: the next snapshot decides.
    if (raw === undefined || (raw.metadata?.generation ?? 1) !== d.generation) return
    let current = (raw['status'] ?? {}) as Record<string, unknown>
    let resourceVersion = raw.metadata?.resourceVersion
    const w = this.#written.get(key)
    if (w !== undefined) {
      // The cache is still at the version our last write replaced: that write is the truth.
      if (resourceVersion === w.from) { current = w.status; resourceVersion = w.rv }
      else this.#written.delete(key)
    }
    if (sameStatus(current, d.status)) return
    if (d.probing && this.#hold(key)) return
    const status = keepStatusTimes(d.status, current)
    const target = { group: GROUP, version: VERSION, kind: 'Ingress', plural: PLURAL, namespace: d.namespace, name: d.name, resourceVersion }
    this.#writes.write(key, target, status, (rv) => {
      if (resourceVersion !== undefined && rv !== undefined && this.#o.current(d.namespace, d.name)?.metadata?.resourceVersion === resourceVersion) {
        this.#written.set(key, { from: resourceVersion, rv, status })
      }
    })
  }

  /**
   * Whether the probing status of `key` is still within its grace (then it is not written; the end
   * of the probe round, or of the grace, evaluates the ingress again). One timer for all of them.
   */
  #hold(key: string): boolean {
    const since = this.#probingSince.get(key)
    const grace = this.#o.probingGraceMs ?? 2_000
    if (since === undefined || grace <= 0) return false
    const due = since.at + grace
    if (performance.now() >= due) return false
    if (!this.#held.has(key)) this.#held.set(key, due)
    if (this.#heldTimer === undefined) this.#armHeld()
    return true
  }

  #armHeld(): void {
    if (this.#held.size === 0 || this.#writes.stopped) return
    // Every 50 ms at most, whatever the number held: each firing scans them all.
    this.#heldTimer = setTimeout(() => {
      this.#heldTimer = undefined
      const now = performance.now()
      for (const [key, due] of this.#held) {
        if (due > now) continue
        this.#held.delete(key)
        this.evaluate(key)
      }
      this.#armHeld()
    }, Math.max(50, Math.min(...this.#held.values()) - performance.now() + 1))
    this.#heldTimer.unref()
  }
}

/**
 * namespace/name of an object, the same string for the same object from load to load: the index
 * of a load is rebuilt each time, and new key strings for 2,000 unchanged ingresses were most of
 * its cost (built, then hashed again by every Map).
 */
const keys = new WeakMap<KObject, string>()
function keyOf(o: KObject): string {
  let k = keys.get(o)
  if (k === undefined) {
    k = `${o.metadata.namespace}/${o.metadata.name}`
    keys.set(o, k)
  }
  return k
}

/** The same objects (the source and reconcile keep those of unchanged ingresses) and the same problems. */
function unchanged(a: Index, b: Index, key: string): boolean {
  const sa = a.served.get(key)
  const sb = b.served.get(key)
  if (sa !== undefined || sb !== undefined) {
    if (sa === undefined || sb === undefined || sa.ing !== sb.ing || sa.conds !== sb.conds) return false
    return (a.problemsOf.get(key)?.join('\n') ?? '') === (b.problemsOf.get(key)?.join('\n') ?? '')
  }
  return a.rejected.get(key) === b.rejected.get(key)
}

/** Rejected objects are logged once per resourceVersion. */
export function logRejected(log: Logger, rejected: readonly RejectedObject[], seen: Map<string, string>): void {
  const now = new Set<string>()
  for (const r of rejected) {
    const key = `${r.kind}/${r.namespace}/${r.name}`
    now.add(key)
    if (seen.get(key) === r.resourceVersion) continue
    seen.set(key, r.resourceVersion)
    for (const e of r.errors) log.error('cannot serve this object; the others are unaffected', { at: formatError(e) })
  }
  for (const k of seen.keys()) if (!now.has(k)) seen.delete(k)
}

function sameBalancer(a: unknown, b: unknown): boolean {
  const ia = (a as { ingress?: unknown } | undefined)?.ingress
  const ib = (b as { ingress?: unknown } | undefined)?.ingress
  // Ours always hold exactly one { domainInternal }: compared without serialising; anything else whole.
  const one = (i: unknown): i is [{ domainInternal: unknown }] => Array.isArray(i) && i.length === 1 && Object.keys(i[0] ?? {}).length === 1 && 'domainInternal' in i[0]
  if (Object.keys(a ?? {}).length === 1 && Object.keys(b ?? {}).length === 1 && one(ia) && one(ib)) return ia[0].domainInternal === ib[0].domainInternal
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}

/** Equal for what Sluice writes: generation, load balancers, and each condition but its time. */
export function sameStatus(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  if (a.observedGeneration !== b.observedGeneration) return false
  if (!sameBalancer(a.privateLoadBalancer, b.privateLoadBalancer) || !sameBalancer(a.publicLoadBalancer, b.publicLoadBalancer)) return false
  const ca = (a.conditions ?? []) as Condition[]
  const cb = (b.conditions ?? []) as Condition[]
  if (ca.length !== cb.length) return false
  for (let i = 0; i < ca.length; i++) {
    const x = ca[i]!
    const y = cb[i]!
    if (x.type !== y.type || x.status !== y.status || (x.reason ?? '') !== (y.reason ?? '') || (x.message ?? '') !== (y.message ?? '')) return false
  }
  return true
}

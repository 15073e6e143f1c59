// The write half every status writer shares (ingress-status.ts, eventing-status.ts,
// plugin-status.ts): one PUT to the status subresource with the resourceVersion the writer read,
// at most one write in flight per object, at most `maxInFlight` at once, counters by result, and a
// retry timer after a failure. What the status should be, and whether it differs from the
// cluster's, stays with each writer:
//
//   if (!writes.admit(key)) return      // in flight (evaluated again when it settles) or no slot free
//   …read the cluster's copy, compute the status, return when it is the same…
//   writes.write(key, target, status)
//
// A 409 means the object moved: it counts as a conflict and the retry evaluates again from the new one.
//
// The PUT goes over a kept-alive pool (control/sources/kubernetes/api-pool.ts: the kubeconfig's
// server, TLS and credentials, re-read per batch), not client-node's request path, which opened a
// connection per write; only a cluster behind a proxy keeps client-node's path.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node'
import { ApiPool } from '../sources/kubernetes/api-pool.ts'
import type { Logger } from '../../gateway/log.ts'
import type { Condition } from '../resources/types.ts'
import { keepTransitionTimes } from '../reconcile/status.ts'

export interface StatusWritesOptions {
  readonly kubeConfig: KubeConfig
  readonly log: Logger
  /** names the object in log lines: `${what} status written`, `{ [what]: key }` */
  readonly what: string
  /** the log field that holds the key (default `what`) */
  readonly keyField?: string
  /** status writes in flight at once; the others wait their turn (default: no bound) */
  readonly maxInFlight?: number
  /** wait before the retry after a failed write */
  readonly retryMs?: number
  /** evaluate one object again: asked while its write was in flight, or a slot freed up for it */
  readonly evaluate: (key: string) => void
  /** after `retryMs`: the keys whose write failed since the last retry */
  readonly retry: (keys: readonly string[]) => void
}

/** Which custom resource a write goes to. */
export interface StatusTarget {
  readonly group: string
  readonly version: string
  readonly kind: string
  readonly plural: string
  readonly namespace: string
  readonly name: string
  /** the version the status was computed against: a write over a newer one is a 409 */
  readonly resourceVersion: string | undefined
}

export class StatusWrites {
  readonly #o: StatusWritesOptions
  /** the lean path; client-node's only for a cluster it cannot serve (a proxy) */
  readonly #pool: ApiPool | undefined
  readonly #api: CustomObjectsApi | undefined
  readonly #writing = new Set<string>()
  /** keys asked for again while their write was in flight */
  readonly #again = new Set<string>()
  /** keys waiting for a free write slot, oldest first; at most one entry per object */
  readonly #queued = new Set<string>()
  #retry: NodeJS.Timeout | undefined
  /** keys whose write failed, handed to `retry` */
  readonly #retryKeys = new Set<string>()
  #stopped = false
  /** status writes done, by result: for tests and metrics */
  readonly counts = { ok: 0, conflict: 0, failed: 0 }

  constructor(o: StatusWritesOptions) {
    this.#o = o
    this.#pool = ApiPool.for(o.kubeConfig, { connections: Math.min(o.maxInFlight ?? 8, 32) })
    this.#api = this.#pool === undefined ? o.kubeConfig.makeApiClient(CustomObjectsApi) : undefined
  }

  get stopped(): boolean { return this.#stopped }

  /**
   * Whether `key` may be evaluated for a write now. Not while its own write is in flight (asked
   * again then: it is evaluated once more when that settles, since nothing else may ask again), nor
   * when `maxInFlight` writes are: a burst (a start with 2,000 objects) must not open thousands of
   * requests at once; the key waits and is evaluated afresh when a slot frees up.
   */
  admit(key: string): boolean {
    if (this.#writing.has(key)) { this.#again.add(key); return false }
    if (this.#writing.size >= (this.#o.maxInFlight ?? Infinity)) { this.#queued.add(key); return false }
    this.#queued.delete(key)
    return true
  }

  /** Write `status` of an admitted key; `written` gets the resourceVersion the write returned. */
  write(key: string, t: StatusTarget, status: Record<string, unknown>, written?: (resourceVersion: string | undefined) => void): void {
    this.#writing.add(key)
    const { group, version, kind, plural, namespace, name, resourceVersion } = t
    const body = { apiVersion: `${group}/${version}`, kind, metadata: { name, namespace, resourceVersion }, status }
    const field = this.#o.keyField ?? this.#o.what
    this.#put(t, body)
      .then((out: { metadata?: { resourceVersion?: string } } | undefined) => {
        written?.(out?.metadata?.resourceVersion)
        this.counts.ok++
        this.#o.log.debug(`${this.#o.what} status written`, { [field]: key, ready: readyOf(status) })
      }, (err: { code?: number; message?: string; cause?: { code?: string; message?: string } }) => {
        if (err.code === 409) this.counts.conflict++
        else {
          this.counts.failed++
          const cause = err.cause
          this.#o.log.warn(`cannot write ${this.#o.what} status; retrying`, { [field]: key, code: err.code, error: err.message, ...(cause !== undefined ? { cause: cause.code ?? cause.message } : {}) })
        }
        this.#retryLater(key)
      })
      .finally(() => {
        this.#writing.delete(key)
        if (this.#again.delete(key)) this.#o.evaluate(key)
        for (const next of this.#queued) {
          if (this.#writing.size >= (this.#o.maxInFlight ?? Infinity) || this.#stopped) break
          this.#queued.delete(next)
          this.#o.evaluate(next)
        }
      })
  }

  #put(t: StatusTarget, body: Record<string, unknown>): Promise<{ metadata?: { resourceVersion?: string } } | undefined> {
    const { group, version, namespace, plural, name } = t
    if (this.#pool === undefined) return this.#api!.replaceNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body })
    const path = `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}/status`
    return this.#pool.request('PUT', path, body) as Promise<{ metadata?: { resourceVersion?: string } } | undefined>
  }

  /** No more writes start (those in flight settle, then the connections close); the retry is cancelled. */
  stop(): void {
    this.#stopped = true
    void this.#pool?.close()
    if (this.#retry !== undefined) clearTimeout(this.#retry)
    this.#retry = undefined
    this.#retryKeys.clear()
    this.#queued.clear()
  }

  #retryLater(key: string): void {
    if (this.#stopped) return
    this.#retryKeys.add(key)
    this.#retry ??= setTimeout(() => {
      this.#retry = undefined
      const keys = [...this.#retryKeys]
      this.#retryKeys.clear()
      this.#o.retry(keys)
    }, this.#o.retryMs ?? 1000)
  }
}

function readyOf(status: Record<string, unknown>): string {
  return ((status['conditions'] ?? []) as Condition[]).find((c) => c.type === 'Ready')?.status ?? 'Unknown'
}

/** A condition whose status did not change keeps the time it last changed (the one rule, reconcile/status.ts). */
export function keepStatusTimes(next: Record<string, unknown>, current: Record<string, unknown>): Record<string, unknown> {
  return { ...next, conditions: keepTransitionTimes((next.conditions ?? []) as Condition[], (current.conditions ?? []) as Condition[]) }
}

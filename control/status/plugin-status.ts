// Writes the status of the cluster's Plugin objects (sluice.dev/v1alpha1), as Knative reconcilers
// write theirs: Ready True at the generation Sluice serves, Ready False with reason InvalidSpec and
// every error's field path when it cannot (a field the schema lacks, a config the plugin refuses,
// a secretKeyRef to a missing Secret), ending with what its routes do while it is quarantined (its
// last good config, or 503). `kubectl get plugins -o yaml` then says what is wrong where the user
// looks, not only Sluice's log. Leader only, through the status subresource, with the
// resourceVersion read from the informer cache: a conflict means the object moved, and the next
// load (or the retry) decides again.
import type { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../../gateway/log.ts'
import type { ConfigError } from '../resources/types.ts'
import type { LoadResult } from '../sources/load.ts'
import { condition, rfc3339 } from '../reconcile/status.ts'
import { CLUSTER_FILE_PREFIX, isFromCluster, type RawObject, type RejectedObject } from '../sources/kubernetes/cluster-objects.ts'
import { sameStatus } from './ingress-status.ts'
import { keepStatusTimes, StatusWrites } from './status-writes.ts'

const GROUP = 'sluice.dev'
const VERSION = 'v1alpha1'
const FILE_PREFIX = `${CLUSTER_FILE_PREFIX}Plugin/`

export const PLUGIN_INVALID_REASON = 'InvalidSpec'

export interface PluginStatusOptions {
  readonly kubeConfig: KubeConfig
  readonly log: Logger
  /** the cluster's copy of a Plugin (status and resourceVersion), from the informer cache */
  readonly current: (namespace: string, name: string) => RawObject | undefined
  readonly isLeader: () => boolean
  /** wait before writing again after a failed write */
  readonly retryMs?: number
  readonly now?: () => Date
}

interface Verdict {
  readonly namespace: string
  readonly name: string
  readonly generation: number
  /** `spec.config.x: message`, empty when Sluice serves this generation */
  readonly errors: readonly string[]
}

/** Plugin errors of one load by `namespace/name`, from the `kubernetes:Plugin/ns/name` they point at. */
function errorsByPlugin(errors: readonly ConfigError[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const e of errors) {
    if (!e.file.startsWith(FILE_PREFIX)) continue
    const key = e.file.slice(FILE_PREFIX.length)
    const list = out.get(key) ?? []
    list.push(e.path !== '' ? `${e.path}: ${e.message}` : e.message)
    out.set(key, list)
  }
  return out
}

export class PluginStatusWriter {
  readonly #o: PluginStatusOptions
  readonly #writes: StatusWrites
  /** what each cluster Plugin's status should say, by namespace/name */
  #verdicts = new Map<string, Verdict>()

  constructor(o: PluginStatusOptions) {
    this.#o = o
    this.#writes = new StatusWrites({
      kubeConfig: o.kubeConfig, log: o.log, what: 'plugin', retryMs: o.retryMs,
      evaluate: (key) => this.#reconcile(key),
      retry: () => this.evaluate(),
    })
  }

  /** status writes done, by result: for tests and metrics */
  get writes(): StatusWrites['counts'] { return this.#writes.counts }

  /**
   * A load that is served: its Plugins are Ready, except the quarantined ones (control/plugins/
   * quarantine.ts) that `problems` point at and the ones the source rejected.
   */
  applied(load: LoadResult & { readonly rejected?: readonly RejectedObject[] }, problems: readonly ConfigError[] = []): void {
    this.#verdicts = this.#judge(load, errorsByPlugin(problems))
    this.evaluate()
  }

  /**
   * A load that was refused (the last good table keeps serving): the Plugins its errors point at
   * are not Ready; the others keep what the last served load said of them.
   */
  refused(load: LoadResult & { readonly rejected?: readonly RejectedObject[] }, errors: readonly ConfigError[]): void {
    const byPlugin = errorsByPlugin(errors)
    const next = this.#judge(load, byPlugin)
    for (const [key, v] of next) {
      const before = this.#verdicts.get(key)
      // Nothing said against it, but not served either: keep the last verdict of this generation.
      if (v.errors.length === 0 && !byPlugin.has(key)) {
        if (before !== undefined && before.generation === v.generation) next.set(key, before)
        else next.delete(key)
      }
    }
    this.#verdicts = next
    this.evaluate()
  }

  #judge(load: LoadResult & { readonly rejected?: readonly RejectedObject[] }, errors: ReadonlyMap<string, readonly string[]>): Map<string, Verdict> {
    const out = new Map<string, Verdict>()
    for (const o of load.resources.others) {
      if (o.kind !== 'Plugin' || !isFromCluster(o)) continue
      const key = `${o.metadata.namespace}/${o.metadata.name}`
      out.set(key, { namespace: o.metadata.namespace, name: o.metadata.name, generation: o.metadata.generation ?? 1, errors: errors.get(key) ?? [] })
    }
    for (const r of load.rejected ?? []) {
      if (r.kind !== 'Plugin') continue
      // A served load's problems hold its errors and what its routes do meanwhile.
      const key = `${r.namespace}/${r.name}`
      out.set(key, { namespace: r.namespace, name: r.name, generation: r.generation, errors: errors.get(key) ?? r.errors.map((e) => `${e.path}: ${e.message}`) })
    }
    return out
  }

  /** Write every Plugin whose status differs from its verdict (leadership gained, a retry). */
  evaluate(): void {
    if (this.#writes.stopped || !this.#o.isLeader()) return
    for (const key of this.#verdicts.keys()) this.#reconcile(key)
  }

  stop(): void {
    this.#writes.stop()
  }

  #reconcile(key: string): void {
    const v = this.#verdicts.get(key)
    if (v === undefined || this.#writes.stopped || !this.#o.isLeader()) return
    if (!this.#writes.admit(key)) return
    const raw = this.#o.current(v.namespace, v.name)
    // Gone, or already a newer generation than the load judged: the next load decides.
    if (raw === undefined || (raw.metadata?.generation ?? 1) !== v.generation) return
    const now = rfc3339((this.#o.now ?? (() => new Date()))())
    const ready = v.errors.length === 0
      ? condition('Ready', 'True', now)
      : condition('Ready', 'False', now, PLUGIN_INVALID_REASON, v.errors.join('; '))
    const desired = { observedGeneration: v.generation, conditions: [ready] }
    const current = (raw['status'] ?? {}) as Record<string, unknown>
    if (sameStatus(current, desired)) return
    const status = keepStatusTimes(desired, current)
    this.#writes.write(key, { group: GROUP, version: VERSION, kind: 'Plugin', plural: 'plugins', namespace: v.namespace, name: v.name, resourceVersion: raw.metadata?.resourceVersion }, status)
  }
}

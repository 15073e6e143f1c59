// A cluster Plugin Sluice cannot use as written (an invalid spec, a module that does not load, a
// config its schema refuses, a secretKeyRef that does not resolve, create() throwing) is put in
// quarantine instead of refusing the whole load: only the routes that use it are affected, every
// other ingress keeps updating (Envoy rejects a bad filter config for its listener alone).
// Those routes keep the Plugin's last good config when one was served, else they fail closed with
// a 503: an auth plugin that is broken never leaves its route open. Fixing the Plugin lifts the
// quarantine at the next event. Plugins from files are never quarantined: a file's mistake stops
// the load, the last good table keeps serving, and the user sees the error at once.
import type { Logger } from '../../gateway/log.ts'
import type { LocalResponse, Plugin, PluginInstance } from '../../plugins/api.ts'
import type { ConfigError, SourceRef } from '../resources/types.ts'
import type { LoadResult } from '../sources/load.ts'
import { CLUSTER_FILE_PREFIX, type RejectedObject } from '../sources/kubernetes/cluster-objects.ts'
import { formatError } from '../sources/format-error.ts'
import type { PluginResolution, ResolvedPlugin } from './resolve.ts'

/** What a quarantined Plugin's routes do meanwhile. */
export type Fallback = 'last-good' | 'fail-closed'

export interface Quarantined {
  readonly fallback: Fallback
  /** why, at the Plugin's field paths (empty for a Plugin that does not exist) */
  readonly errors: readonly ConfigError[]
}

/** What resolvePlugins needs to quarantine cluster Plugins rather than refuse the load. */
export interface QuarantineView {
  /** cluster Plugins the source rejected (unknown fields, wrong types), by namespace/name, with their errors */
  readonly rejected: ReadonlyMap<string, readonly ConfigError[]>
  /** the config of a Plugin the last served table used as written */
  readonly lastGood: (key: string) => ResolvedPlugin | undefined
}

export function isClusterSource(source: SourceRef | undefined): boolean {
  return source?.file.startsWith(CLUSTER_FILE_PREFIX) === true
}

/** The priority of the fail-closed stand-in: above every plugin, so no other plugin's onRequest runs before it answers. */
export const NOT_READY_PRIORITY = Number.MAX_SAFE_INTEGER

/**
 * The stand-in for a Plugin that is not ready and has no last good config: every request of the
 * route gets a 503 saying so. The body names the Plugin, never its errors (they may name Secrets);
 * those are on the Plugin's status and in the log.
 */
/** spec.plugin of the 503 stand-in: workers (--workers) build the stand-in again from it */
export const NOT_READY_REF = 'plugin-not-ready'

export function notReadyPlugin(key: string, source: SourceRef | undefined): ResolvedPlugin {
  const response: LocalResponse = Object.freeze({
    status: 503,
    headers: Object.freeze({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-sluice-plugin-not-ready': key }),
    body: `plugin ${key} of this route is not ready; the route answers 503 until the Plugin is fixed\n`,
  })
  const instance: PluginInstance = Object.freeze({ onRequest: () => response })
  const plugin: Plugin<never> = {
    name: 'plugin-not-ready', priority: NOT_READY_PRIORITY,
    validate: () => ({ ok: true, config: undefined as never }),
    create: () => instance,
  }
  return { key, plugin, ref: NOT_READY_REF, priority: NOT_READY_PRIORITY, config: null, configJson: 'not-ready', baseDir: process.cwd(), ...(source !== undefined ? { source } : {}) }
}

export class PluginQuarantine {
  readonly #log: Logger
  /** by namespace/name: the config each cluster Plugin last served as written */
  #lastGood = new Map<string, ResolvedPlugin>()
  /** by namespace/name: what was last logged of each quarantined Plugin (said once, not at every event) */
  #said = new Map<string, string>()

  constructor(log: Logger) {
    this.#log = log
  }

  /** For resolvePlugins, given the load about to be applied. */
  view(load: LoadResult & { readonly rejected?: readonly RejectedObject[] }): QuarantineView {
    const rejected = new Map<string, ConfigError[]>()
    for (const r of load.rejected ?? []) if (r.kind === 'Plugin') rejected.set(`${r.namespace}/${r.name}`, [...r.errors])
    return { rejected, lastGood: (key) => this.#lastGood.get(key) }
  }

  /** Plugins in quarantine after the last served table, by what their routes do (metrics). */
  counts(): Record<Fallback, number> {
    const out: Record<Fallback, number> = { 'last-good': 0, 'fail-closed': 0 }
    for (const said of this.#said.values()) out[said.startsWith('fail-closed') ? 'fail-closed' : 'last-good']++
    return out
  }

  /**
   * The table built with this resolution is served: the Plugins it used as written become the
   * last good ones (a quarantined one keeps its previous), the rest is forgotten. Logs each change
   * of quarantine once.
   * @param instances the compile's: cluster Plugins whose create() threw for some route, and those routes
   * @returns what to report on statuses: each quarantined Plugin's errors and what its routes do,
   * and the cluster KIngresses that use one
   */
  served(resolution: PluginResolution, instances: { readonly failed: ReadonlyMap<string, Quarantined>; readonly routeProblems: readonly ConfigError[] }): ConfigError[] {
    const { failed } = instances
    const quarantined = new Map(resolution.quarantined)
    for (const [key, q] of failed) {
      const r = quarantined.get(key)
      quarantined.set(key, r === undefined ? q : { fallback: r.fallback === 'fail-closed' ? r.fallback : q.fallback, errors: [...r.errors, ...q.errors] })
    }
    const next = new Map<string, ResolvedPlugin>()
    for (const [key, p] of resolution.usable) if (!quarantined.has(key) && isClusterSource(p.source)) next.set(key, p)
    for (const key of quarantined.keys()) {
      const before = this.#lastGood.get(key)
      if (before !== undefined) next.set(key, before)
    }
    this.#lastGood = next
    const problems: ConfigError[] = [...resolution.problems, ...instances.routeProblems]
    for (const [key, q] of quarantined) {
      const note = fallbackNote(q)
      // the Plugin's own status: its errors, then what its routes do
      problems.push(...q.errors)
      problems.push({ file: `${CLUSTER_FILE_PREFIX}Plugin/${key}`, line: 0, column: 0, path: '', message: note })
      const errors = q.errors.map(formatError)
      const said = `${q.fallback}\n${errors.join('\n')}`
      if (this.#said.get(key) === said) continue
      this.#said.set(key, said)
      this.#log.error('plugin quarantined: only the routes that use it are affected', {
        plugin: key, routes: note, errors: errors.length > 0 ? errors : [`no Plugin ${key} exists`],
      })
    }
    for (const key of [...this.#said.keys()]) {
      if (quarantined.has(key)) continue
      this.#said.delete(key)
      this.#log.info('plugin out of quarantine; its routes use it as written', { plugin: key })
    }
    return problems
  }
}

/** The sentence a quarantined Plugin's status and its routes' KIngress status end with. */
export function fallbackNote(q: Quarantined): string {
  return q.fallback === 'last-good'
    ? 'routes that use it keep its last good config until it is fixed'
    : 'routes that use it answer 503 until it is fixed (no good config of it was ever served)'
}

// Plugin instances per route, created with `create(config, ctx)` when a table is compiled and kept
// while the route, the plugin and its config stay the same, so state such as rate-limit buckets
// survives unrelated reloads. Instances no table uses any more are dropped. A cluster Plugin whose
// create() throws for a route is quarantined for that route alone (quarantine.ts).
import type { Logger } from '../../gateway/log.ts'
import type { PluginEntry } from '../../gateway/plugins/chain.ts'
import { PluginCreateError, type ResolvedPlugin } from './resolve.ts'
import { isClusterSource, notReadyPlugin, type Quarantined } from './quarantine.ts'
import type { ConfigError } from '../resources/types.ts'
import { clusterSource } from '../sources/kubernetes/cluster-objects.ts'

export class PluginInstances {
  readonly #log: Logger
  #live = new Map<string, PluginEntry>()
  #next = new Map<string, PluginEntry>()
  #failed = new Map<string, Quarantined>()
  #routeProblems: ConfigError[] = []

  constructor(log: Logger) {
    this.#log = log
  }

  /** Start a compile: instances asked for until commit() are the ones kept. */
  begin(): void {
    this.#next = new Map()
    this.#failed = new Map()
    this.#routeProblems = []
  }

  entry(namespace: string, route: string, p: ResolvedPlugin): PluginEntry {
    const key = `${namespace}/${route}\0${p.key}\0${p.configJson}`
    const e = this.#next.get(key) ?? this.#live.get(key) ?? this.#createOrStandIn(namespace, route, p)
    if (e !== undefined) {
      this.#next.set(key, e)
      return e
    }
    return this.#standIn(namespace, route, p)
  }

  /**
   * create() threw for a cluster Plugin (quarantine.ts): this route keeps the instance it had of
   * the Plugin's previous config, or gets the 503 stand-in. Kept under their own keys, so the next
   * compile tries the failing config again (and reports it again until it is fixed).
   */
  #standIn(namespace: string, route: string, p: ResolvedPlugin): PluginEntry {
    const prefix = `${namespace}/${route}\0${p.key}\0`
    let kept: [string, PluginEntry] | undefined
    for (const [k, e] of this.#next) if (k.startsWith(prefix)) { kept = [k, e]; break }
    if (kept === undefined) for (const [k, e] of this.#live) if (k.startsWith(prefix) && !k.endsWith('\0not-ready')) { kept = [k, e]; break }
    const failed = this.#failed.get(p.key)!
    if (kept === undefined) {
      const stand = notReadyPlugin(p.key, p.source)
      const k = `${prefix}${stand.configJson}`
      kept = [k, this.#next.get(k) ?? this.#live.get(k) ?? this.#create(namespace, route, stand)]
    }
    const closed = kept[0].endsWith('\0not-ready')
    if (closed) this.#failed.set(p.key, { ...failed, fallback: 'fail-closed' })
    // The route's own KIngress says so too (a KIngress is named like the route it serves).
    this.#routeProblems.push({
      file: clusterSource('Ingress', namespace, route).file, line: 0, column: 0, path: 'plugins',
      message: `Plugin ${p.key} cannot start for this route (see its status); ${closed ? 'this route answers 503 until it is fixed' : 'this route keeps its previous config of it'}`,
    })
    this.#next.set(kept[0], kept[1])
    return kept[1]
  }

  /** create() of a cluster Plugin that throws is recorded (undefined: use a stand-in); any other throws PluginCreateError. */
  #createOrStandIn(namespace: string, route: string, p: ResolvedPlugin): PluginEntry | undefined {
    try {
      return this.#create(namespace, route, p)
    } catch (err) {
      if (!(err instanceof PluginCreateError) || !isClusterSource(p.source) || p.configJson === 'not-ready') throw err
      const before = this.#failed.get(p.key)
      this.#failed.set(p.key, { fallback: before?.fallback ?? 'last-good', errors: [...(before?.errors ?? []), err.error] })
      return undefined
    }
  }

  /** The routes of this compile that a create() failure left on a stand-in, at their KIngress. */
  get routeProblems(): readonly ConfigError[] {
    return this.#routeProblems
  }

  /** Cluster Plugins whose create() threw in this compile, by namespace/name (quarantine.ts). */
  get failed(): ReadonlyMap<string, Quarantined> {
    return this.#failed
  }

  #create(namespace: string, route: string, p: ResolvedPlugin): PluginEntry {
    const log = this.#log
    const fields = { plugin: p.key, route: `${namespace}/${route}` }
    let instance
    try {
      instance = p.plugin.create(p.config as never, {
      route: { namespace, name: route },
      baseDir: p.baseDir,
      log: {
        info: (msg, f) => log.info(msg, { ...fields, ...f }),
        warn: (msg, f) => log.warn(msg, { ...fields, ...f }),
        error: (msg, f) => log.error(msg, { ...fields, ...f }),
      },
      })
    } catch (err) {
      throw new PluginCreateError(p, `${namespace}/${route}`, err)
    }
    return { name: p.key, instance, errors: 0 }
  }

  /** The compile succeeded: keep what it used, release what it no longer does. */
  commit(): void {
    const kept = new Set(this.#next.values())
    for (const e of this.#live.values()) {
      if (kept.has(e)) continue
      try {
        e.instance.close?.()
      } catch (err) {
        this.#log.warn('plugin close failed', { plugin: e.name, err })
      }
    }
    this.#live = this.#next
  }

  /** The compile failed: release instances made for it that the live table does not use. */
  abort(): void {
    const live = new Set(this.#live.values())
    for (const e of this.#next.values()) if (!live.has(e)) e.instance.close?.()
    this.#next = new Map()
  }

  entries(): IterableIterator<PluginEntry> {
    return this.#live.values()
  }
}

// Plugin instances per route, created with `create(config, ctx)` when a table is compiled and kept
// while the route, the plugin and its config stay the same, so state such as rate-limit buckets
// survives unrelated reloads. Instances no table uses any more are dropped.
import type { Logger } from '../../gateway/log.ts'
import type { PluginEntry } from '../../gateway/plugins/chain.ts'
import { PluginCreateError, type ResolvedPlugin } from './resolve.ts'

export class PluginInstances {
  readonly #log: Logger
  #live = new Map<string, PluginEntry>()
  #next = new Map<string, PluginEntry>()

  constructor(log: Logger) {
    this.#log = log
  }

  /** Start a compile: instances asked for until commit() are the ones kept. */
  begin(): void {
    this.#next = new Map()
  }

  entry(namespace: string, route: string, p: ResolvedPlugin): PluginEntry {
    const key = `${namespace}/${route}\0${p.key}\0${p.configJson}`
    const e = this.#next.get(key) ?? this.#live.get(key) ?? this.#create(namespace, route, p)
    this.#next.set(key, e)
    return e
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

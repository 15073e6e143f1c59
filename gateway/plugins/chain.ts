// A route's compiled plugin chain: one array per phase, holding only the plugins that implement
// it, in the order that phase runs. Built once per table; a route without plugins has none, so
// the gateway's plain path never looks at plugins at all.
import type { PluginInstance } from '../../plugins/api.ts'

export interface PluginEntry {
  /** the Plugin object (`namespace/name`) or built-in name, for logs and metrics */
  readonly name: string
  readonly instance: PluginInstance
  /** requests this plugin failed by throwing or rejecting */
  errors: number
}

export interface PluginChain {
  readonly entries: readonly PluginEntry[]
  readonly onRequest: readonly PluginEntry[]
  readonly onUpstream: readonly PluginEntry[]
  /** reverse priority order, like Envoy's encoder filters */
  readonly onResponseHeaders: readonly PluginEntry[]
  readonly onResponseData: readonly PluginEntry[]
  readonly onComplete: readonly PluginEntry[]
}

/** @param entries in priority order, highest first */
export function buildChain(entries: readonly PluginEntry[]): PluginChain | null {
  if (entries.length === 0) return null
  const has = (phase: keyof PluginInstance) => entries.filter((e) => typeof e.instance[phase] === 'function')
  const reversed = (phase: keyof PluginInstance) => has(phase).reverse()
  return Object.freeze({
    entries: Object.freeze([...entries]),
    onRequest: Object.freeze(has('onRequest')),
    onUpstream: Object.freeze(has('onUpstream')),
    onResponseHeaders: Object.freeze(reversed('onResponseHeaders')),
    onResponseData: Object.freeze(reversed('onResponseData')),
    onComplete: Object.freeze(reversed('onComplete')),
  })
}

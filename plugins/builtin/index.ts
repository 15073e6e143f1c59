// The plugins Sluice ships, by the name a Plugin object's `spec.plugin` uses.
import type { Plugin } from '../api.ts'

export const builtinPlugins: ReadonlyMap<string, Plugin<never>> = new Map<string, Plugin<never>>([
])

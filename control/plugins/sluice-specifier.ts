// Makes `import … from 'sluice/plugin'` work in user plugin modules wherever they live: a config
// directory is usually not inside a project that depends on sluice (a global install, a container),
// so Node's package resolution would not find it. A resolve hook points the specifier at this
// Sluice's own plugin API, so plugins share its classes and schema helpers.
import { registerHooks } from 'node:module'

export const PLUGIN_SPECIFIER = 'sluice/plugin'

// The checkout runs .ts; the installed package runs the .js that prepack compiled.
const PUBLIC_API = new URL(`../../plugins/public${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href

let registered = false

/** Idempotent; called before the first user module is imported. */
export function registerPluginSpecifier(): void {
  if (registered) return
  registered = true
  registerHooks({
    resolve(specifier, context, next) {
      if (specifier === PLUGIN_SPECIFIER) return { url: PUBLIC_API, shortCircuit: true }
      return next(specifier, context)
    },
  })
}

// Where plugin definitions come from: the built-ins, or a module path (relative to the file that
// declares the Plugin object) that Sluice imports once and keeps.
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Plugin } from '../../plugins/api.ts'
import { builtinPlugins } from '../../plugins/builtin/index.ts'
import { registerPluginSpecifier } from './sluice-specifier.ts'

export function isModulePath(ref: string): boolean {
  return ref.startsWith('./') || ref.startsWith('../') || path.isAbsolute(ref)
}

export class PluginRegistry {
  readonly #modules = new Map<string, Plugin<never> | Error>()
  #attempts = 0

  /** The absolute module path for a reference written in a file under `baseDir`. */
  modulePath(ref: string, baseDir: string): string {
    return path.resolve(baseDir, ref)
  }

  builtinNames(): string[] {
    return [...builtinPlugins.keys()].sort()
  }

  /** A definition, an Error saying why it cannot be had, or undefined when a module is not loaded yet. */
  get(ref: string, baseDir: string): Plugin<never> | Error | undefined {
    if (!isModulePath(ref)) {
      return builtinPlugins.get(ref) ?? new Error(`unknown plugin ${JSON.stringify(ref)}; built-in plugins are ${this.builtinNames().join(', ')}, or give a module path starting with ./`)
    }
    return this.#modules.get(this.modulePath(ref, baseDir))
  }

  /**
   * Import modules not loaded yet. A module that loaded is kept: restart Sluice to load a changed
   * one. One that failed (missing, a syntax error, a throw, no plugin export) is tried again on
   * the next load, so creating or fixing the file recovers like any other config error.
   */
  async load(files: readonly string[]): Promise<void> {
    const todo = [...new Set(files)].filter((f) => !this.#modules.has(f) || this.#modules.get(f) instanceof Error)
    if (todo.length > 0) registerPluginSpecifier()
    await Promise.all(todo.map(async (file) => {
      // A retry gets a URL of its own: Node keeps a module that threw while evaluating under the
      // plain one. (Error messages show the path without the query.)
      const url = pathToFileURL(file).href + (this.#modules.has(file) ? `?attempt=${++this.#attempts}` : '')
      try {
        const mod = await import(url) as { default?: unknown; plugin?: unknown }
        const p = (mod.default ?? mod.plugin) as Partial<Plugin<never>> | undefined
        if (p === undefined || typeof p !== 'object' || typeof p.name !== 'string' || typeof p.create !== 'function' || typeof p.validate !== 'function' || typeof p.priority !== 'number') {
          this.#modules.set(file, new Error(`${file} does not export a plugin: export default definePlugin({ name, priority, validate, create })`))
        } else {
          this.#modules.set(file, p as Plugin<never>)
        }
      } catch (err) {
        this.#modules.set(file, new Error(`cannot load plugin module ${file}: ${(err as Error).message}`))
      }
    }))
  }
}

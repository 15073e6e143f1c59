// Reads keys of one ConfigMap and reports bad values at their `data.<key>` position, so every
// settings reader (Knative's ConfigMaps, config-autoscaler, config-sluice) reports the same way.
import type { ConfigError, ConfigMap } from '../resources/types.ts'

export class ConfigMapReader {
  readonly errors: ConfigError[] = []
  readonly cm: ConfigMap

  constructor(cm: ConfigMap) {
    this.cm = cm
  }

  error(key: string, message: string): void {
    const src = this.cm.source
    const pos = src?.locate(['data', key]) ?? { line: 0, column: 0 }
    const path = /^[A-Za-z0-9_-]+$/.test(key) ? `data.${key}` : `data[${JSON.stringify(key)}]`
    this.errors.push({ file: src?.file ?? '', line: pos.line, column: pos.column, path, message: `${this.cm.metadata.name}: ${message}` })
  }

  has(key: string): boolean {
    return Object.hasOwn(this.cm.data ?? {}, key)
  }

  /** The value, trimmed; undefined when absent. */
  str(key: string): string | undefined {
    const v = this.cm.data?.[key]
    return v === undefined ? undefined : String(v).trim()
  }
}

/**
 * The first declaration of a ConfigMap wins; a later one is reported where it is written and
 * ignored. Records `cm` in `seen` when it is the first; returns the error otherwise.
 */
export function laterDeclaration(seen: Map<string, ConfigMap>, cm: ConfigMap): ConfigError | null {
  const name = cm.metadata.name
  const first = seen.get(name)
  if (first === undefined) {
    seen.set(name, cm)
    return null
  }
  const at = first.source ? `${first.source.file}:${first.source.line}` : `namespace ${first.metadata.namespace}`
  const src = cm.source
  return { file: src?.file ?? '', line: src?.line ?? 0, column: src?.column ?? 0, path: '', message: `ConfigMap ${name} is declared twice (first at ${at}); this one is ignored` }
}

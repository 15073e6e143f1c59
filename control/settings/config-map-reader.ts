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

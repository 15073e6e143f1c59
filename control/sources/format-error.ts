// One line per error, `file:line:column field.path: message`, the shape editors and terminals
// turn into a clickable location. Objects read from a cluster have no line: `kubernetes:Kind/ns/name`.
import type { ConfigError } from '../resources/types.ts'

export function formatError(e: ConfigError): string {
  const where = e.line === 0 && e.file.startsWith('kubernetes:') ? e.file : `${e.file}:${e.line}:${e.column}`
  return e.path === '' ? `${where}: ${e.message}` : `${where} ${e.path}: ${e.message}`
}

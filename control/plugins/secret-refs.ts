// `{secretKeyRef: {name, key}}` values in a Plugin's `spec.config` → SecretValues, looked up in the
// Secrets of the Plugin's namespace before the plugin validates its config. A missing Secret or key
// is a located problem (the caller turns it into a ConfigError), so a bad reference keeps the last
// good table like any other config error.
import type { Secret } from '../resources/types.ts'
import { SecretValue } from '../../plugins/secret-value.ts'

export interface SecretRefIssue {
  /** field path inside spec.config */
  readonly path: (string | number)[]
  readonly message: string
}

export interface SecretRefResult {
  readonly config: unknown
  readonly issues: SecretRefIssue[]
}

/** `['users', 'bob', 'secretKeyRef']` → `users.bob.secretKeyRef`; `['keys', 0]` → `keys[0]` */
export function pathText(path: readonly (string | number)[]): string {
  let out = ''
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`
  return out
}

/** A copy of `config` with every secretKeyRef replaced by its SecretValue (the input is not changed). */
export function resolveSecretRefs(config: unknown, namespace: string, secrets: readonly Secret[]): SecretRefResult {
  const issues: SecretRefIssue[] = []
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]))
    if (typeof v !== 'object' || v === null) return v
    const o = v as Record<string, unknown>
    if ('secretKeyRef' in o && Object.keys(o).length === 1) return lookup(o.secretKeyRef, [...path, 'secretKeyRef'])
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(o)) out[k] = walk(x, [...path, k])
    return out
  }
  const lookup = (ref: unknown, path: (string | number)[]): unknown => {
    const r = (typeof ref === 'object' && ref !== null && !Array.isArray(ref) ? ref : {}) as Record<string, unknown>
    const unknownKeys = Object.keys(r).filter((k) => k !== 'name' && k !== 'key')
    if (unknownKeys.length > 0) {
      issues.push({ path: [...path, unknownKeys[0]!], message: 'unknown field; a secretKeyRef has name and key' })
      return undefined
    }
    for (const f of ['name', 'key'] as const) {
      if (typeof r[f] !== 'string' || r[f] === '') {
        issues.push({ path: [...path, f], message: `required: the ${f === 'name' ? 'Secret name' : 'key inside the Secret'} (a string)` })
        return undefined
      }
    }
    const name = r.name as string
    const key = r.key as string
    const secret = secrets.find((s) => s.metadata.namespace === namespace && s.metadata.name === name)
    if (secret === undefined) {
      issues.push({ path: [...path, 'name'], message: `Secret ${namespace}/${name} not found; create it in the Plugin's namespace (kubectl create secret generic ${name} --from-literal=${key}=…) or fix the name` })
      return undefined
    }
    // stringData wins over data, as the API server merges it
    const text = secret.stringData?.[key] ?? (secret.data?.[key] !== undefined ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined)
    if (text === undefined) {
      const keys = [...new Set([...Object.keys(secret.stringData ?? {}), ...Object.keys(secret.data ?? {})])]
      issues.push({ path: [...path, 'key'], message: `Secret ${namespace}/${name} has no key ${JSON.stringify(key)}${keys.length > 0 ? ` (it has ${keys.join(', ')})` : ' (it is empty)'}` })
      return undefined
    }
    return new SecretValue(text, `${namespace}/${name}#${key}`)
  }
  const out = walk(config, [])
  return { config: out, issues }
}

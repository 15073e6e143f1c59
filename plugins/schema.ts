// A small typed schema builder for plugin configs: each field says its type, bounds and default,
// and validation reports every problem with its path inside `spec.config`. A field marked secret
// (a password, a signing key) is never quoted in an error and is shown as "<redacted>" wherever a
// config is displayed (`/debug/resources`); secretPaths() and redactSecrets() walk a schema for it.
import type { ConfigIssue, Validation } from './api.ts'
import { parseGoDuration } from '../lib/duration.ts'

export interface Field<T> {
  /** parse a raw value (undefined when absent) at `path`; push problems to `issues` */
  parse(raw: unknown, path: string, issues: ConfigIssue[]): T
  readonly description: string
  /** the value, and everything inside it, is a credential (map keys are not) */
  readonly secret?: boolean
  /**
   * What the field holds, so a walk can find secrets inside it. A hand-written field that wraps
   * a helper should spread it (`{ ...base, description, parse }`) to keep this and `secret`.
   */
  readonly inner?: Inner
}

/** The fields inside a list, a map with free keys, or a map with known keys. */
export type Inner =
  | { readonly kind: 'list'; readonly of: Field<unknown> }
  | { readonly kind: 'record'; readonly of: Field<unknown> }
  | { readonly kind: 'object'; readonly shape: Readonly<Record<string, Field<unknown>>> }

/** What a secret value is replaced with wherever configs are shown. */
export const REDACTED = '<redacted>'

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`)
/** as kind(), without the value itself */
const kindOnly = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `a ${typeof v}`)

function need<T>(raw: unknown, path: string, issues: ConfigIssue[], def: T | undefined, what: string): raw is NonNullable<unknown> {
  if (raw !== undefined && raw !== null) return true
  if (def === undefined) issues.push({ path, message: `required: ${what}` })
  return false
}

/** `secret: true` for passwords, keys and tokens: see the file comment. */
export function string(opts: { default?: string; enum?: readonly string[]; pattern?: RegExp; nonEmpty?: boolean; secret?: boolean } = {}): Field<string> {
  const description = opts.enum ? `one of ${opts.enum.join(', ')}` : 'a string'
  const show = opts.secret ? kindOnly : kind
  return {
    description,
    ...(opts.secret ? { secret: true } : {}),
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, description)) return opts.default ?? ''
      if (typeof raw !== 'string') { issues.push({ path, message: `must be ${description}, got ${show(raw)}` }); return opts.default ?? '' }
      const quoted = opts.secret ? 'the value' : JSON.stringify(raw)
      if (opts.enum && !opts.enum.includes(raw)) issues.push({ path, message: `must be ${description}, got ${quoted}` })
      else if (opts.pattern && !opts.pattern.test(raw)) issues.push({ path, message: `${quoted} does not match ${opts.pattern}` })
      else if (opts.nonEmpty && raw === '') issues.push({ path, message: 'must not be empty' })
      return raw
    },
  }
}

export function number(opts: { default?: number; min?: number; max?: number; integer?: boolean } = {}): Field<number> {
  const bounds = opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : opts.min !== undefined ? ` ≥ ${opts.min}` : opts.max !== undefined ? ` ≤ ${opts.max}` : ''
  const description = `${opts.integer ? 'a whole number' : 'a number'}${bounds}`
  return {
    description,
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, description)) return opts.default ?? 0
      const ok = typeof raw === 'number' && Number.isFinite(raw) && (!opts.integer || Number.isInteger(raw)) &&
        (opts.min === undefined || raw >= opts.min) && (opts.max === undefined || raw <= opts.max)
      if (!ok) { issues.push({ path, message: `must be ${description}, got ${kind(raw)}` }); return opts.default ?? 0 }
      return raw as number
    },
  }
}

export function boolean(opts: { default?: boolean } = {}): Field<boolean> {
  return {
    description: 'true or false',
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, 'true or false')) return opts.default ?? false
      if (typeof raw !== 'boolean') { issues.push({ path, message: `must be true or false, got ${kind(raw)}` }); return opts.default ?? false }
      return raw
    },
  }
}

/** A duration: a number of seconds or a Go duration string (`500ms`, `30s`, `1m30s`); parsed to ms, never negative. */
export function duration(opts: { default?: number; min?: number } = {}): Field<number> {
  const description = 'a duration such as "500ms", "30s" or a number of seconds'
  return {
    description,
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, description)) return opts.default ?? 0
      let ms: number | undefined
      if (typeof raw === 'number' && Number.isFinite(raw)) ms = raw * 1000
      else if (typeof raw === 'string') ms = parseGoDuration(raw, { bareSeconds: true })
      if (ms === undefined || ms < 0 || (opts.min !== undefined && ms < opts.min)) { issues.push({ path, message: `must be ${description}, got ${kind(raw)}` }); return opts.default ?? 0 }
      return ms
    },
  }
}

export function array<T>(of: Field<T>, opts: { default?: T[]; minItems?: number } = {}): Field<T[]> {
  const description = `a list of ${of.description}`
  return {
    description,
    inner: { kind: 'list', of },
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, description)) return opts.default ?? []
      if (!Array.isArray(raw)) { issues.push({ path, message: `must be ${description}, got ${kind(raw)}` }); return opts.default ?? [] }
      if (opts.minItems !== undefined && raw.length < opts.minItems) issues.push({ path, message: `needs at least ${opts.minItems} item${opts.minItems === 1 ? '' : 's'}` })
      return raw.map((v, i) => of.parse(v, `${path}[${i}]`, issues))
    },
  }
}

/** A map with free keys (header names, user names…). */
export function record<T>(of: Field<T>, opts: { default?: Record<string, T> } = {}): Field<Record<string, T>> {
  const description = `a map of ${of.description}`
  return {
    description,
    inner: { kind: 'record', of },
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, description)) return opts.default ?? {}
      if (typeof raw !== 'object' || Array.isArray(raw)) { issues.push({ path, message: `must be ${description}, got ${kind(raw)}` }); return opts.default ?? {} }
      const out: Record<string, T> = {}
      for (const [k, v] of Object.entries(raw)) out[k] = of.parse(v, path === '' ? k : `${path}.${k}`, issues)
      return out
    },
  }
}

type Shape = Record<string, Field<unknown>>
type Parsed<S extends Shape> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never }

/** A map with known keys; unknown keys are errors (with a hint), so typos do not pass silently. */
export function object<S extends Shape>(shape: S, opts: { optional?: boolean } = {}): Field<Parsed<S>> {
  const description = 'a map'
  return {
    description,
    inner: { kind: 'object', shape },
    parse(raw, path, issues) {
      const src = raw === undefined && opts.optional ? {} : raw
      if (typeof src !== 'object' || src === null || Array.isArray(src)) {
        issues.push({ path, message: `must be a map with keys ${Object.keys(shape).join(', ')}, got ${kind(src)}` })
        return parseAll({}, [])
      }
      for (const k of Object.keys(src)) {
        if (!(k in shape)) issues.push({ path: join(path, k), message: `unknown field; known fields: ${Object.keys(shape).join(', ')}` })
      }
      return parseAll(src as Record<string, unknown>, issues)
      function parseAll(o: Record<string, unknown>, into: ConfigIssue[]): Parsed<S> {
        const out: Record<string, unknown> = {}
        for (const [k, f] of Object.entries(shape)) out[k] = f.parse(o[k], join(path, k), into)
        return out as Parsed<S>
      }
    },
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

/**
 * Mark any field secret, a hand-written one included: its value and everything inside it is
 * redacted, and its problems never quote the value (they are scrubbed of it here).
 */
export function secret<T>(field: Field<T>): Field<T> {
  return {
    ...field,
    secret: true,
    parse(raw, path, issues) {
      const from = issues.length
      const value = field.parse(raw, path, issues)
      const leaks = leaves(raw).filter((s) => s !== '')
      for (let i = from; i < issues.length; i++) {
        let message = issues[i].message
        // quoted values always; bare ones only when long enough not to hit ordinary words
        for (const s of leaks) message = message.replaceAll(JSON.stringify(s), 'the value')
        for (const s of leaks) if (s.length >= 6) message = message.replaceAll(s, REDACTED)
        issues[i] = { path: issues[i].path, message }
      }
      return value
    },
  }
}

function leaves(v: unknown): string[] {
  if (typeof v === 'string') return [v]
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)]
  if (typeof v === 'object' && v !== null && !isSecretReference(v)) return Object.values(v).flatMap(leaves)
  return []
}

/**
 * Where a schema holds secrets, written like issue paths: `keys[*].secret` for a field of every
 * list item, `users.*` for every value of a map, `users` when the whole map is secret.
 */
export function secretPaths(field: Field<unknown>, path = ''): string[] {
  if (field.secret) return [path]
  const inner = field.inner
  if (inner === undefined) return []
  if (inner.kind === 'list') return secretPaths(inner.of, `${path}[*]`)
  if (inner.kind === 'record') return secretPaths(inner.of, join(path, '*'))
  return Object.entries(inner.shape).flatMap(([k, f]) => secretPaths(f, join(path, k)))
}

/**
 * A copy of a raw config with every value the schema marks secret replaced by REDACTED (map keys
 * and the shape kept, so the view still says what is configured). Parts the schema does not
 * describe are copied as they are: they passed validation, so they hold no secret field.
 */
export function redactSecrets(field: Field<unknown>, raw: unknown): unknown {
  if (raw === undefined || raw === null) return raw
  if (field.secret) return redactAll(raw)
  const inner = field.inner
  if (inner === undefined || typeof raw !== 'object') return raw
  if (inner.kind === 'list') return Array.isArray(raw) ? raw.map((v) => redactSecrets(inner.of, v)) : raw
  if (Array.isArray(raw)) return raw
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(raw)) {
    const f = inner.kind === 'record' ? inner.of : inner.shape[k]
    out[k] = f === undefined ? v : redactSecrets(f, v)
  }
  return out
}

/** The secret values inside a raw config, as strings (to scrub copies of them from other text). */
export function secretValues(field: Field<unknown>, raw: unknown): string[] {
  if (raw === undefined || raw === null || isSecretReference(raw)) return []
  if (field.secret) return leaves(raw)
  const inner = field.inner
  if (inner === undefined || typeof raw !== 'object') return []
  if (inner.kind === 'list') return Array.isArray(raw) ? raw.flatMap((v) => secretValues(inner.of, v)) : []
  if (Array.isArray(raw)) return []
  return Object.entries(raw).flatMap(([k, v]) => {
    const f = inner.kind === 'record' ? inner.of : inner.shape[k]
    return f === undefined ? [] : secretValues(f, v)
  })
}

/** Every value (not map key) inside `raw` replaced by REDACTED: for secrets, and configs no schema describes. */
export function redactAll(raw: unknown): unknown {
  if (isSecretReference(raw)) return raw
  if (Array.isArray(raw)) return raw.map(redactAll)
  if (typeof raw === 'object' && raw !== null) return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, redactAll(v)]))
  return raw === undefined || raw === null ? raw : REDACTED
}

/**
 * `{secretKeyRef: {name, key}}`: where a secret is kept, not the secret (Sluice resolves it when
 * the config loads), so it is shown as written.
 */
function isSecretReference(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false
  const keys = Object.keys(raw)
  return keys.length === 1 && keys[0] === 'secretKeyRef'
}

/** A plugin's validate() that also carries its schema, so Sluice can find the secret fields. */
export interface Validator<T> {
  (raw: unknown): Validation<T>
  readonly schema: Field<T>
}

/** Turn a field into a plugin's validate(). */
export function validator<T>(field: Field<T>, check?: (config: T, issues: ConfigIssue[]) => void): Validator<T> {
  const validate = (raw: unknown): Validation<T> => {
    const issues: ConfigIssue[] = []
    const config = field.parse(raw ?? {}, '', issues)
    if (issues.length === 0 && check) check(config, issues)
    return issues.length === 0 ? { ok: true, config } : { ok: false, issues }
  }
  return Object.assign(validate, { schema: field })
}

/** The schema of a plugin whose validate() was made by validator(); undefined for a hand-written one. */
export function schemaOf(plugin: { readonly validate: unknown }): Field<unknown> | undefined {
  const schema = (plugin.validate as Partial<Validator<unknown>> | undefined)?.schema
  return schema !== undefined && typeof schema.parse === 'function' ? schema : undefined
}

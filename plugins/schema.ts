// A small typed schema builder for plugin configs: each field says its type, bounds and default,
// and validation reports every problem with its path inside `spec.config`.
import type { ConfigIssue, Validation } from './api.ts'
import { parseGoDuration } from '../lib/duration.ts'

export interface Field<T> {
  /** parse a raw value (undefined when absent) at `path`; push problems to `issues` */
  parse(raw: unknown, path: string, issues: ConfigIssue[]): T
  readonly description: string
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`)

function need<T>(raw: unknown, path: string, issues: ConfigIssue[], def: T | undefined, what: string): raw is NonNullable<unknown> {
  if (raw !== undefined && raw !== null) return true
  if (def === undefined) issues.push({ path, message: `required: ${what}` })
  return false
}

export function string(opts: { default?: string; enum?: readonly string[]; pattern?: RegExp; nonEmpty?: boolean } = {}): Field<string> {
  const description = opts.enum ? `one of ${opts.enum.join(', ')}` : 'a string'
  return {
    description,
    parse(raw, path, issues) {
      if (!need(raw, path, issues, opts.default, description)) return opts.default ?? ''
      if (typeof raw !== 'string') { issues.push({ path, message: `must be ${description}, got ${kind(raw)}` }); return opts.default ?? '' }
      if (opts.enum && !opts.enum.includes(raw)) issues.push({ path, message: `must be ${description}, got ${JSON.stringify(raw)}` })
      else if (opts.pattern && !opts.pattern.test(raw)) issues.push({ path, message: `${JSON.stringify(raw)} does not match ${opts.pattern}` })
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

/** Turn a field into a plugin's validate(). */
export function validator<T>(field: Field<T>, check?: (config: T, issues: ConfigIssue[]) => void): (raw: unknown) => Validation<T> {
  return (raw) => {
    const issues: ConfigIssue[] = []
    const config = field.parse(raw ?? {}, '', issues)
    if (issues.length === 0 && check) check(config, issues)
    return issues.length === 0 ? { ok: true, config } : { ok: false, issues }
  }
}

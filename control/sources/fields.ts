// Small typed readers for untyped YAML data. Each reader records what is wrong at which field path
// and returns undefined, so validators can keep going and report every error in one pass.
// `null` is treated as absent, as Kubernetes does when it decodes JSON into Go structs.
import type { FieldPath } from './yaml-documents.ts'

export type Obj = Record<string, unknown>

export interface Issue {
  readonly path: FieldPath
  readonly message: string
  /** point at the key rather than the value (the key itself is the mistake) */
  readonly atKey?: boolean
}

export class Issues {
  readonly list: Issue[] = []
  /** path + message of every issue: a field checked twice (by the schema and by a rule) is reported once */
  readonly #seen = new Set<string>()
  add(path: FieldPath, message: string, atKey = false): void {
    const key = `${formatPath(path)}\0${message}`
    if (this.#seen.has(key)) return
    this.#seen.add(key)
    this.list.push(atKey ? { path, message, atKey } : { path, message })
  }
  get count(): number { return this.list.length }
}

/** `spec.traffic[1].percent`; keys that are not plain words are bracketed, as Kubernetes does. */
export function formatPath(path: FieldPath): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${seg}]`
  }
  return out
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** how a value reads in an error message: `a list`, `the number 5`, `true` */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing'
  if (Array.isArray(v)) return 'a list'
  if (isObj(v)) return 'a mapping'
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`
  if (typeof v === 'number') return `the number ${v}`
  if (typeof v === 'boolean') return `the boolean ${v}`
  return `a ${typeof v}`
}

export function absent(v: unknown): v is null | undefined { return v === undefined || v === null }

export function readMap(is: Issues, v: unknown, path: FieldPath): Obj | undefined {
  if (absent(v)) return undefined
  if (isObj(v)) return v
  is.add(path, `must be a mapping (key: value lines), got ${describe(v)}`)
  return undefined
}

export function readList(is: Issues, v: unknown, path: FieldPath): unknown[] | undefined {
  if (absent(v)) return undefined
  if (Array.isArray(v)) return v
  is.add(path, `must be a list (lines starting with '- '), got ${describe(v)}`)
  return undefined
}

export function readString(is: Issues, v: unknown, path: FieldPath): string | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'string') return v
  const hint = typeof v === 'number' || typeof v === 'boolean' ? '; quote it' : ''
  is.add(path, `must be a string, got ${describe(v)}${hint}`)
  return undefined
}

export function readBool(is: Issues, v: unknown, path: FieldPath): boolean | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'boolean') return v
  is.add(path, `must be true or false, got ${describe(v)}`)
  return undefined
}

/** an integer in [min, max]; quoted numbers are refused as kubectl refuses them */
export function readInt(is: Issues, v: unknown, path: FieldPath, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (absent(v)) return undefined
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    const hint = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? '; remove the quotes' : ''
    is.add(path, `must be an integer ${range}, got ${describe(v)}${hint}`)
    return undefined
  }
  if (v < min || v > max) {
    is.add(path, `must be an integer ${range}, got ${v}`)
    return undefined
  }
  return v
}

/** a port given as a number (1..65535) or a port name */
export function readIntOrString(is: Issues, v: unknown, path: FieldPath): number | string | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'string') {
    if (v === '') is.add(path, 'must not be empty; give a port number or a port name')
    return v
  }
  return readInt(is, v, path, 1, 65535)
}

export function readStringList(is: Issues, v: unknown, path: FieldPath): string[] | undefined {
  const list = readList(is, v, path)
  if (list === undefined) return undefined
  const before = is.count
  list.forEach((item, i) => {
    if (typeof item !== 'string') is.add([...path, i], `must be a string, got ${describe(item)}${typeof item === 'number' || typeof item === 'boolean' ? '; quote it' : ''}`)
  })
  return is.count === before ? (list as string[]) : undefined
}

/** a mapping whose values are all strings; `what` names them in the message (`label values`) */
export function readStringMap(is: Issues, v: unknown, path: FieldPath, what: string): Record<string, string> | undefined {
  const map = readMap(is, v, path)
  if (map === undefined) return undefined
  const before = is.count
  for (const [k, val] of Object.entries(map)) {
    if (typeof val !== 'string') {
      is.add([...path, k], `${what} must be strings, got ${describe(val)}${val === null ? '; write "" for an empty value' : '; quote it'}`)
    }
  }
  return is.count === before ? (map as Record<string, string>) : undefined
}

/** records `missing field` for an absent required value and returns true if it was absent */
export function missing(is: Issues, v: unknown, path: FieldPath, hint: string): boolean {
  if (!absent(v)) return false
  is.add(path, `missing field; ${hint}`)
  return true
}

/**
 * Unknown fields are errors, as with `kubectl apply` (strict field validation): a typo such as
 * `percentage:` would otherwise be dropped silently and show up as a confusing later error.
 */
export function checkFields(is: Issues, obj: Obj, path: FieldPath, allowed: readonly string[], placement?: (key: string) => string | undefined): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue
    // a near miss is a typo; else a field that exists one level up or down was misplaced
    const guess = closest(key, allowed)
    const moved = guess === undefined ? placement?.(key) : undefined
    const hint = guess !== undefined ? `did you mean ${guess}?` : moved ?? `expected one of: ${allowed.join(', ')}`
    is.add([...path, key], `unknown field "${key}"; ${hint}`, true)
  }
}

/** the allowed name a typo most likely meant: same letters ignoring case, a prefix or suffix, or at most 2 edits away */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const name of allowed) {
    const [k, n] = [key.toLowerCase(), name.toLowerCase()]
    const part = Math.min(k.length, n.length) >= 3 && (k.startsWith(n) || n.startsWith(k) || n.endsWith(k))
    const d = k === n ? 0 : part ? 1 : editDistance(n, k)
    if (d < bestDistance) { best = name; bestDistance = d }
  }
  return best
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]!
}

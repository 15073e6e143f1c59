// CESQL v1 built-in functions (spec §3.5) plus the casting functions of the TCK and sdk-go (INT, BOOL,
// STRING, IS_BOOL, IS_INT). Arguments arrive already cast to the declared parameter types; a
// function reports its own errors into the scratch and still returns a value (spec §3.5.3).
import type { CesqlValue } from './ast.ts'
import { fail, isInt32, toBool, toInt, toStr } from './cast.ts'
import type { CesqlType, Scratch } from './cast.ts'

/** 'any': the argument is passed as it is (the casting functions cast it themselves). */
export type ParamType = CesqlType | 'any'

export interface CesqlFunction {
  readonly name: string
  /** parameter types; with `variadic`, the last one repeats (0 or more times) */
  readonly params: readonly ParamType[]
  readonly variadic: boolean
  readonly returns: CesqlType
  /** `args` is a buffer owned by the call site: read it, never keep it */
  readonly call: (args: CesqlValue[], argc: number, s: Scratch) => CesqlValue
}

const WS = /^\p{White_Space}+|\p{White_Space}+$/gu
const SURROGATE = /[\uD800-\uDFFF]/

/** Character (code point) length. */
function charLength(x: string): number {
  if (!SURROGATE.test(x)) return x.length
  let n = 0
  for (let i = 0; i < x.length; i++) {
    const c = x.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < x.length) i++
    n++
  }
  return n
}

/** Substring by character (code point) positions [from, to). */
function charSlice(x: string, from: number, to: number): string {
  if (!SURROGATE.test(x)) return x.slice(from, to)
  return Array.from(x).slice(from, to).join('')
}

function substring(x: string, pos: number, len: number | null, s: Scratch): string {
  const n = charLength(x)
  if (pos > n || pos < -n) {
    fail(s, 'functionEvaluation', `SUBSTRING: position ${pos} is outside the string of length ${n}`)
    return ''
  }
  if (len !== null && len < 0) {
    fail(s, 'functionEvaluation', `SUBSTRING: length ${len} is negative`)
    return ''
  }
  if (pos === 0) return ''
  const start = pos > 0 ? pos - 1 : n + pos
  return charSlice(x, start, len === null ? n : Math.min(n, start + len))
}

const defs: CesqlFunction[] = [
  {
    name: 'ABS', params: ['integer'], variadic: false, returns: 'integer',
    call: (a, _n, s) => {
      const x = a[0] as number
      if (x === -2147483648) { fail(s, 'math', 'ABS(-2147483648) overflows a 32-bit integer'); return 2147483647 }
      return x < 0 ? -x : x
    },
  },
  { name: 'LENGTH', params: ['string'], variadic: false, returns: 'integer', call: (a) => charLength(a[0] as string) },
  {
    name: 'CONCAT', params: ['string'], variadic: true, returns: 'string',
    call: (a, n) => { let r = ''; for (let i = 0; i < n; i++) r += a[i] as string; return r },
  },
  {
    name: 'CONCAT_WS', params: ['string', 'string'], variadic: true, returns: 'string',
    call: (a, n) => {
      const d = a[0] as string
      let r = ''
      for (let i = 1; i < n; i++) r += i === 1 ? a[i] as string : d + (a[i] as string)
      return r
    },
  },
  { name: 'LOWER', params: ['string'], variadic: false, returns: 'string', call: (a) => (a[0] as string).toLowerCase() },
  { name: 'UPPER', params: ['string'], variadic: false, returns: 'string', call: (a) => (a[0] as string).toUpperCase() },
  { name: 'TRIM', params: ['string'], variadic: false, returns: 'string', call: (a) => (a[0] as string).replace(WS, '') },
  {
    name: 'LEFT', params: ['string', 'integer'], variadic: false, returns: 'string',
    call: (a, _n, s) => {
      const x = a[0] as string, y = a[1] as number
      if (y < 0) { fail(s, 'functionEvaluation', `LEFT: length ${y} is negative`); return x }
      return charLength(x) <= y ? x : charSlice(x, 0, y)
    },
  },
  {
    name: 'RIGHT', params: ['string', 'integer'], variadic: false, returns: 'string',
    call: (a, _n, s) => {
      const x = a[0] as string, y = a[1] as number
      if (y < 0) { fail(s, 'functionEvaluation', `RIGHT: length ${y} is negative`); return x }
      const n = charLength(x)
      return n <= y ? x : charSlice(x, n - y, n)
    },
  },
  {
    name: 'SUBSTRING', params: ['string', 'integer'], variadic: false, returns: 'string',
    call: (a, _n, s) => substring(a[0] as string, a[1] as number, null, s),
  },
  {
    name: 'SUBSTRING', params: ['string', 'integer', 'integer'], variadic: false, returns: 'string',
    call: (a, _n, s) => substring(a[0] as string, a[1] as number, a[2] as number, s),
  },
  // Casting functions: explicit, so BOOL(100) is true where an implicit integer→boolean cast errs.
  { name: 'INT', params: ['any'], variadic: false, returns: 'integer', call: (a, _n, s) => toInt(a[0]!, s) },
  {
    name: 'BOOL', params: ['any'], variadic: false, returns: 'boolean',
    call: (a, _n, s) => typeof a[0] === 'number' ? a[0] !== 0 : toBool(a[0]!, s),
  },
  { name: 'STRING', params: ['any'], variadic: false, returns: 'string', call: (a) => toStr(a[0]!) },
  {
    name: 'IS_BOOL', params: ['string'], variadic: false, returns: 'boolean',
    call: (a) => { const l = (a[0] as string).toLowerCase(); return l === 'true' || l === 'false' },
  },
  {
    name: 'IS_INT', params: ['string'], variadic: false, returns: 'boolean',
    call: (a) => isInt32(a[0] as string),
  },
]

const byName = new Map<string, CesqlFunction[]>()
for (const d of defs) {
  const list = byName.get(d.name) ?? []
  list.push(d)
  byName.set(d.name, list)
}

/** The definition a call of `name` with `argc` arguments dispatches to, or null (MissingFunctionError). */
export function resolveFunction(name: string, argc: number): CesqlFunction | null {
  const list = byName.get(name)
  if (list === undefined) return null
  for (const d of list) if (!d.variadic && d.params.length === argc) return d
  for (const d of list) if (d.variadic && argc >= d.params.length - 1) return d
  return null
}

// CESQL v1 type system and casts (spec §3.1, §3.7): String, Integer (int32), Boolean, their zero
// values, and the casts an operator applies to its operands. A failed cast reports a CastError
// into the evaluation scratch and yields the target's zero value, as the spec and its TCK require.
import type { CesqlValue } from './ast.ts'
import type { CesqlErrorKind } from './errors.ts'

export type CesqlType = 'string' | 'integer' | 'boolean'

/** Per-expression evaluation scratch, allocated once at compile time and reset per evaluation. */
export interface Scratch {
  error: CesqlErrorKind | null
  message: string
}

export function fail(s: Scratch, kind: CesqlErrorKind, message: string): void {
  if (s.error === null) { s.error = kind; s.message = message }
}

export function typeOf(v: CesqlValue): CesqlType {
  return typeof v === 'string' ? 'string' : typeof v === 'number' ? 'integer' : 'boolean'
}

export function zeroOf(t: CesqlType): CesqlValue {
  return t === 'string' ? '' : t === 'integer' ? 0 : false
}

const INT_RE = /^[+-]?[0-9]+$/

export function isInt32(v: string): boolean {
  if (!INT_RE.test(v)) return false
  const n = Number(v)
  return n >= -2147483648 && n <= 2147483647
}

/** String -> Integer: base 10, optional sign, must fit int32; else CastError and 0. */
export function toInt(v: CesqlValue, s: Scratch): number {
  if (typeof v === 'number') return v
  if (typeof v === 'boolean') return v ? 1 : 0
  if (isInt32(v)) return Number(v)
  fail(s, 'cast', `cannot cast '${v}' to an integer`)
  return 0
}

/**
 * Implicit cast to Boolean. String: 'true'/'false' in any case. Integer: a CastError with `false`,
 * as the TCK requires (`NOT 10` is `true` plus a cast error); the explicit BOOL(x) accepts integers.
 */
export function toBool(v: CesqlValue, s: Scratch): boolean {
  if (typeof v === 'boolean') return v
  if (typeof v === 'string') {
    const l = v.toLowerCase()
    if (l === 'true') return true
    if (l === 'false') return false
    fail(s, 'cast', `cannot cast '${v}' to a boolean`)
    return false
  }
  fail(s, 'cast', `cannot implicitly cast the integer ${v} to a boolean (use BOOL(x) or a comparison)`)
  return false
}

export function toStr(v: CesqlValue): string {
  return typeof v === 'string' ? v : String(v)
}

export function castTo(v: CesqlValue, t: CesqlType, s: Scratch): CesqlValue {
  return t === 'string' ? toStr(v) : t === 'integer' ? toInt(v, s) : toBool(v, s)
}

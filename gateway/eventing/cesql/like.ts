// The CESQL LIKE pattern (spec §3.4.3), compiled once: `%` any run, `_` one character, `\%` and
// `\_` literal; a backslash before anything else stays a literal backslash, as in cloudevents/sdk-go
// (the TCK's `'ab\c' LIKE 'ab\c'` is true). Matching is the classic single-backtrack wildcard walk:
// O(len(value) × len(pattern)) at worst, never exponential (a RegExp of `%a%a%a…` could be), and
// allocation-free. "Character" means code point, so `_` matches one emoji.

const STAR = -1
const ONE = -2

/** A compiled pattern: code points, or STAR (`%`) / ONE (`_`). */
export type LikePattern = Int32Array

export function compileLike(pattern: string): LikePattern {
  const items: number[] = []
  let escaped = false
  for (const ch of pattern) {
    const cp = ch.codePointAt(0)!
    if (escaped) {
      if (ch !== '%' && ch !== '_') items.push(0x5c)
      items.push(cp)
      escaped = false
    } else if (ch === '\\') {
      escaped = true
    } else if (ch === '%') {
      if (items[items.length - 1] !== STAR) items.push(STAR)
    } else if (ch === '_') {
      items.push(ONE)
    } else {
      items.push(cp)
    }
  }
  if (escaped) items.push(0x5c)
  return Int32Array.from(items)
}

function width(value: string, i: number): number {
  const c = value.charCodeAt(i)
  return c >= 0xd800 && c <= 0xdbff && i + 1 < value.length ? 2 : 1
}

export function likeMatches(p: LikePattern, value: string): boolean {
  const plen = p.length
  const vlen = value.length
  let pi = 0
  let vi = 0
  let starP = -1
  let starV = 0
  while (vi < vlen) {
    const item = pi < plen ? p[pi]! : 0
    if (pi < plen && item === STAR) {
      starP = pi++
      starV = vi
      continue
    }
    if (pi < plen && (item === ONE || value.codePointAt(vi) === item)) {
      vi += width(value, vi)
      pi++
      continue
    }
    if (starP < 0) return false
    starV += width(value, starV)
    vi = starV
    pi = starP + 1
  }
  while (pi < plen && p[pi] === STAR) pi++
  return pi === plen
}

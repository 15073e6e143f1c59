// Durations as Go writes them: a port of time.ParseDuration (go/src/time/format.go), the one parser
// every Sluice setting, annotation and plugin option uses.
//
// It lives in lib/, a dependency-free folder below gateway/, plugins/ and control/, because all
// three read durations and none may import the others' rooms: gateway/ never imports control/, and
// built-in plugins see only the plugin API. Nothing in lib/ imports anything but other lib/ files.
//
// Grammar (Go's): [-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+, or "0" alone. The unit is
// required: Knative reads config-autoscaler and the autoscaling annotations with time.ParseDuration,
// so "60" is an error there. Sluice's own keys (config-sluice, plugin configs) have always taken a
// bare number as seconds; they ask for that with { bareSeconds: true }.

/** Nanoseconds per unit, as time.unitMap. µ is U+00B5 (micro sign), μ is U+03BC (Greek mu). */
const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n], ['us', 1_000n], ['µs', 1_000n], ['μs', 1_000n],
  ['ms', 1_000_000n], ['s', 1_000_000_000n], ['m', 60_000_000_000n], ['h', 3_600_000_000_000n],
])

/** 1<<63: Go's Duration is an int64 of nanoseconds, so magnitudes above this overflow. */
const LIMIT = 1n << 63n

export interface DurationOptions {
  /** accept a bare number (`30`, `2.5`) as seconds — Sluice's own keys only, never Knative's */
  bareSeconds?: boolean
}

/**
 * Go's time.ParseDuration: the duration in nanoseconds (exact, as a bigint), or undefined where Go
 * returns an error (bad syntax, missing or unknown unit, int64 overflow).
 */
export function parseGoDurationNs(text: string, opts: DurationOptions = {}): bigint | undefined {
  if (opts.bareSeconds && /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)) return parseGoDurationNs(`${text}s`)
  let s = text
  let neg = false
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-'
    s = s.slice(1)
  }
  // Go special-cases "0": the only number that needs no unit.
  if (s === '0') return 0n
  if (s === '') return undefined
  let d = 0n
  while (s !== '') {
    // The next character must be [0-9.]
    if (!(s[0] === '.' || isDigit(s, 0))) return undefined
    // [0-9]*
    let i = 0
    while (isDigit(s, i)) i++
    const pre = i > 0
    const v0 = pre ? BigInt(s.slice(0, i)) : 0n
    if (v0 > LIMIT) return undefined // leadingInt's overflow
    s = s.slice(i)
    // (\.[0-9]*)?
    let frac: Fraction = NO_FRACTION
    if (s[0] === '.') {
      frac = leadingFraction(s.slice(1))
      s = frac.rest
    }
    if (!pre && frac.digits === 0) return undefined // no digits, as in ".s" or "-.s"
    // The unit runs to the next [0-9.]
    let u = 0
    while (u < s.length && s[u] !== '.' && !isDigit(s, u)) u++
    if (u === 0) return undefined // missing unit
    const unit = UNIT_NS.get(s.slice(0, u))
    if (unit === undefined) return undefined // unknown unit
    s = s.slice(u)
    if (v0 > LIMIT / unit) return undefined
    let v = v0 * unit
    if (frac.f > 0n) {
      // Go computes the fraction in float64 (exact enough for fractions of an hour) and truncates.
      v += BigInt(Math.trunc(Number(frac.f) * (Number(unit) / frac.scale)))
      if (v > LIMIT) return undefined
    }
    d += v
    if (d > LIMIT) return undefined
  }
  if (neg) return -d
  return d > LIMIT - 1n ? undefined : d
}

/** parseGoDurationNs in milliseconds, Sluice's unit for durations (fractional below 1 ms: `1us` → 0.001). */
export function parseGoDuration(text: string, opts: DurationOptions = {}): number | undefined {
  const ns = parseGoDurationNs(text, opts)
  if (ns === undefined) return undefined
  // Whole milliseconds first, so large values keep every digit a float64 can hold.
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i)
  return c >= 48 && c <= 57
}

interface Fraction {
  /** the digits after the dot, as an integer: the fraction is f / scale */
  f: bigint
  scale: number
  /** how many digits were consumed, kept ones and dropped ones */
  digits: number
  rest: string
}

const NO_FRACTION: Fraction = { f: 0n, scale: 1, digits: 0, rest: '' }

/**
 * Go's leadingFraction: the digits after the dot as f / scale, dropping digits once f would
 * overflow an int64 (they cannot change a nanosecond count anyway).
 */
function leadingFraction(s: string): Fraction {
  let i = 0
  let f = 0n
  let scale = 1
  let overflow = false
  for (; isDigit(s, i); i++) {
    if (overflow) continue
    if (f > (LIMIT - 1n) / 10n) { overflow = true; continue }
    const y = f * 10n + BigInt(s.charCodeAt(i) - 48)
    if (y > LIMIT) { overflow = true; continue }
    f = y
    scale *= 10
  }
  return { f, scale, digits: i, rest: s.slice(i) }
}

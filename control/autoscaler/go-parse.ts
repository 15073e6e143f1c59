// Go's strconv and time parsing, as Knative reads config-autoscaler and the autoscaling
// annotations: time.ParseDuration (so "60" without a unit is an error and "1m30s", "1.5h", "500ms"
// are fine), strconv.ParseFloat and ParseInt(v, 10, 32). Messages print values the way Go's %v does.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
}

/** Go time.ParseDuration → milliseconds; undefined when Go would return an error. */
export function parseGoDuration(text: string): number | undefined {
  let s = text
  let sign = 1
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1
    s = s.slice(1)
  }
  // Go special-cases a bare "0"; any other number needs a unit.
  if (s === '0') return 0
  if (s === '') return undefined
  let total = 0
  const part = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/
  while (s !== '') {
    const m = part.exec(s)
    if (m === null) return undefined
    const [whole, int = '', frac] = m
    // Go needs a digit on at least one side of the dot.
    if (int === '' && (frac === undefined || frac === '')) return undefined
    total += Number(`${int === '' ? '0' : int}.${frac ?? ''}0`) * UNIT_MS[m[3]!]!
    s = s.slice(whole.length)
  }
  return sign * total
}

/** Go Duration.String for a millisecond value: `0s`, `500ms`, `6s`, `1m0s`, `1h0m0s`, `1.5s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s'
  const neg = ms < 0
  let rest = Math.abs(ms)
  let out: string
  if (rest < 1000) out = `${trim(rest)}ms`
  else {
    const h = Math.floor(rest / 3_600_000)
    rest -= h * 3_600_000
    const m = Math.floor(rest / 60_000)
    rest -= m * 60_000
    const s = `${trim(rest / 1000)}s`
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s
  }
  return neg ? `-${out}` : out
}

function trim(n: number): string {
  // Durations are nanosecond-exact in Go; 9 decimals of a second is all that can matter.
  return String(Number(n.toFixed(9)))
}

/** strconv.ParseFloat, finite values only (Go would accept "NaN" and "Inf", which no setting can use) */
export function parseGoFloat(v: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/** strconv.ParseInt(v, 10, 32) */
export function parseGoInt32(v: string): number | undefined {
  if (!/^[+-]?\d+$/.test(v)) return undefined
  const n = Number(v)
  return n >= -2147483648 && n <= 2147483647 ? n : undefined
}

/** Go's %v for a float64 (shortest representation, like JavaScript's) */
export function goFloat(n: number): string {
  return String(n)
}

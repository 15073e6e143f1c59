// Go's strconv parsing and printing, as Knative reads config-autoscaler and the autoscaling
// annotations: strconv.ParseFloat and ParseInt(v, 10, 32), Duration.String. Messages print values
// the way Go's %v does. time.ParseDuration is lib/duration.ts, shared with the rest of Sluice.

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

// ISO-8601 durations (`PT0.2S`, `P1DT2H`, `PT-1S`) as Knative's DeliverySpec writes them, parsed the
// way knative/eventing parses them (github.com/rickb777/date/period.Parse + DurationApprox): an
// optional sign, then years, months, weeks, days and a time part of hours, minutes and seconds;
// the last number may carry a fraction (`.` or `,`). Years and months are approximate (365.2425
// days, a twelfth of that), as in period.DurationApprox. No npm package parses exactly this form.

const PATTERN = /^([+-])?P(?!$)(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?=[\d+-])(?:([+-]?\d+(?:[.,]\d+)?)H)?(?:([+-]?\d+(?:[.,]\d+)?)M)?(?:([+-]?\d+(?:[.,]\d+)?)S)?)?$/

const DAY = 86_400_000
const YEAR = 365.2425 * DAY
/** ms per unit, in the order of the pattern's groups 2..8 */
const UNITS = [YEAR, YEAR / 12, 7 * DAY, DAY, 3_600_000, 60_000, 1000] as const

/** milliseconds (may be negative, rounded to whole ms), or undefined when `text` is not an ISO-8601 duration */
export function parseIsoDuration(text: string): number | undefined {
  const m = PATTERN.exec(text.trim().toUpperCase())
  if (m === null) return undefined
  let ms = 0
  let numbers = 0
  for (let i = 0; i < UNITS.length; i++) {
    const v = m[i + 2]
    if (v === undefined) continue
    numbers++
    ms += Number(v.replace(',', '.')) * UNITS[i]!
  }
  if (numbers === 0) return undefined
  // only the smallest unit written may have a fraction, as ISO 8601 says
  const fractions = m.slice(2).filter((v) => v !== undefined && /[.,]/.test(v)).length
  if (fractions > 1 || (fractions === 1 && !/[.,]\d+[A-Z]$/.test(text.trim().toUpperCase()))) return undefined
  const total = Math.round(m[1] === '-' ? -ms : ms)
  return Object.is(total, -0) ? 0 : total
}

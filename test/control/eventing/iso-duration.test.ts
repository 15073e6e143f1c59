// ISO-8601 durations as knative/eventing accepts them (rickb777/date period.Parse + DurationApprox).
import t from 'tap'
import { parseIsoDuration } from '../../../control/sources/iso-duration.ts'

t.test('valid durations in milliseconds', async (t) => {
  const table: [string, number][] = [
    ['PT0.2S', 200], ['PT1S', 1000], ['PT0S', 0], ['PT1M', 60_000], ['PT1H30M', 5_400_000], ['P1D', 86_400_000],
    ['P1W', 604_800_000], ['P1DT1S', 86_401_000], ['pt2s', 2000], ['PT0,5S', 500], ['-PT1S', -1000], ['PT-1S', -1000],
    ['P1Y', Math.round(365.2425 * 86_400_000)], ['PT1.5M', 90_000], ['P0D', 0],
  ]
  for (const [text, ms] of table) t.equal(parseIsoDuration(text), ms, text)
})

t.test('invalid durations', async (t) => {
  for (const text of ['', 'P', 'PT', '2s', '1000', 'PT1', 'T1S', 'P1S', 'PT1.5M30S', 'PT1S1M', 'P1H', 'PTS', 'P-']) {
    t.equal(parseIsoDuration(text), undefined, JSON.stringify(text))
  }
})

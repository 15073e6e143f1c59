// Ported from Knative's pkg/autoscaler/aggregation/bucketing_test.go and max/window_test.go.
import t from 'tap'
import { roundToNDigits, smoothingCoefficient, TimedBuckets, WeightedBuckets } from '../../../control/autoscaler/window.ts'
import { MaxTimeWindow } from '../../../control/autoscaler/max-window.ts'
import { sec, T0 } from './fixtures/kpa-fixtures.ts'

t.test('partial window: the average divides by the buckets since the first write', async (t) => {
  const w = new TimedBuckets(60_000)
  t.equal(w.windowAverage(sec(0)), 0, 'no data at all is 0')
  t.ok(w.isEmpty(sec(0)))
  w.record(sec(0), 10)
  w.record(sec(1), 20)
  w.record(sec(2), 30)
  t.equal(w.windowAverage(sec(2)), 20, '3 buckets written: (10+20+30)/3, not /60')
  w.record(sec(2) + 500, 30)
  t.equal(w.windowAverage(sec(2) + 999), 30, 'samples in one second add up: (10+20+60)/3')
  t.notOk(w.isEmpty(sec(62)))
  t.equal(w.windowAverage(sec(62)), 0, 'a full window with no data gives 0')
  t.ok(w.isEmpty(sec(63)))
})

t.test('WindowAverage (TestTimedFloat64BucketsWindowAverage)', async (t) => {
  // Not aligned to a second, as time.Now() in the Go test.
  const now = T0 + 123
  const b = new TimedBuckets(5_000)
  b.record(now, 1)
  t.equal(b.windowAverage(now), 1, 'uses firstWrite; 0.2 without it')
  for (let i = 1; i < 5; i++) b.record(now + i * 1000, i + 1)
  t.equal(b.windowAverage(now + 4000), 15 / 5)
  t.equal(b.windowAverage(now + 3600), 15 / 5, 'now lagging behind the last write')
  t.equal(b.windowAverage(now + 6000), (15 - 1 - 2) / (5 - 2), 'short hole')
  t.equal(b.windowAverage(now + 10_000), 0, 'long hole')
  b.record(now + 6000, 91)
  t.equal(b.windowAverage(now + 6000), (15 - 1 - 2 + 91) / 5, 'write after a hole')
  const later = now + 60_000
  b.record(later, 1984)
  t.equal(b.windowAverage(later), 1984, 'a new series after a window without writes')
  b.record(later - 3000, 4)
  t.equal(b.windowAverage(later), (4 + 1984) / 4, 'an earlier write moves firstWrite back')
  const next = later + 1000
  b.record(next, 5)
  t.equal(b.windowAverage(next), (4 + 1984 + 5) / 5)
  b.record(next - 3000, 10)
  t.equal(b.windowAverage(next), (4 + 10 + 1984 + 5) / 5)
  b.record(next - 6000, 10)
  t.equal(b.windowAverage(next), (4 + 10 + 1984 + 5) / 5, 'a value older than the window is ignored')
})

t.test('descending writes (TestDescendingRecord)', async (t) => {
  const b = new TimedBuckets(5_000)
  for (let i = 8; i >= 0; i--) b.record(T0 + i * 1000, 5)
  t.equal(b.windowAverage(T0 + 5000), 5)
})

t.test('holes are zeroed (TestTimedFloat64BucketsHoles)', async (t) => {
  const b = new TimedBuckets(5_000)
  for (let i = 0; i < 5; i++) b.record(sec(i), i + 1)
  t.equal(b.windowAverage(sec(4)), 3)
  t.same(b.snapshot(sec(4)).buckets, [1, 2, 3, 4, 5])
  b.record(sec(8), 2)
  t.same(b.snapshot(sec(8)).buckets, [5, 0, 0, 0, 2], 'seconds 5..7 became 0')
  t.equal(b.windowAverage(sec(8)), 7 / 5)
})

t.test('resize keeps the newest buckets (TestTimedFloat64BucketsWindowUpdate)', async (t) => {
  const b = new TimedBuckets(5_000)
  for (let i = 0; i <= 5; i++) b.record(sec(i), i + 1)
  const now = sec(5)
  const initial = 2 + 3 + 4 + 5 + 6
  t.equal(b.windowAverage(now), initial / 5)
  b.resize(10_000, now)
  t.equal(b.windowMs, 10_000)
  t.equal(b.snapshot(now).buckets.reduce((a, v) => a + v, 0), initial)
  t.equal(b.windowAverage(now), initial / 5, 'at most 5 buckets are known')
  b.record(sec(6), 7)
  t.equal(b.windowAverage(sec(6)), roundToNDigits(6, (initial + 7) / 6))
  b.resize(4_000, sec(6))
  t.equal(b.windowAverage(sec(6)), (initial + 7 - 2 - 3) / 4)
  // No data within the window: nothing to copy, and firstWrite is forgotten.
  const stale = new TimedBuckets(5_000)
  stale.record(sec(0), 19.82)
  stale.resize(10_000, sec(60))
  t.equal(stale.snapshot(sec(60)).firstWriteMs, null)
})

t.test('roundToNDigits floors to n digits', async (t) => {
  t.equal(roundToNDigits(6, 3.6e-17), 0)
  t.equal(roundToNDigits(3, 0.0004), 0)
  t.equal(roundToNDigits(3, 1.2345), 1.234)
  t.equal(roundToNDigits(4, 1.2345), 1.2345)
  t.equal(roundToNDigits(6, 12345), 12345)
})

t.test('weighted-exponential: newer buckets weigh more', async (t) => {
  t.equal(smoothingCoefficient(4), 1 - (1 - 0.9999) ** (1 / 4))
  t.ok(Math.abs(smoothingCoefficient(4) - 0.9) < 1e-12, '4 buckets: 0.9 puts 99.99 % of the weight in the window')
  t.equal(smoothingCoefficient(60), 0.2, 'long windows use the minimum exponent')
  const w = new WeightedBuckets(4_000)
  const c = w.coefficient
  ;[10, 10, 5, 5].forEach((v, i) => w.record(sec(i), v))
  const want = 5 * c + 5 * c * (1 - c) + 10 * c * (1 - c) ** 2 + 10 * c * (1 - c) ** 3
  t.equal(w.windowAverage(sec(3)), want)
  t.ok(Math.abs(want - 5.049) < 1e-9)
  // One second later the newest bucket is a zero: every weight moves one step.
  t.equal(w.windowAverage(sec(4)), 5 * c * (1 - c) + 5 * c * (1 - c) ** 2 + 10 * c * (1 - c) ** 3)
  t.equal(w.windowAverage(sec(9)), 0, 'empty window')
  w.resize(60_000, sec(3))
  t.equal(w.coefficient, 0.2)
})

t.test('scale-down-delay max window (max/window_test.go, 5 slots of 1 s)', async (t) => {
  const cases: [string, number[], number[], ((i: number) => number)?][] = [
    ['single value', [1], [1]],
    ['ascending values', [1, 2], [1, 2]],
    ['descending values', [2, 1], [2, 2]],
    ['up, down, up', [1, 2, 1], [1, 2, 2]],
    ['windowing out', [5, 6, 5, 5, 5, 5, 5], [5, 6, 6, 6, 6, 6, 5]],
    ['windowing out with gaps', [6, 5, 2, 1], [6, 6, 6, 2], (i) => (i >= 3 ? i + 3 : i)],
    ['windowing out 2', [5, 6, 5, 7, 5, 5, 1], [5, 6, 6, 7, 7, 7, 7]],
    ['windowing out 5', [5, 8, 5, 7, 5, 5, 1, 4, 4, 4], [5, 8, 8, 8, 8, 8, 7, 7, 5, 5]],
    ['windowing out 8', [5, 8, 5, 7, 5, 5, 1, 4, 4, 4, 4, 9, 3, 4, 2, 1, 0], [5, 8, 8, 8, 8, 8, 7, 7, 5, 5, 4, 9, 9, 9, 9, 9, 4]],
    ['multiple with same index, ascending', [1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7], () => 1],
    ['multiple with same index, descending', [7, 6, 5, 4, 3, 2, 1], [7, 7, 7, 7, 7, 7, 7], () => 1],
  ]
  for (const [name, values, expect, index = (i: number) => i] of cases) {
    const m = new MaxTimeWindow(5_000, 1_000)
    const got = values.map((v, i) => {
      m.record(sec(index(i)), v)
      return m.current()
    })
    t.same(got, expect, name)
  }
  // timewindow_test.go
  const m = new MaxTimeWindow(5_000, 1_000)
  m.record(T0, 6)
  m.record(T0 + 500, 5)
  t.equal(m.current(), 6, 'two values in the same second keep the larger')
  m.record(T0 + 6000, 4)
  t.equal(m.current(), 4, 'a gap longer than the window drops the old maximum')
})

// The duration parser, checked against Go's own tables: parseDurationTests and
// parseDurationErrorTests from go/src/time/time_test.go, replayed in nanoseconds (bigint) so every
// digit Go checks is checked here too; then the millisecond view and the bare-seconds option.
import t from 'tap'
import { parseGoDuration, parseGoDurationNs } from '../../lib/duration.ts'

const Nanosecond = 1n
const Microsecond = 1000n * Nanosecond
const Millisecond = 1000n * Microsecond
const Second = 1000n * Millisecond
const Minute = 60n * Second
const Hour = 60n * Minute

// time_test.go parseDurationTests: [in, want]
const parseDurationTests: Array<[string, bigint]> = [
  // simple
  ['0', 0n],
  ['5s', 5n * Second],
  ['30s', 30n * Second],
  ['1478s', 1478n * Second],
  // sign
  ['-5s', -5n * Second],
  ['+5s', 5n * Second],
  ['-0', 0n],
  ['+0', 0n],
  // decimal
  ['5.0s', 5n * Second],
  ['5.6s', 5n * Second + 600n * Millisecond],
  ['5.s', 5n * Second],
  ['.5s', 500n * Millisecond],
  ['1.0s', 1n * Second],
  ['1.00s', 1n * Second],
  ['1.004s', 1n * Second + 4n * Millisecond],
  ['1.0040s', 1n * Second + 4n * Millisecond],
  ['100.00100s', 100n * Second + 1n * Millisecond],
  // different units
  ['10ns', 10n * Nanosecond],
  ['11us', 11n * Microsecond],
  ['12µs', 12n * Microsecond], // U+00B5
  ['12μs', 12n * Microsecond], // U+03BC
  ['13ms', 13n * Millisecond],
  ['14s', 14n * Second],
  ['15m', 15n * Minute],
  ['16h', 16n * Hour],
  // composite durations
  ['3h30m', 3n * Hour + 30n * Minute],
  ['10.5s4m', 4n * Minute + 10n * Second + 500n * Millisecond],
  ['-2m3.4s', -(2n * Minute + 3n * Second + 400n * Millisecond)],
  ['1h2m3s4ms5us6ns', 1n * Hour + 2n * Minute + 3n * Second + 4n * Millisecond + 5n * Microsecond + 6n * Nanosecond],
  ['39h9m14.425s', 39n * Hour + 9n * Minute + 14n * Second + 425n * Millisecond],
  // large value
  ['52763797000ns', 52763797000n * Nanosecond],
  // more than 9 digits after decimal point, see https://golang.org/issue/6617
  ['0.3333333333333333333h', 20n * Minute],
  // 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
  ['9007199254740993ns', ((1n << 53n) + 1n) * Nanosecond],
  // largest duration that can be represented by int64 in nanoseconds
  ['9223372036854775807ns', ((1n << 63n) - 1n) * Nanosecond],
  ['9223372036854775.807us', ((1n << 63n) - 1n) * Nanosecond],
  ['9223372036s854ms775us807ns', ((1n << 63n) - 1n) * Nanosecond],
  ['-9223372036854775808ns', -(1n << 63n) * Nanosecond],
  ['-9223372036854775.808us', -(1n << 63n) * Nanosecond],
  ['-9223372036s854ms775us808ns', -(1n << 63n) * Nanosecond],
  // largest negative value
  ['-9223372036854775808ns', -(1n << 63n) * Nanosecond],
  // largest negative round trip value, see https://golang.org/issue/48629
  ['-2562047h47m16.854775808s', -(1n << 63n) * Nanosecond],
  // huge string; issue 15011.
  ['0.100000000000000000000h', 6n * Minute],
  // This value tests the first overflow check in leadingFraction.
  ['0.830103483285477580700h', 49n * Minute + 48n * Second + 372539827n * Nanosecond],
]

// time_test.go parseDurationErrorTests (Go's strings are bytes; the invalid-UTF-8 ones are kept as
// the nearest JavaScript strings, which fail for the same reason: no digit where one must be)
const parseDurationErrorTests: string[] = [
  // invalid
  '', '3', '-', 's', '.', '-.', '.s', '+.s', '1d',
  '\x85\x85', '\xffff', 'hello \xffff world', '\uFFFD', '\uFFFD hello \uFFFD world',
  // overflow
  '9223372036854775810ns', '9223372036854775808ns', '-9223372036854775809ns', '9223372036854776us',
  '3000000h', '9223372036854775.808us', '9223372036854ms775us808ns',
]

t.test("Go's parseDurationTests", async (t) => {
  for (const [input, want] of parseDurationTests) t.equal(parseGoDurationNs(input), want, JSON.stringify(input))
})

t.test("Go's parseDurationErrorTests", async (t) => {
  for (const input of parseDurationErrorTests) t.equal(parseGoDurationNs(input), undefined, JSON.stringify(input))
})

t.test('milliseconds, the unit callers use', async (t) => {
  t.equal(parseGoDuration('1m30s'), 90_000)
  t.equal(parseGoDuration('1.5h'), 5_400_000)
  t.equal(parseGoDuration('500ms'), 500)
  t.equal(parseGoDuration('-2s'), -2000)
  t.equal(parseGoDuration('1us'), 0.001)
  t.equal(parseGoDuration('1µs'), 0.001)
  t.equal(parseGoDuration('1500ns'), 0.0015)
  t.equal(parseGoDuration('-1.5ms'), -1.5)
  t.equal(parseGoDuration('0'), 0)
  t.equal(parseGoDuration('2562047h47m16.854775807s'), 9_223_372_036_854.775, 'the largest duration keeps its whole milliseconds')
  t.equal(parseGoDuration('60'), undefined, 'a unit is required, as in Go and Knative')
  t.equal(parseGoDuration('1d'), undefined)
})

t.test('bareSeconds: a number without a unit is seconds (Sluice keys only)', async (t) => {
  const o = { bareSeconds: true }
  t.equal(parseGoDuration('30', o), 30_000)
  t.equal(parseGoDuration('2.5', o), 2500)
  t.equal(parseGoDuration('.5', o), 500)
  t.equal(parseGoDuration('-1', o), -1000, 'signs pass through; callers reject negative values')
  t.equal(parseGoDuration('0', o), 0)
  t.equal(parseGoDuration('1m30s', o), 90_000, 'Go syntax still works')
  t.equal(parseGoDuration('1e3', o), undefined, 'no exponents')
  t.equal(parseGoDuration('30 s', o), undefined)
  t.equal(parseGoDuration('', o), undefined)
  t.equal(parseGoDuration('.', o), undefined)
})

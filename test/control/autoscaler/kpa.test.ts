// The KPA decider. The first half replays Knative's pkg/autoscaler/scaling/autoscaler_test.go,
// which feeds stable/panic averages straight in (Kpa.scale); the second half drives the windows
// with samples (Kpa.record + Kpa.tick), as the gateway's meter will.
import t from 'tap'
import type { Test } from 'tap'
import { initialExcessBurstCapacity, Kpa } from '../../../control/autoscaler/kpa.ts'
import type { Decision } from '../../../control/autoscaler/kpa.ts'
import type { RevisionScalingConfig } from '../../../control/autoscaler/config.ts'
import { defaultConfig, expectedEBC, knativeSpec, sec } from './fixtures/kpa-fixtures.ts'

/** newTestAutoscaler: one ready pod at creation, so not in panic. */
function newKpa(targetValue: number, tbc: number, over: Partial<RevisionScalingConfig> = {}): Kpa {
  return new Kpa(knativeSpec(targetValue, tbc, over), { nowMs: sec(0), readyInstances: 1 })
}

function expectScale(t: Test, kpa: Kpa, now: number, ready: number, stable: number, panic: number, desired: number, ebc: number, msg?: string): Decision {
  const d = kpa.scale(now, ready, stable, panic)
  t.same({ desired: d.desired, ebc: d.excessBurstCapacity }, { desired, ebc }, msg ?? `stable ${stable} panic ${panic} ready ${ready}`)
  return d
}

t.test('TestAutoscalerScaleDownDelay: act on the max of the trailing delay', async (t) => {
  const kpa = new Kpa(knativeSpec(10, 0, { maxScaleDownRate: 10, maxScaleUpRate: 10, panicThreshold: 100, scaleDownDelayMs: 5 * 60_000, reachable: false }))
  // simple
  expectScale(t, kpa, sec(2), 0, 40, 40, 4, 0, 'scale up')
  expectScale(t, kpa, sec(300), 0, 0, 0, 4, 0, 'five minutes at lower load: still 4')
  expectScale(t, kpa, sec(302), 0, 0, 0, 0, 0, 'five minutes and two seconds: down')
  // gradual
  expectScale(t, kpa, sec(540), 0, 40, 40, 4, 0)
  expectScale(t, kpa, sec(600), 0, 30, 30, 4, 0, '4 still dominates')
  expectScale(t, kpa, sec(660), 0, 0, 0, 4, 0, 'still at 4')
  expectScale(t, kpa, sec(840), 0, 0, 0, 3, 0, '4 scrolls out, drop to 3')
  expectScale(t, kpa, sec(900), 0, 0, 0, 0, 0, 'everything scrolled out')
})

t.test('TestAutoscalerScaleDownDelayZero: no delay scales down at once', async (t) => {
  const kpa = new Kpa(knativeSpec(10, 0, { panicThreshold: 100, scaleDownDelayMs: 0 }))
  expectScale(t, kpa, sec(0), 0, 40, 40, 4, 0)
  expectScale(t, kpa, sec(0) + 500, 0, 20, 20, 2, 0)
})

t.test('TestAutoscalerMetrics / WithRPS: 50 at target 10 is 5; a fresh KPA at 2 ready starts in panic', async (t) => {
  const kpa = newKpa(10, 100)
  t.notOk(kpa.panicking, 'created with 1 ready: not panicking')
  const d = expectScale(t, kpa, sec(0), 1, 50, 50, 5, expectedEBC(10, 100, 50, 1))
  t.ok(d.panic, '5 needed for 1 ready is over the 2× threshold')
  t.ok(new Kpa(knativeSpec(10, 100), { nowMs: sec(0), readyInstances: 2 }).panicking, 'startInPanic')

  const rps = newKpa(10, 100, { metric: 'rps' })
  expectScale(t, rps, sec(0), 1, 100, 99, 10, expectedEBC(10, 100, 99, 1))
  expectScale(t, rps, sec(61), 1, 100, 99, 10, expectedEBC(10, 100, 99, 1))
})

t.test('TestAutoscalerStableModeIncrease (concurrency and rps)', async (t) => {
  const kpa = newKpa(10, 101)
  expectScale(t, kpa, sec(0), 1, 50, 10, 5, expectedEBC(10, 101, 10, 1))
  expectScale(t, kpa, sec(0), 1, 100, 10, 10, expectedEBC(10, 101, 10, 1))
  const rps = newKpa(10, 101, { metric: 'rps' })
  expectScale(t, rps, sec(0), 1, 50, 50, 5, expectedEBC(10, 101, 50, 1))
  expectScale(t, rps, sec(0), 1, 100, 99, 10, expectedEBC(10, 101, 99, 1))
})

t.test('TestAutoscalerUnpanicAfterSlowIncrease: panic ends a stable window after it began', async (t) => {
  const kpa = newKpa(1, 98)
  let d = expectScale(t, kpa, sec(0), 10, 11, 25, 25, expectedEBC(1, 98, 25, 10))
  t.equal(kpa.panicTimeMs, sec(0))
  t.ok(d.panic)
  d = expectScale(t, kpa, sec(30), 40, 30, 41, 41, expectedEBC(1, 98, 41, 40), 'half a window later, below threshold but still panicking')
  t.equal(kpa.panicTimeMs, sec(0), 'panic time did not move')
  d = expectScale(t, kpa, sec(62), 55, 50, 56, 50, expectedEBC(1, 98, 56, 55), 'no longer in panic')
  t.notOk(d.panic)
  t.equal(kpa.panicTimeMs, undefined)
})

t.test('TestAutoscalerExtendPanicWindow: each breach renews the panic', async (t) => {
  const kpa = newKpa(1, 98)
  expectScale(t, kpa, sec(0), 10, 11, 25, 25, expectedEBC(1, 98, 25, 10))
  expectScale(t, kpa, sec(30), 40, 30, 80, 80, expectedEBC(1, 98, 80, 40))
  t.equal(kpa.panicTimeMs, sec(30))
})

t.test('TestAutoscalerStableModeDecrease and NoTrafficScaleToZero', async (t) => {
  const kpa = newKpa(10, 98)
  expectScale(t, kpa, sec(0), 8, 100, 100, 10, expectedEBC(10, 98, 100, 8))
  expectScale(t, kpa, sec(0), 8, 50, 50, 5, expectedEBC(10, 98, 50, 8))
  const idle = newKpa(10, 75)
  expectScale(t, idle, sec(0), 1, 1, 0, 1, expectedEBC(10, 75, 0, 1))
  expectScale(t, idle, sec(0), 1, 0, 0, 0, expectedEBC(10, 75, 0, 1))
})

t.test('TestAutoscalerPanicModeExponentialTrackAndStabilize', async (t) => {
  const kpa = newKpa(1, 101)
  expectScale(t, kpa, sec(0), 1, 6, 6, 6, expectedEBC(1, 101, 6, 1))
  expectScale(t, kpa, sec(0), 6, 36, 36, 36, expectedEBC(1, 101, 36, 6))
  t.equal(kpa.panicTimeMs, sec(0))
  expectScale(t, kpa, sec(1), 36, 216, 216, 216, expectedEBC(1, 101, 216, 36))
  t.equal(kpa.panicTimeMs, sec(1))
  expectScale(t, kpa, sec(1), 216, 1296, 1296, 1296, expectedEBC(1, 101, 1296, 216))
  expectScale(t, kpa, sec(2), 1296, 1296, 1296, 1296, expectedEBC(1, 101, 1296, 1296))
})

t.test('TestAutoscalerScale table', async (t) => {
  const rows: { label: string; kpa: () => Kpa; ready: number; stable: number; panic: number; desired: number; ebc: number }[] = [
    { label: 'NoDataAtZeroNoAutoscale', kpa: () => newKpa(10, 100), ready: 1, stable: 0, panic: 0, desired: 0, ebc: expectedEBC(10, 100, 0, 1) },
    { label: 'StableModeUnlimitedTBC', kpa: () => newKpa(181, -1), ready: 1, stable: 21, panic: 26, desired: 1, ebc: -1 },
    { label: '0TBC', kpa: () => newKpa(10, 0), ready: 1, stable: 50, panic: 49, desired: 5, ebc: 0 },
    { label: 'StableModeNoChange', kpa: () => newKpa(10, 100), ready: 1, stable: 50, panic: 50, desired: 5, ebc: expectedEBC(10, 100, 50, 1) },
    {
      label: 'PanicStableLargerThanPanic (uses stable)', ready: 5, stable: 50, panic: 30, desired: 50, ebc: expectedEBC(1, 100, 30, 5),
      kpa: () => new Kpa(knativeSpec(1, 100), { nowMs: sec(-5), readyInstances: 5 }),
    },
    {
      label: 'PanicStableLessThanPanic (uses panic)', ready: 5, stable: 20, panic: 30, desired: 30, ebc: expectedEBC(1, 100, 30, 5),
      kpa: () => new Kpa(knativeSpec(1, 100), { nowMs: sec(-5), readyInstances: 5 }),
    },
    { label: 'StableModeNoChangeAlreadyScaled', kpa: () => newKpa(10, 100), ready: 5, stable: 50, panic: 50, desired: 5, ebc: expectedEBC(10, 100, 50, 5) },
    {
      label: 'StableModeIncreaseWithSmallScaleUpRate: ceil(2 × 1.1) still adds one', ready: 2, stable: 3, panic: 3.1, desired: 3,
      ebc: expectedEBC(1, 1982, 3.1, 2), kpa: () => newKpa(1, 1982, { maxScaleUpRate: 1.1 }),
    },
    {
      label: 'StableModeDecreaseWithSmallScaleDownRate: floor(100 / 1.1)', ready: 100, stable: 1, panic: 1, desired: 90,
      ebc: expectedEBC(10, 1982, 1, 100), kpa: () => newKpa(10, 1982, { maxScaleDownRate: 1.1 }),
    },
    {
      label: 'StableModeDecreaseNonReachable: no floor', ready: 100, stable: 1, panic: 1, desired: 1,
      ebc: expectedEBC(10, 1982, 1, 100), kpa: () => newKpa(10, 1982, { maxScaleDownRate: 1.1, reachable: false }),
    },
    { label: 'PanicModeDoublePodCount', kpa: () => newKpa(10, 84), ready: 1, stable: 50, panic: 100, desired: 10, ebc: expectedEBC(10, 84, 100, 1) },
  ]
  for (const r of rows) expectScale(t, r.kpa(), sec(0), r.ready, r.stable, r.panic, r.desired, r.ebc, r.label)
})

t.test('TestAutoscalerPanicThenUnPanicScaleDown: the ratchet holds until a stable window passes', async (t) => {
  const kpa = newKpa(10, 93)
  expectScale(t, kpa, sec(0), 1, 100, 100, 10, expectedEBC(10, 93, 100, 1))
  expectScale(t, kpa, sec(0), 10, 100, 1000, 100, expectedEBC(10, 93, 1000, 10))
  expectScale(t, kpa, sec(30), 10, 1, 1, 100, expectedEBC(10, 93, 1, 10), 'traffic dropped, still panicking: no scale down')
  expectScale(t, kpa, sec(61), 10, 1, 1, 1, expectedEBC(10, 93, 1, 10), 'after the stable window: down to 1 (floor 10/10)')
})

t.test('TestAutoscalerRateLimitScaleUp / ScaleDown (×10, ÷10)', async (t) => {
  const up = newKpa(10, 61)
  expectScale(t, up, sec(0), 1, 1000, 1001, 10, expectedEBC(10, 61, 1001, 1), 'need 100, can only go ×10')
  expectScale(t, up, sec(0), 10, 1000, 1001, 100, expectedEBC(10, 61, 1001, 10))
  const down = newKpa(10, 61)
  expectScale(t, down, sec(0), 100, 1, 1, 10, expectedEBC(10, 61, 1, 100), 'need 1, can only go ÷10')
  expectScale(t, down, sec(0), 10, 1, 1, 1, expectedEBC(10, 61, 1, 10))
})

t.test('TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound', async (t) => {
  expectScale(t, newKpa(10, 81), sec(0), 0, 1000, 888, 10, expectedEBC(10, 81, 888, 0))
})

t.test('TestAutoscalerUpdateTarget', async (t) => {
  const kpa = newKpa(10, 77)
  expectScale(t, kpa, sec(0), 1, 100, 101, 10, expectedEBC(10, 77, 101, 1))
  kpa.update(knativeSpec(1, 71, { activatorCapacity: 21 }), sec(0))
  expectScale(t, kpa, sec(0), 10, 100, 101, 100, expectedEBC(1, 71, 101, 10))
})

t.test('TestStartInPanicMode: only with more than one ready', async (t) => {
  for (const ready of [0, 1]) {
    const kpa = new Kpa(knativeSpec(100, 11), { nowMs: sec(0), readyInstances: ready })
    t.notOk(kpa.panicking, `ready ${ready}`)
    t.equal(kpa.maxPanicPods, ready)
  }
  const kpa = new Kpa(knativeSpec(100, 11), { nowMs: sec(0), readyInstances: 2 })
  t.ok(kpa.panicking)
  t.equal(kpa.maxPanicPods, 2)
  // A restart in panic keeps the current scale with no data yet ...
  t.equal(kpa.scale(sec(2), 2, 0, 0).desired, 2)
  // ... until a stable window passes without a breach.
  t.equal(kpa.scale(sec(61), 2, 0, 0).desired, 0)
  // Started in panic without a clock: the first decision starts the panic clock.
  const lazy = new Kpa(knativeSpec(100, 11), { readyInstances: 3 })
  t.equal(lazy.scale(sec(100), 3, 0, 0).desired, 3)
  t.equal(lazy.panicTimeMs, sec(100))
})

t.test('activation-scale raises any non-zero need', async (t) => {
  const kpa = new Kpa(knativeSpec(10, 0, { activationScale: 3 }))
  let d = kpa.scale(sec(0), 0, 1, 1)
  t.match(d, { desired: 3, stableDesired: 3, panicDesired: 3 })
  d = kpa.scale(sec(2), 3, 45, 45)
  t.equal(d.desired, 5, 'above activation-scale the load decides')
  d = kpa.scale(sec(70), 3, 0, 0)
  t.match(d, { desired: 0, stableDesired: 0 }, 'a zero need is not raised (floor(3 / 10) is 0)')
})

t.test('EBC: floor(ready × total − TBC − panic), 0 for TBC 0, -1 for TBC -1, initial EBC', async (t) => {
  const c = defaultConfig()
  t.equal(c.target, 100)
  t.equal(c.targetBurstCapacity, 211)
  const kpa = new Kpa(c)
  t.equal(kpa.scale(sec(0), 3, 80, 89).excessBurstCapacity, 0, '3 × 100 − 211 − 89: activator may leave the path')
  t.equal(kpa.scale(sec(2), 3, 80, 90).excessBurstCapacity, -1)
  t.equal(kpa.scale(sec(4), 2, 0, 0).excessBurstCapacity, -11, 'two instances are never enough for 211')
  t.equal(kpa.scale(sec(6), 2, 0, 0.5).excessBurstCapacity, -12, 'floored, not truncated')
  t.equal(new Kpa(defaultConfig({ targetBurstCapacity: 0 })).scale(sec(0), 5, 100, 100).excessBurstCapacity, 0)
  t.equal(new Kpa(defaultConfig({ targetBurstCapacity: -1 })).scale(sec(0), 5, 1, 1).excessBurstCapacity, -1)
  // Before any decision (multiscaler createScaler).
  t.equal(initialExcessBurstCapacity(c), 100 - 211)
  t.equal(initialExcessBurstCapacity(defaultConfig({ initialScale: 3 })), 300 - 211)
  t.equal(initialExcessBurstCapacity(defaultConfig({ targetBurstCapacity: 0 })), 0)
  t.equal(initialExcessBurstCapacity(defaultConfig({ targetBurstCapacity: -1 })), -1)
  t.equal(initialExcessBurstCapacity(defaultConfig({ target: 10, targetBurstCapacity: 10.5 })), 0, 'truncated toward zero like Go int32()')
})

// ---- driven by samples through the windows ----

function steady(kpa: Kpa, from: number, to: number, concurrency: number, rps = 0): void {
  for (let s = from; s <= to; s++) kpa.record(sec(s), concurrency, rps)
}

t.test('steady load → ceil(average / target)', async (t) => {
  const kpa = new Kpa(defaultConfig())
  steady(kpa, 0, 59, 140)
  let d = kpa.tick(sec(59), 2)
  t.match(d, { stableAverage: 140, panicAverage: 140, desired: 2, panic: false })
  steady(kpa, 60, 119, 141)
  d = kpa.tick(sec(119), 2)
  t.match(d, { stableAverage: 141, desired: 3 }, '141 / 70 rounds up')
  steady(kpa, 120, 179, 0.5)
  t.equal(kpa.tick(sec(179), 3).desired, 1, 'any load needs one instance')
})

t.test('partial window: a young series averages over what it has', async (t) => {
  const kpa = new Kpa(defaultConfig())
  steady(kpa, 0, 2, 210)
  t.match(kpa.tick(sec(2), 1), { stableAverage: 210, panicAverage: 210, desired: 3, panic: true })
  t.match(kpa.tick(sec(5), 3), { stableAverage: 210, panicAverage: 210 }, 'no write since: averaged over the 3 written buckets')
  // 6 s panic window: after 6 s without data the panic average is 0, the stable one is not.
  t.match(kpa.tick(sec(8), 3), { stableAverage: 210, panicAverage: 0, desired: 3 })
  t.match(kpa.tick(sec(62), 3), { stableAverage: 0, desired: 3, panic: true }, 'empty stable window, but the panic began 60 s ago: not yet over')
  t.match(kpa.tick(sec(63), 3), { stableAverage: 0, desired: 1, panic: false }, '0 wanted, but ÷2 at most')
})

t.test('scale-up rate limit (×1000 by default, ×2 configured)', async (t) => {
  // A high panic threshold keeps the panic ratchet out of the way.
  const kpa = new Kpa(defaultConfig({ maxScaleUpRate: 2, panicThreshold: 1000 }))
  steady(kpa, 0, 59, 7000)
  t.equal(kpa.tick(sec(59), 1).desired, 2, 'need 100, 1 ready, ×2')
  t.equal(kpa.tick(sec(61), 2).desired, 4)
  t.equal(kpa.tick(sec(63), 0).desired, 2, 'nothing ready counts as one')
  const fast = new Kpa(defaultConfig())
  steady(fast, 0, 59, 7000)
  t.equal(fast.tick(sec(59), 1).desired, 100)
})

t.test('scale-down rate: at most halving per tick, at least one step', async (t) => {
  const kpa = new Kpa(defaultConfig())
  const seen = [10, 5, 2, 1].map((ready, i) => kpa.tick(sec(100 + 2 * i), ready).desired)
  t.same(seen, [5, 2, 1, 0], 'idle: 10 → 5 → 2 → 1 → 0')
  const slow = new Kpa(defaultConfig({ maxScaleDownRate: 1.1 }))
  t.equal(slow.tick(sec(0), 5).desired, 4, 'floor(5 / 1.1): one step')
})

t.test('panic entry at 2× and the ratchet; exit only a stable window after the last breach', async (t) => {
  const kpa = new Kpa(defaultConfig({ targetValue: 10, target: 10 }))
  steady(kpa, 0, 59, 20)
  t.match(kpa.tick(sec(59), 2), { desired: 2, panic: false })
  // A burst: the panic window (6 s) sees 39 → 4 needed for 2 ready = 2×.
  steady(kpa, 60, 65, 39)
  let d = kpa.tick(sec(65), 2)
  t.match(d, { panic: true, panicDesired: 4, desired: 4 })
  t.equal(kpa.panicTimeMs, sec(65))
  // Just under 2× does not renew.
  steady(kpa, 66, 71, 30)
  d = kpa.tick(sec(71), 4)
  t.match(d, { panic: true, desired: 4 }, 'ratchet: no decrease while panicking')
  t.equal(kpa.panicTimeMs, sec(65))
  // A new breach renews the panic clock.
  steady(kpa, 72, 77, 80)
  d = kpa.tick(sec(77), 4)
  t.match(d, { panic: true, desired: 8 })
  t.equal(kpa.panicTimeMs, sec(77))
  steady(kpa, 78, 137, 20)
  t.match(kpa.tick(sec(137), 8), { panic: true, desired: 8 }, 'exactly a stable window after the breach: still panicking')
  d = kpa.tick(sec(139), 8)
  t.match(d, { panic: false }, 'more than a stable window after the last breach: panic ends')
  t.equal(d.desired, d.stableDesired)
  t.equal(kpa.maxPanicPods, 0)
})

t.test('scale-down-delay holds the maximum over the trailing delay', async (t) => {
  // 6 s stable window (1 s panic window), ÷10 floor, 30 s delay: 15 slots of 2 s.
  const kpa = new Kpa(defaultConfig({ stableWindowMs: 6_000, panicWindowMs: 1_000, maxScaleDownRate: 10, scaleDownDelayMs: 30_000 }))
  steady(kpa, 0, 9, 280)
  t.equal(kpa.tick(sec(9), 4).desired, 4)
  const got: Record<number, [number, number]> = {}
  for (let s = 10; s <= 46; s += 2) {
    steady(kpa, s === 10 ? 10 : s - 1, s, 70)
    const d = kpa.tick(sec(s), 4)
    got[s] = [d.stableDesired, d.desired]
  }
  // What the load asks for falls to 1 by second 16 ...
  t.same([got[10]![0], got[12]![0], got[14]![0], got[16]![0]], [4, 3, 2, 1])
  // ... but the decision is the largest of the last 30 s: the 4 of second 10 holds through 38.
  t.same([got[16]![1], got[38]![1], got[40]![1], got[42]![1], got[44]![1], got[46]![1]], [4, 4, 3, 2, 1, 1])
})

t.test('rps metric scales on requests per second', async (t) => {
  const kpa = new Kpa(defaultConfig({ metric: 'rps', target: 200, targetValue: 140 }))
  steady(kpa, 0, 59, 1, 280)
  t.match(kpa.tick(sec(59), 2), { stableAverage: 280, desired: 2 })
  steady(kpa, 60, 119, 1, 281)
  t.equal(kpa.tick(sec(119), 2).desired, 3)
})

t.test('weighted-exponential aggregation reacts faster to the newest load', async (t) => {
  const kpa = new Kpa(defaultConfig({ aggregation: 'weighted-exponential' }))
  steady(kpa, 0, 49, 0)
  steady(kpa, 50, 59, 700)
  const d = kpa.tick(sec(59), 1)
  t.ok(d.stableAverage > 700 * 10 / 60, `weighted ${d.stableAverage} > linear ${700 * 10 / 60}`)
})

t.test('update resizes the windows and keeps the data', async (t) => {
  const kpa = new Kpa(defaultConfig())
  steady(kpa, 0, 59, 70)
  kpa.update(defaultConfig({ stableWindowMs: 30_000, panicWindowMs: 3_000 }), sec(59))
  t.match(kpa.averages(sec(59)), { stable: 70, panic: 70 })
  t.same(kpa.windows(sec(59)).concurrency.stable.buckets.length, 30)
})

// The multi-revision Autoscaler as the control loop drives it: samples every second, a tick every
// 2 s, a poke when a request reaches a revision at zero.
import t from 'tap'
import { Autoscaler } from '../../../control/autoscaler/autoscaler.ts'
import { defaultAutoscalerSettings, readAutoscalerSettings, revisionScaling } from '../../../control/settings/autoscaler.ts'
import { configMap, defaultConfig, sec } from './fixtures/kpa-fixtures.ts'

const KEY = 'default/hello-00001'

/** A tiny world: the runtime makes instances ready at once; the meter samples every second. */
class World {
  readonly as = new Autoscaler()
  ready = 0
  now = 0

  run(from: number, to: number, load: (s: number) => number): void {
    for (let s = from; s <= to; s++) {
      this.now = sec(s)
      this.as.record(KEY, this.now, load(s), load(s))
      if (s % 2 === 0) {
        const r = this.as.tick(this.now, () => this.ready).get(KEY)!
        this.ready = r.scale
      }
    }
  }
}

t.test('a revision lives through start, load, idle and scale to zero, then wakes on a poke', async (t) => {
  const w = new World()
  w.as.configure(KEY, defaultConfig(), { nowMs: sec(0) })
  t.match(w.as.result(KEY), { scale: 1, want: -1, desired: -1, state: 'Activating', excessBurstCapacity: 100 - 211 }, 'before the first tick: initial scale and initial EBC')

  // A steady 140 concurrent: ceil(140 / 70) = 2.
  w.run(0, 60, () => 140)
  t.match(w.as.result(KEY), { scale: 2, desired: 2, state: 'Active' })

  // Idle: the stable average drains over 60 s, then the PA goes inactive and (behind the
  // activator, EBC < 0) straight to zero.
  let zeroAt = -1
  let inactiveAt = -1
  for (let s = 61; s <= 200 && zeroAt < 0; s++) {
    w.run(s, s, () => 0)
    const r = w.as.result(KEY)!
    if (inactiveAt < 0 && r.state === 'Inactive') inactiveAt = s
    if (r.scale === 0) zeroAt = s
  }
  t.ok(inactiveAt >= 120 && inactiveAt <= 124, `inactive about a stable window after the load stopped (at ${inactiveAt}s)`)
  t.ok(zeroAt > inactiveAt && zeroAt <= inactiveAt + 2, `then zero at once via the fast path (at ${zeroAt}s)`)
  t.match(w.as.result(KEY), { scale: 0, desired: 0, state: 'Inactive', reason: 'NoTraffic' })

  // A request arrives: the activator's first stat, then a poke.
  t.equal(w.as.poke(KEY, w.now + 300), undefined, 'nothing recorded: no poke')
  w.as.record(KEY, w.now + 300, 1, 1)
  const r = w.as.poke(KEY, w.now + 300, { ready: 0 })
  t.match(r, { scale: 1, want: 1, desired: 1, state: 'Activating', reason: 'Queued', decision: { desired: 1 } })
  t.equal(w.as.poke(KEY, w.now + 400), undefined, 'desired is no longer 0: no poke')
})

t.test('scale to zero after the stable window plus the grace period (TBC 0)', async (t) => {
  const w = new World()
  w.as.configure(KEY, defaultConfig({ targetBurstCapacity: 0 }), { nowMs: sec(0) })
  w.run(0, 30, () => 70)
  t.match(w.as.result(KEY), { scale: 1, state: 'Active', mode: 'Serve' })
  let inactiveAt = -1
  let zeroAt = -1
  for (let s = 31; s <= 200 && zeroAt < 0; s++) {
    w.run(s, s, () => 0)
    const r = w.as.result(KEY)!
    if (inactiveAt < 0 && r.state === 'Inactive') inactiveAt = s
    if (r.scale === 0) zeroAt = s
  }
  t.ok(inactiveAt >= 90 && inactiveAt <= 94, `inactive a stable window after the last request (${inactiveAt}s)`)
  t.equal(zeroAt, inactiveAt + 30, 'zero once the grace period has passed')
})

t.test('enable-scale-to-zero false keeps one instance forever', async (t) => {
  const { settings } = readAutoscalerSettings([configMap('config-autoscaler', { 'enable-scale-to-zero': 'false' })])
  const w = new World()
  w.as.configure(KEY, revisionScaling({}, 0, settings).config, { nowMs: sec(0) })
  w.run(0, 400, () => 0)
  t.match(w.as.result(KEY), { scale: 1, desired: 0, want: 1, state: 'Active' })
})

t.test('activation-scale: a poke at zero wakes straight to N', async (t) => {
  const w = new World()
  const { config } = revisionScaling({ 'autoscaling.knative.dev/activation-scale': '3' }, 0, defaultAutoscalerSettings)
  w.as.configure(KEY, config, { nowMs: sec(0) })
  w.run(0, 200, () => 0)
  t.equal(w.as.result(KEY)!.scale, 0)
  w.as.record(KEY, sec(201), 1, 1)
  t.match(w.as.poke(KEY, sec(201)), { scale: 3, decision: { desired: 3 } })
})

t.test('min, max and initial scale through annotations', async (t) => {
  const w = new World()
  const { config } = revisionScaling({
    'autoscaling.knative.dev/min-scale': '1', 'autoscaling.knative.dev/max-scale': '4', 'autoscaling.knative.dev/initial-scale': '3',
  }, 0, defaultAutoscalerSettings)
  w.as.configure(KEY, config, { nowMs: sec(0) })
  t.equal(w.as.result(KEY)!.scale, 3)
  w.run(0, 4, () => 0)
  t.match(w.as.result(KEY), { initialized: true, state: 'Active' })
  w.run(5, 64, () => 7000)
  t.equal(w.as.result(KEY)!.scale, 4, 'max-scale caps 100 needed')
  w.run(65, 400, () => 0)
  t.equal(w.as.result(KEY)!.scale, 1, 'min-scale holds one')
})

t.test('poke only for known revisions at desired 0 with concurrency', async (t) => {
  const as = new Autoscaler()
  t.equal(as.poke('nope', sec(0), { concurrency: 1 }), undefined)
  as.configure(KEY, defaultConfig(), { nowMs: sec(0) })
  t.equal(as.poke(KEY, sec(0), { concurrency: 1 }), undefined, 'desired unknown (-1), not 0')
  as.tick(sec(2), () => 1)
  t.equal(as.result(KEY)!.desired, 0)
  t.equal(as.poke(KEY, sec(3), { concurrency: 0 }), undefined, 'no concurrency')
  as.record(KEY, sec(3), 2, 2)
  t.match(as.poke(KEY, sec(3)), { desired: 1 })
})

t.test('a fresh autoscaler with several ready instances starts in panic and holds them', async (t) => {
  const as = new Autoscaler()
  as.configure(KEY, defaultConfig(), { nowMs: sec(0), ready: 4 })
  const r = as.tick(sec(2), () => 4).get(KEY)!
  t.match(r, { desired: 4, decision: { panic: true } })
  t.equal(as.tick(sec(62), () => 4).get(KEY)!.desired, 2, 'a stable window later the panic ends: ÷2')
})

t.test('configure updates in place; remove forgets', async (t) => {
  const as = new Autoscaler()
  as.configure(KEY, defaultConfig(), { nowMs: sec(0) })
  for (let s = 0; s < 10; s++) as.record(KEY, sec(s), 140, 0)
  as.configure(KEY, defaultConfig({ targetValue: 14, target: 20 }))
  t.equal(as.tick(sec(10), () => 1).get(KEY)!.decision!.stableDesired, 10, 'data kept, new target applied (140 / 14)')
  t.same(as.keys(), [KEY])
  t.ok(as.remove(KEY))
  t.notOk(as.has(KEY))
  t.equal(as.tick(sec(12), () => 1).size, 0)
  as.record(KEY, sec(12), 1, 1)
  t.equal(as.result(KEY), undefined)
})

t.test('describe: JSON for /debug/autoscaler', async (t) => {
  const as = new Autoscaler()
  as.configure(KEY, defaultConfig(), { nowMs: sec(0) })
  as.configure('default/other-00001', defaultConfig({ metric: 'rps', target: 200, targetValue: 140 }), { nowMs: sec(0) })
  for (let s = 0; s <= 3; s++) as.record(KEY, sec(s), 35, 3)
  t.match(as.describe(sec(3))['default/other-00001'], {
    metric: 'rps', desired: -1, excessBurstCapacity: 200 - 211, lastDecision: null, state: 'Activating',
    windows: { rps: { stable: { buckets: [], firstWriteMs: null } } },
  }, 'before the first tick')
  as.tick(sec(3), () => 1)
  const d = as.describe(sec(3))
  t.same(Object.keys(d).sort(), ['default/hello-00001', 'default/other-00001'])
  t.match(d[KEY], {
    metric: 'concurrency', target: 100, stableWindowMs: 60_000, panicWindowMs: 6_000, desired: 1,
    excessBurstCapacity: Math.floor(100 - 211 - 35), panic: false, panicSinceMs: null, stableAverage: 35, panicAverage: 35,
    scale: 1, state: 'Active', reason: '', initialized: true,
    lastDecision: { desired: 1, stableDesired: 1 },
    windows: { concurrency: { stable: { buckets: [35, 35, 35, 35], firstWriteMs: sec(0), lastWriteMs: sec(3) } }, rps: { stable: { average: 3 } } },
  })
  t.match(d['default/other-00001'], { desired: 0, excessBurstCapacity: 200 - 211, lastDecision: { desired: 0 } })
  const round = JSON.parse(JSON.stringify(d)) as unknown
  t.same(round, d, 'survives JSON')
})

// applyScale: bounds, initial-scale and scale-to-zero gating (kpa/scaler.go), and the Active
// condition (kpa.go computeActiveCondition).
import t from 'tap'
import { applyBounds, applyScale, initialStatus } from '../../../control/autoscaler/scaler.ts'
import type { PodAutoscalerStatus, ScaleResult } from '../../../control/autoscaler/scaler.ts'
import type { RevisionScalingConfig } from '../../../control/autoscaler/config.ts'
import { defaultConfig, sec } from './fixtures/kpa-fixtures.ts'

/** Runs steps against one status, like the control loop does. */
class Pa {
  status: PodAutoscalerStatus
  readonly config: RevisionScalingConfig
  constructor(config: RevisionScalingConfig, status?: PodAutoscalerStatus) {
    this.config = config
    this.status = status ?? initialStatus(config)
  }

  step(now: number, desired: number, ready: number, ebc = 0): ScaleResult {
    const { status, result } = applyScale(this.status, this.config, { nowMs: now, desired, excessBurstCapacity: ebc, ready })
    this.status = status
    return result
  }
}

t.test('applyBounds: [min, max], max 0 is unbounded', async (t) => {
  t.equal(applyBounds(0, 0, 7), 7)
  t.equal(applyBounds(2, 0, 1), 2)
  t.equal(applyBounds(2, 5, 9), 5)
  t.equal(applyBounds(0, 5, -1), 0)
})

t.test('a new revision with no traffic: initial scale, Active, a stable window, grace, then zero', async (t) => {
  // TBC 0: the activator joins the path only at zero, so the whole grace period applies.
  const pa = new Pa(defaultConfig({ targetBurstCapacity: 0 }))
  let r = pa.step(sec(0), 0, 0)
  t.match(r, { scale: 1, want: -1, state: 'Activating', reason: 'Queued', mode: 'Serve', initialized: false, recheckAtMs: sec(630) })
  t.equal(r.message, 'Requests to the target are being buffered as resources are provisioned.')
  r = pa.step(sec(2), 0, 1)
  t.match(r, { scale: 1, want: -1, state: 'Active', initialized: true }, 'the initial instance comes up')
  r = pa.step(sec(4), 0, 1)
  t.match(r, { scale: 1, want: 1, state: 'Active', recheckAtMs: sec(62) }, 'active for less than a stable window: hold one')
  r = pa.step(sec(60), 0, 1)
  t.match(r, { scale: 1, want: 1, state: 'Active' })
  r = pa.step(sec(62), 0, 1)
  t.match(r, { scale: 1, want: 0, state: 'Inactive', reason: 'NoTraffic', mode: 'Proxy' }, 'marked inactive, instance kept')
  t.equal(r.message, 'The target is not receiving traffic.')
  r = pa.step(sec(80), 0, 1)
  t.match(r, { scale: 1, want: 0, state: 'Inactive', recheckAtMs: sec(92) }, 'inside the grace period')
  r = pa.step(sec(92), 0, 1)
  t.match(r, { scale: 0, want: 0, state: 'Inactive', reason: 'NoTraffic' }, 'grace period over: zero')
  r = pa.step(sec(94), 0, 0)
  t.match(r, { scale: 0, state: 'Inactive' })
})

t.test('already behind the activator (EBC < 0): the fast path skips the grace wait', async (t) => {
  const pa = new Pa(defaultConfig())
  pa.step(sec(0), 0, 0, -111)
  pa.step(sec(2), 0, 1, -111)
  t.match(pa.step(sec(62), 0, 1, -111), { want: 0, scale: 1, state: 'Inactive', mode: 'Proxy' })
  t.match(pa.step(sec(64), 0, 1, -111), { scale: 0 }, 'proxied since creation, longer than the grace period')
})

t.test('scale-to-zero-pod-retention-period keeps the last instance longer; not for unreachable revisions', async (t) => {
  const inactive = (config: RevisionScalingConfig): Pa => {
    const pa = new Pa(config)
    pa.step(sec(0), 0, 1, -1)
    pa.step(sec(62), 0, 1, -1)
    t.equal(pa.status.state, 'Inactive')
    return pa
  }
  const kept = inactive(defaultConfig({ scaleToZeroPodRetentionMs: 120_000 }))
  t.match(kept.step(sec(100), 0, 1, -1), { scale: 1, want: 0, recheckAtMs: sec(182) })
  t.match(kept.step(sec(182), 0, 1, -1), { scale: 0 })
  const reserve = inactive(defaultConfig({ scaleToZeroPodRetentionMs: 120_000, reachable: false }))
  t.match(reserve.step(sec(64), 0, 1, -1), { scale: 0 }, 'retention is ignored, the fast path applies')
})

t.test('enable-scale-to-zero false holds one instance', async (t) => {
  const pa = new Pa(defaultConfig({ enableScaleToZero: false }))
  for (const s of [0, 2, 100, 1000]) t.match(pa.step(sec(s), 0, 1), { scale: 1, want: 1, state: 'Active' }, `at ${s}s`)
})

t.test('min-scale and max-scale clamp the decision', async (t) => {
  const pa = new Pa(defaultConfig({ minScale: 2, maxScale: 3 }))
  t.match(pa.step(sec(0), 0, 0), { scale: 2, want: 2, state: 'Activating' }, 'min-scale replaces 0')
  t.match(pa.step(sec(2), 0, 1), { scale: 2, state: 'Activating' }, 'active needs min-scale ready')
  t.match(pa.step(sec(4), 0, 2), { scale: 2, state: 'Active' })
  t.match(pa.step(sec(6), 10, 2), { scale: 3, want: 3 }, 'max-scale caps')
  t.match(pa.step(sec(200), 0, 3), { scale: 2, want: 2, state: 'Active' }, 'never to zero with min-scale')
  const reserve = new Pa(defaultConfig({ minScale: 2, reachable: false }))
  t.match(reserve.step(sec(0), 0, 0), { scale: 1, want: -1 }, 'min-scale does not hold for an unreachable revision')
})

t.test('initial-scale holds until the target first comes up', async (t) => {
  const pa = new Pa(defaultConfig({ initialScale: 3 }))
  t.equal(pa.status.scale, 3, 'created at initial-scale')
  t.match(pa.step(sec(0), 0, 0), { scale: 3, want: 3, state: 'Activating', initialized: false })
  t.match(pa.step(sec(2), 1, 2), { scale: 3, want: 3, state: 'Activating' }, 'two of three ready: still initializing')
  t.match(pa.step(sec(4), 1, 3), { scale: 3, state: 'Active', initialized: true })
  t.match(pa.step(sec(6), 1, 3), { scale: 1, want: 1, state: 'Active' }, 'initialized: the autoscaler decides')
  // initial-scale 0 (allow-zero-initial-scale): nothing is started and the PA is inactive at once.
  const zero = new Pa(defaultConfig({ initialScale: 0 }))
  t.equal(zero.status.scale, 0)
  t.match(zero.step(sec(0), 0, 0), { scale: 0, want: -1, state: 'Inactive', reason: 'NoTraffic', initialized: true })
})

t.test('scale from zero: Activating (Queued) until ready, then Active', async (t) => {
  const pa = new Pa(defaultConfig(), { ...initialStatus(defaultConfig()), state: 'Inactive', reason: 'NoTraffic', sinceMs: sec(0), initialized: true, scale: 0, mode: 'Proxy', proxySinceMs: sec(0) })
  t.match(pa.step(sec(500), 1, 0, -212), { scale: 1, want: 1, state: 'Activating', reason: 'Queued', mode: 'Proxy' })
  t.match(pa.step(sec(502), 1, 1, -112), { scale: 1, state: 'Active', mode: 'Proxy' }, 'EBC < 0 keeps the activator in the path')
  t.match(pa.step(sec(504), 3, 3, 0), { scale: 3, state: 'Active', mode: 'Serve' })
})

t.test('an activation that never succeeds gives up after progress-deadline + 30 s (TimedOut)', async (t) => {
  const pa = new Pa(defaultConfig())
  t.match(pa.step(sec(0), 0, 0), { want: -1, scale: 1, state: 'Activating' })
  t.match(pa.step(sec(630), 0, 0), { want: -1, scale: 1, state: 'Activating' }, 'not yet: strictly longer than the timeout')
  const r = pa.step(sec(631), 0, 0)
  t.match(r, { want: 0, scale: 0, state: 'Inactive', reason: 'TimedOut' })
  t.equal(r.message, 'The target could not be activated.')
  // While activating with a non-zero want, nothing times out: instances are being asked for.
  const busy = new Pa(defaultConfig())
  t.match(busy.step(sec(700), 2, 0), { scale: 2, state: 'Activating' })
})

t.test('an unknown decision does nothing unless activating', async (t) => {
  const pa = new Pa(defaultConfig(), { ...initialStatus(defaultConfig()), state: 'Active', reason: '', sinceMs: sec(0), initialized: true, scale: 4 })
  t.match(pa.step(sec(10), -1, 4), { want: -1, scale: 4, state: 'Active' })
  const inactive = new Pa(defaultConfig(), { ...pa.status, state: 'Inactive', reason: 'NoTraffic' })
  t.match(inactive.step(sec(10), -1, 4), { want: -1, scale: 4, state: 'Inactive', mode: 'Proxy' })
})

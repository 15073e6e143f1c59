import t from 'tap'
import { defaultAutoscalerSettings, readAutoscalerSettings, revisionScaling } from '../../../control/settings/autoscaler.ts'
import { panicWindow } from '../../../control/autoscaler/annotations.ts'
import { configMap } from './fixtures/kpa-fixtures.ts'

const A = 'autoscaling.knative.dev/'
const scaling = (ann: Record<string, string>, cc = 0, settings = defaultAutoscalerSettings) => revisionScaling(ann, cc, settings)

t.test('defaults: cc 0 targets 100 per instance at 70 %', async (t) => {
  const { config, errors } = scaling({})
  t.same(errors, [])
  t.match(config, {
    class: 'kpa.autoscaling.knative.dev', metric: 'concurrency', aggregation: 'linear', containerConcurrency: 0,
    target: 100, targetUtilization: 0.7, minScale: 0, maxScale: 0, initialScale: 1, activationScale: 1,
    stableWindowMs: 60_000, panicWindowMs: 6_000, panicThreshold: 2, scaleDownDelayMs: 0, scaleToZeroPodRetentionMs: 0,
    targetBurstCapacity: 211, reachable: true, maxScaleUpRate: 1000, maxScaleDownRate: 2, enableScaleToZero: true,
    scaleToZeroGracePeriodMs: 30_000, activatorCapacity: 100, activationTimeoutMs: 630_000,
  })
  // 100 × 0.7 in float64, exactly as Go computes it.
  t.equal(config.targetValue, 100 * 0.7)
})

t.test("TotalValue rules (ResolveMetricTarget)", async (t) => {
  t.match(scaling({}, 10).config, { target: 10, targetValue: 7, containerConcurrency: 10 }, 'cc > 0 is the total')
  t.match(scaling({ [`${A}target`]: '50' }).config, { target: 50, targetValue: 35 }, 'target annotation with cc 0')
  t.match(scaling({ [`${A}target`]: '50' }, 10).config, { target: 10, targetValue: 7 }, 'min(target, cc)')
  t.match(scaling({ [`${A}target`]: '5' }, 10).config, { target: 5, targetValue: 3.5 }, 'target below cc wins')
  t.match(scaling({ [`${A}target`]: '0.01', [`${A}target-utilization-percentage`]: '1' }).config, { target: 0.01, targetValue: 0.01 }, 'TargetValue is at least 0.01')
  t.match(scaling({ [`${A}target-utilization-percentage`]: '100' }, 1).config, { target: 1, targetUtilization: 1, targetValue: 1 })
  t.match(scaling({ [`${A}metric`]: 'rps' }).config, { metric: 'rps', target: 200, targetValue: 140 }, 'rps default 200 at 70 %')
  t.match(scaling({ [`${A}metric`]: 'rps', [`${A}target`]: '50' }, 10).config, { target: 50, targetValue: 35 }, 'cc does not cap an rps target')
  // The rps utilization has no ConfigMap key in Knative: container-concurrency-target-percentage does not move it.
  const s = readAutoscalerSettings([configMap('config-autoscaler', { 'container-concurrency-target-percentage': '50', 'requests-per-second-target-default': '100' })]).settings
  t.match(scaling({}, 0, s).config, { target: 100, targetValue: 50 })
  t.match(scaling({ [`${A}metric`]: 'rps' }, 0, s).config, { target: 100, targetValue: 70 })
})

t.test('annotations override the cluster settings; legacy camelCase aliases work', async (t) => {
  const { config, errors } = scaling({
    [`${A}minScale`]: '2', [`${A}maxScale`]: '9', [`${A}initialScale`]: '3', [`${A}activation-scale`]: '4',
    [`${A}window`]: '120s', [`${A}panicWindowPercentage`]: '5', [`${A}panicThresholdPercentage`]: '150',
    [`${A}scaleDownDelay`]: '30s', [`${A}scaleToZeroPodRetentionPeriod`]: '1m', [`${A}targetBurstCapacity`]: '0',
    [`${A}targetUtilizationPercentage`]: '50', [`${A}metricAggregationAlgorithm`]: 'weightedExponential',
  })
  t.same(errors, [])
  t.match(config, {
    minScale: 2, maxScale: 9, initialScale: 3, activationScale: 4, stableWindowMs: 120_000, panicWindowMs: 6_000,
    panicThreshold: 1.5, scaleDownDelayMs: 30_000, scaleToZeroPodRetentionMs: 60_000, targetBurstCapacity: 0,
    targetUtilization: 0.5, targetValue: 50, aggregation: 'weighted-exponential',
  })
  // The canonical key wins over its alias (kmap.KeyPriority).
  t.equal(scaling({ [`${A}min-scale`]: '1', [`${A}minScale`]: '5' }).config.minScale, 1)
  const s = readAutoscalerSettings([configMap('config-autoscaler', { 'min-scale': '1', 'max-scale': '4', 'initial-scale': '2', 'scale-down-delay': '10s' })]).settings
  t.match(scaling({}, 0, s).config, { minScale: 1, maxScale: 4, initialScale: 2, scaleDownDelayMs: 10_000 })
})

t.test('panic window: stable × percentage, rounded to the second, at least 1 s', async (t) => {
  t.equal(panicWindow(60_000, 10), 6_000)
  t.equal(panicWindow(6_000, 10), 1_000, '0.6 s rounds up to 1 s')
  t.equal(panicWindow(7_000, 10), 1_000)
  t.equal(panicWindow(15_000, 10), 2_000, '1.5 s rounds half away from zero')
  t.equal(panicWindow(6_000, 1), 1_000, 'never below one bucket')
  t.equal(panicWindow(3_600_000, 100), 3_600_000)
  t.equal(scaling({ [`${A}window`]: '10s' }).config.panicWindowMs, 1_000)
})

t.test('initial-scale 0 needs allow-zero-initial-scale', async (t) => {
  const denied = scaling({ [`${A}initial-scale`]: '0' })
  t.equal(denied.config.initialScale, 1)
  t.equal(denied.errors[0]!.message, 'invalid value: 0; initial-scale 0 needs allow-zero-initial-scale: "true" in config-autoscaler')
  const s = readAutoscalerSettings([configMap('config-autoscaler', { 'allow-zero-initial-scale': 'true' })]).settings
  const allowed = scaling({ [`${A}initial-scale`]: '0' }, 0, s)
  t.same(allowed.errors, [])
  t.equal(allowed.config.initialScale, 0)
})

t.test('annotation validation: Knative messages, bad values fall back to defaults', async (t) => {
  const cases: [Record<string, string>, string, string][] = [
    [{ [`${A}class`]: 'hpa.autoscaling.knative.dev' }, `${A}class`, '"hpa.autoscaling.knative.dev" is not supported: Sluice only runs the KPA (kpa.autoscaling.knative.dev); remove it or use kpa.autoscaling.knative.dev'],
    [{ [`${A}class`]: 'other.knative.dev' }, `${A}class`, 'invalid value: other.knative.dev; Sluice only runs the KPA, so the class must be kpa.autoscaling.knative.dev'],
    [{ [`${A}metric`]: 'cpu' }, `${A}metric`, 'invalid value: cpu; the KPA scales on concurrency or rps'],
    [{ [`${A}min-scale`]: '-1' }, `${A}min-scale`, 'expected 0 <= -1 <= 2147483647'],
    [{ [`${A}min-scale`]: 'one' }, `${A}min-scale`, 'invalid value: one'],
    [{ [`${A}max-scale`]: '99999999999' }, `${A}max-scale`, 'expected 0 <= 99999999999 <= 2147483647'],
    [{ [`${A}min-scale`]: '5', [`${A}max-scale`]: '3' }, `${A}max-scale`, 'max-scale=3 is less than min-scale=5'],
    [{ [`${A}target`]: '0' }, `${A}target`, 'target 0 should be at least 0.01'],
    [{ [`${A}target`]: 'lots' }, `${A}target`, 'target lots should be at least 0.01'],
    [{ [`${A}target-utilization-percentage`]: '101' }, `${A}target-utilization-percentage`, 'expected 1 <= 101 <= 100'],
    [{ [`${A}target-utilization-percentage`]: 'x' }, `${A}target-utilization-percentage`, 'invalid value: x'],
    [{ [`${A}panic-window-percentage`]: '0.5' }, `${A}panic-window-percentage`, 'expected 1 <= 0.5 <= 100'],
    [{ [`${A}panic-threshold-percentage`]: '100' }, `${A}panic-threshold-percentage`, 'expected 110 <= 100 <= 1000'],
    [{ [`${A}panic-threshold-percentage`]: '1001' }, `${A}panic-threshold-percentage`, 'expected 110 <= 1001 <= 1000'],
    [{ [`${A}target-burst-capacity`]: '-2' }, `${A}target-burst-capacity`, 'invalid value: -2; use -1 (activator always in the path), 0 or a positive number'],
    [{ [`${A}window`]: '5s' }, `${A}window`, 'expected 6s <= 5s <= 1h0m0s'],
    [{ [`${A}window`]: '61m' }, `${A}window`, 'expected 6s <= 61m <= 1h0m0s'],
    [{ [`${A}window`]: '7500ms' }, `${A}window`, 'must be specified with at most second precision'],
    [{ [`${A}window`]: '60' }, `${A}window`, 'invalid value: 60; use a duration such as "60s" or "1m30s"'],
    [{ [`${A}scale-down-delay`]: '-1s' }, `${A}scale-down-delay`, 'expected 0s <= -1s <= 1h0m0s'],
    [{ [`${A}scale-down-delay`]: '2h' }, `${A}scale-down-delay`, 'expected 0s <= 2h <= 1h0m0s'],
    [{ [`${A}scale-down-delay`]: '1.5s' }, `${A}scale-down-delay`, 'must be specified with at most second precision'],
    [{ [`${A}scale-to-zero-pod-retention-period`]: '-5m' }, `${A}scale-to-zero-pod-retention-period`, 'expected 0s <= -5m <= 1h0m0s'],
    [{ [`${A}metric-aggregation-algorithm`]: 'median' }, `${A}metric-aggregation-algorithm`, 'invalid value: median; use linear or weighted-exponential'],
    [{ [`${A}initial-scale`]: '-1' }, `${A}initial-scale`, 'invalid value: -1'],
    [{ [`${A}activation-scale`]: '1' }, `${A}activation-scale`, 'expected 2 <= 1 <= 2147483647'],
    [{ [`${A}activation-scale`]: 'x' }, `${A}activation-scale`, 'invalid value: x'],
    [{ [`${A}activation-scale`]: '5', [`${A}max-scale`]: '4' }, `${A}activation-scale`, 'activation-scale=5 is greater than max-scale=4'],
    [{ [`${A}activation-scale`]: '2', [`${A}min-scale`]: '3' }, `${A}activation-scale`, 'activation-scale=2 is less than min-scale=3'],
  ]
  const defaults = scaling({}).config
  for (const [ann, key, message] of cases) {
    const { config, errors } = scaling(ann)
    t.equal(errors.length, 1, `${JSON.stringify(ann)}: one error`)
    t.equal(errors[0]?.path, `metadata.annotations.${key}`)
    t.equal(errors[0]?.message, message)
    // Every bad key keeps the value it would have had without the annotation.
    const field = key.slice(A.length)
    const mapped: Record<string, keyof typeof config> = {
      class: 'class', metric: 'metric', 'min-scale': 'minScale', 'max-scale': 'maxScale', target: 'target',
      'target-utilization-percentage': 'targetUtilization', 'panic-window-percentage': 'panicWindowMs',
      'panic-threshold-percentage': 'panicThreshold', 'target-burst-capacity': 'targetBurstCapacity', window: 'stableWindowMs',
      'scale-down-delay': 'scaleDownDelayMs', 'scale-to-zero-pod-retention-period': 'scaleToZeroPodRetentionMs',
      'metric-aggregation-algorithm': 'aggregation', 'initial-scale': 'initialScale', 'activation-scale': 'activationScale',
    }
    const f = mapped[field]!
    if (field !== 'max-scale' || !(`${A}min-scale` in ann)) t.equal(config[f], defaults[f], `${field} falls back`)
  }
})

t.test('max-scale-limit bounds the max-scale annotation', async (t) => {
  const s = readAutoscalerSettings([configMap('config-autoscaler', { 'max-scale-limit': '10', 'max-scale': '5' })]).settings
  let r = revisionScaling({ [`${A}max-scale`]: '11' }, 0, s)
  t.equal(r.errors[0]!.message, 'expected 1 <= 11 <= 10')
  t.equal(r.config.maxScale, 5)
  r = revisionScaling({ [`${A}max-scale`]: '0' }, 0, s)
  t.equal(r.errors[0]!.message, 'max-scale=0 (unlimited), must be less than 10')
  r = revisionScaling({ [`${A}max-scale`]: '10' }, 0, s)
  t.same(r.errors, [])
  t.equal(r.config.maxScale, 10)
})

t.test('errors are located through the caller', async (t) => {
  const seen: string[] = []
  const { errors } = revisionScaling({ [`${A}maxScale`]: 'many', [`${A}window`]: '1s' }, 0, defaultAutoscalerSettings, (key) => {
    seen.push(key)
    return key.endsWith('window')
      ? { file: 'svc.yaml', line: 7, column: 9, path: `spec.template.metadata.annotations[${key}]` }
      : { file: 'svc.yaml', line: 6, column: 9 }
  })
  t.same(seen.sort(), [`${A}maxScale`, `${A}window`])
  t.same(errors, [
    { file: 'svc.yaml', line: 6, column: 9, path: `metadata.annotations.${A}maxScale`, message: 'invalid value: many' },
    { file: 'svc.yaml', line: 7, column: 9, path: `spec.template.metadata.annotations[${A}window]`, message: 'expected 6s <= 1s <= 1h0m0s' },
  ])
})

t.test('unknown autoscaling keys and other annotations are ignored; reachability is passed through', async (t) => {
  const r = revisionScaling({ [`${A}something-new`]: 'x', 'sluice.dev/upstream': 'http://a' }, 0, defaultAutoscalerSettings, undefined, { reachable: false })
  t.same(r.errors, [])
  t.equal(r.config.reachable, false)
})

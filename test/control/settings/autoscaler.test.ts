import t from 'tap'
import { defaultAutoscalerSettings, readAutoscalerSettings } from '../../../control/settings/autoscaler.ts'
import { formatGoDuration } from '../../../control/autoscaler/go-parse.ts'
import { parseGoDuration } from '../../../lib/duration.ts'
import { configMap } from '../autoscaler/fixtures/kpa-fixtures.ts'

t.test('defaults with no ConfigMap: Knative config.go defaults, TBC 211', async (t) => {
  const { settings, errors } = readAutoscalerSettings([])
  t.same(errors, [])
  t.same(settings, defaultAutoscalerSettings)
  t.match(settings, {
    podAutoscalerClass: 'kpa.autoscaling.knative.dev', enableScaleToZero: true, allowZeroInitialScale: false,
    containerConcurrencyTargetFraction: 0.7, containerConcurrencyTargetDefault: 100, targetUtilization: 0.7,
    rpsTargetDefault: 200, targetBurstCapacity: 211, maxScaleUpRate: 1000, maxScaleDownRate: 2,
    panicWindowPercentage: 10, panicThresholdPercentage: 200, activatorCapacity: 100,
    stableWindowMs: 60_000, scaleToZeroGracePeriodMs: 30_000, scaleToZeroPodRetentionPeriodMs: 0, scaleDownDelayMs: 0,
    initialScale: 1, minScale: 0, maxScale: 0, maxScaleLimit: 0, progressDeadlineMs: 600_000,
  })
})

t.test('every key read', async (t) => {
  const { settings, errors } = readAutoscalerSettings([
    configMap('config-autoscaler', {
      'pod-autoscaler-class': 'kpa.autoscaling.knative.dev',
      'container-concurrency-target-percentage': '80',
      'container-concurrency-target-default': '50',
      'requests-per-second-target-default': '150.5',
      'target-burst-capacity': '-1',
      'stable-window': '2m',
      'panic-window-percentage': '20.0',
      'panic-threshold-percentage': '300',
      'max-scale-up-rate': '10',
      'max-scale-down-rate': '4.0',
      'enable-scale-to-zero': 'false',
      'scale-to-zero-grace-period': '45s',
      'scale-to-zero-pod-retention-period': '1m30s',
      'scale-down-delay': '15s',
      'allow-zero-initial-scale': 'true',
      'initial-scale': '0',
      'min-scale': '1',
      'max-scale': '8',
      'max-scale-limit': '10',
      'activator-capacity': '200',
      _example: 'documentation only',
      'tick-interval': '2s',
    }),
    configMap('config-deployment', { 'progress-deadline': '120s', 'queue-sidecar-image': 'ignored' }),
    configMap('config-network', { 'stable-window': 'not read here' }),
  ])
  t.same(errors, [])
  t.match(settings, {
    containerConcurrencyTargetFraction: 0.8, containerConcurrencyTargetDefault: 50, rpsTargetDefault: 150.5,
    targetBurstCapacity: -1, stableWindowMs: 120_000, panicWindowPercentage: 20, panicThresholdPercentage: 300,
    maxScaleUpRate: 10, maxScaleDownRate: 4, enableScaleToZero: false, scaleToZeroGracePeriodMs: 45_000,
    scaleToZeroPodRetentionPeriodMs: 90_000, scaleDownDelayMs: 15_000, allowZeroInitialScale: true, initialScale: 0,
    minScale: 1, maxScale: 8, maxScaleLimit: 10, activatorCapacity: 200, progressDeadlineMs: 120_000,
  })
})

t.test('legacy fractional container-concurrency-target-percentage', async (t) => {
  t.equal(readAutoscalerSettings([configMap('config-autoscaler', { 'container-concurrency-target-percentage': '0.5' })]).settings.containerConcurrencyTargetFraction, 0.5)
  t.equal(readAutoscalerSettings([configMap('config-autoscaler', { 'container-concurrency-target-percentage': '1' })]).settings.containerConcurrencyTargetFraction, 1)
  t.equal(readAutoscalerSettings([configMap('config-autoscaler', { 'container-concurrency-target-percentage': '100' })]).settings.containerConcurrencyTargetFraction, 1)
})

t.test('bad values are reported where written with Knative messages, and keep their defaults', async (t) => {
  const data: Record<string, string> = {
    'max-scale-up-rate': '1',
    'max-scale-down-rate': '0.5',
    'container-concurrency-target-percentage': '150',
    'requests-per-second-target-default': '0.001',
    'target-burst-capacity': '-2',
    'activator-capacity': '0.5',
    'panic-window-percentage': '0.5',
    'panic-threshold-percentage': '2',
    'stable-window': '5s',
    'scale-to-zero-grace-period': '0s',
    'scale-down-delay': '1500ms',
    'scale-to-zero-pod-retention-period': '-1s',
    'initial-scale': '0',
    'enable-scale-to-zero': 'yes',
    'max-scale-limit': '-1',
    'min-scale': 'two',
    'pod-autoscaler-class': 'hpa.autoscaling.knative.dev',
  }
  const { settings, errors } = readAutoscalerSettings([configMap('config-autoscaler', data)])
  t.same(settings, defaultAutoscalerSettings)
  const byPath = Object.fromEntries(errors.map((e) => [e.path, e]))
  t.equal(errors.length, Object.keys(data).length)
  for (const e of errors) {
    t.equal(e.file, 'config/config-autoscaler.yaml')
    t.equal(e.line, 10 + Object.keys(data).indexOf(e.path.slice('data.'.length)), `${e.path} located`)
    t.equal(e.column, 3)
    t.match(e.message, /^config-autoscaler: /)
  }
  t.equal(byPath['data.max-scale-up-rate']!.message, 'config-autoscaler: max-scale-up-rate = 1, must be greater than 1.0')
  t.equal(byPath['data.max-scale-down-rate']!.message, 'config-autoscaler: max-scale-down-rate = 0.5, must be greater than 1.0')
  t.equal(byPath['data.container-concurrency-target-percentage']!.message, 'config-autoscaler: container-concurrency-target-percentage = 150 is outside of valid range of (0, 100]')
  t.equal(byPath['data.requests-per-second-target-default']!.message, 'config-autoscaler: requests-per-second-target-default must be at least 0.01, was: 0.001')
  t.equal(byPath['data.target-burst-capacity']!.message, 'config-autoscaler: target-burst-capacity must be either non-negative or -1 (for unlimited), was: -2.000000')
  t.equal(byPath['data.activator-capacity']!.message, 'config-autoscaler: activator-capacity = 0.5, must be at least 1')
  t.equal(byPath['data.panic-window-percentage']!.message, 'config-autoscaler: panic-window-percentage = 0.5, must be in [1, 100] interval')
  t.equal(byPath['data.panic-threshold-percentage']!.message, 'config-autoscaler: panic-threshold-percentage = 2, must be in [110, 1000] interval')
  t.equal(byPath['data.stable-window']!.message, 'config-autoscaler: stable-window = 5s, must be in [6s; 1h0m0s] range')
  t.equal(byPath['data.scale-to-zero-grace-period']!.message, 'config-autoscaler: scale-to-zero-grace-period must be positive, was: 0s')
  t.equal(byPath['data.scale-down-delay']!.message, 'config-autoscaler: scale-down-delay = 1.5s, must be specified with at most second precision')
  t.equal(byPath['data.scale-to-zero-pod-retention-period']!.message, 'config-autoscaler: scale-to-zero-pod-retention-period cannot be negative, was: -1s')
  t.equal(byPath['data.initial-scale']!.message, 'config-autoscaler: initial-scale = 0, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)')
  t.equal(byPath['data.enable-scale-to-zero']!.message, 'config-autoscaler: enable-scale-to-zero must be true or false, got "yes"')
  t.equal(byPath['data.max-scale-limit']!.message, 'config-autoscaler: max-scale-limit = -1, must be at least 0')
  t.equal(byPath['data.min-scale']!.message, 'config-autoscaler: min-scale must be a whole number, got "two"')
  t.match(byPath['data.pod-autoscaler-class']!.message, /Sluice only runs the KPA \(kpa\.autoscaling\.knative\.dev\)/)
})

t.test('durations need a unit, like Go time.ParseDuration', async (t) => {
  const { settings, errors } = readAutoscalerSettings([configMap('config-autoscaler', { 'stable-window': '60', 'scale-down-delay': '0' })])
  t.equal(settings.stableWindowMs, 60_000)
  t.equal(settings.scaleDownDelayMs, 0)
  t.equal(errors.length, 1)
  t.match(errors[0]!.message, /stable-window must be a duration such as "60s"/)
  t.equal(readAutoscalerSettings([configMap('config-autoscaler', { 'stable-window': '1.5s' })]).errors[0]!.message,
    'config-autoscaler: stable-window = 1.5s, must be in [6s; 1h0m0s] range')
  t.equal(readAutoscalerSettings([configMap('config-autoscaler', { 'stable-window': '6500ms' })]).errors[0]!.message,
    'config-autoscaler: stable-window = 6.5s, must be specified with at most second precision')
  t.equal(readAutoscalerSettings([configMap('config-autoscaler', { 'stable-window': '2h' })]).errors[0]!.message,
    'config-autoscaler: stable-window = 2h0m0s, must be in [6s; 1h0m0s] range')
})

t.test('cross-key rules: target product, max-scale vs max-scale-limit, min vs max', async (t) => {
  let r = readAutoscalerSettings([configMap('config-autoscaler', { 'container-concurrency-target-percentage': '1', 'container-concurrency-target-default': '0.005' })])
  t.equal(r.errors.length, 1)
  t.equal(r.errors[0]!.path, 'data.container-concurrency-target-default')
  t.equal(r.errors[0]!.message, "config-autoscaler: container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of 0.005, can't be less than 0.01")
  t.equal(r.settings.containerConcurrencyTargetFraction, 0.7)
  t.equal(r.settings.containerConcurrencyTargetDefault, 100)

  r = readAutoscalerSettings([configMap('config-autoscaler', { 'max-scale-limit': '5', 'max-scale': '6' })])
  t.equal(r.errors[0]!.message, 'config-autoscaler: max-scale = 6, must be in [1, max-scale-limit(5)] range')
  t.equal(r.errors[0]!.path, 'data.max-scale')

  r = readAutoscalerSettings([configMap('config-autoscaler', { 'max-scale-limit': '5' })])
  t.equal(r.errors.length, 1, 'a limit needs a bounded default max-scale')
  t.equal(r.errors[0]!.path, 'data.max-scale-limit')
  t.equal(r.settings.maxScaleLimit, 0)

  r = readAutoscalerSettings([configMap('config-autoscaler', { 'max-scale': '3', 'min-scale': '4' })])
  t.equal(r.errors[0]!.message, 'config-autoscaler: min-scale = 4, must be less than or equal to max-scale (3)')
  t.equal(r.settings.maxScale, 3)
  t.equal(r.settings.minScale, 0)

  r = readAutoscalerSettings([configMap('config-autoscaler', { 'allow-zero-initial-scale': 'true', 'initial-scale': '0' })])
  t.same(r.errors, [])
  t.equal(r.settings.initialScale, 0)
})

t.test('hpa class and a custom class both explain that only the KPA runs', async (t) => {
  const hpa = readAutoscalerSettings([configMap('config-autoscaler', { 'pod-autoscaler-class': 'hpa.autoscaling.knative.dev' })])
  t.equal(hpa.errors[0]!.message, 'config-autoscaler: "hpa.autoscaling.knative.dev" is not supported: Sluice only runs the KPA (kpa.autoscaling.knative.dev); remove it or use kpa.autoscaling.knative.dev')
  const custom = readAutoscalerSettings([configMap('config-autoscaler', { 'pod-autoscaler-class': 'keda.sh/autoscaler' })])
  t.equal(custom.errors[0]!.message, 'config-autoscaler: invalid value: keda.sh/autoscaler; Sluice only runs the KPA, so the class must be kpa.autoscaling.knative.dev')
})

t.test('config-deployment progress-deadline and duplicate ConfigMaps', async (t) => {
  const bad = readAutoscalerSettings([configMap('config-deployment', { 'progress-deadline': '0s' })])
  t.equal(bad.errors[0]!.message, 'config-deployment: progress-deadline = 0s, must be positive')
  t.equal(bad.settings.progressDeadlineMs, 600_000)

  const dup = readAutoscalerSettings([
    configMap('config-autoscaler', { 'stable-window': '30s' }, 'a.yaml'),
    configMap('config-autoscaler', { 'stable-window': '90s' }, 'b.yaml'),
  ])
  t.equal(dup.settings.stableWindowMs, 30_000)
  t.equal(dup.errors.length, 1)
  t.equal(dup.errors[0]!.file, 'b.yaml')
  t.match(dup.errors[0]!.message, 'ConfigMap config-autoscaler is declared twice (first at a.yaml:1); this one is ignored')
})

t.test('Go duration parsing and printing', async (t) => {
  t.equal(parseGoDuration('1m30s'), 90_000)
  t.equal(parseGoDuration('1.5h'), 5_400_000)
  t.equal(parseGoDuration('500ms'), 500)
  t.equal(parseGoDuration('-2s'), -2000)
  t.equal(parseGoDuration('.5s'), 500)
  t.equal(parseGoDuration('0'), 0)
  t.equal(parseGoDuration('60'), undefined)
  t.equal(parseGoDuration(''), undefined)
  t.equal(parseGoDuration('.s'), undefined)
  t.equal(parseGoDuration('1d'), undefined)
  t.equal(formatGoDuration(0), '0s')
  t.equal(formatGoDuration(6000), '6s')
  t.equal(formatGoDuration(60_000), '1m0s')
  t.equal(formatGoDuration(3_600_000), '1h0m0s')
  t.equal(formatGoDuration(90_500), '1m30.5s')
  t.equal(formatGoDuration(250), '250ms')
  t.equal(formatGoDuration(-1000), '-1s')
})

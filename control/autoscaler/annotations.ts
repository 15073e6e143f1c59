// autoscaling.knative.dev/* annotations → RevisionScalingConfig. Validation and messages follow
// Knative's webhook (pkg/apis/autoscaling/annotation_validation.go); the resolution follows the PA
// accessors, resources.ResolveMetricTarget (target.go), MakeDecider and MakeMetric. See
// reference/serving.md §1.6. A bad annotation is reported and the cluster default used instead.
import type { ConfigError } from '../resources/types.ts'
import {
  ACTIVATION_TIMEOUT_BUFFER_MS, BUCKET_MS, KPA_CLASS, PANIC_THRESHOLD_PERCENTAGE_MAX, PANIC_THRESHOLD_PERCENTAGE_MIN,
  PANIC_WINDOW_PERCENTAGE_MAX, PANIC_WINDOW_PERCENTAGE_MIN, TARGET_MIN, WINDOW_MAX_MS, WINDOW_MIN_MS, classMessage,
  defaultAutoscalerSettings, wholeSeconds,
} from './config.ts'
import type { AutoscalerSettings, RevisionScalingConfig } from './config.ts'
import { formatGoDuration, parseGoFloat } from './go-parse.ts'
import { parseGoDuration } from '../../lib/duration.ts'

const GROUP = 'autoscaling.knative.dev'
const INT32_MAX = 2147483647

/** Canonical key first, then the legacy camelCase alias Knative still reads (kmap.KeyPriority). */
const KEYS = {
  class: [`${GROUP}/class`],
  metric: [`${GROUP}/metric`],
  target: [`${GROUP}/target`],
  targetUtilization: [`${GROUP}/target-utilization-percentage`, `${GROUP}/targetUtilizationPercentage`],
  minScale: [`${GROUP}/min-scale`, `${GROUP}/minScale`],
  maxScale: [`${GROUP}/max-scale`, `${GROUP}/maxScale`],
  initialScale: [`${GROUP}/initial-scale`, `${GROUP}/initialScale`],
  activationScale: [`${GROUP}/activation-scale`],
  window: [`${GROUP}/window`],
  panicWindowPercentage: [`${GROUP}/panic-window-percentage`, `${GROUP}/panicWindowPercentage`],
  panicThresholdPercentage: [`${GROUP}/panic-threshold-percentage`, `${GROUP}/panicThresholdPercentage`],
  scaleDownDelay: [`${GROUP}/scale-down-delay`, `${GROUP}/scaleDownDelay`],
  scaleToZeroPodRetention: [`${GROUP}/scale-to-zero-pod-retention-period`, `${GROUP}/scaleToZeroPodRetentionPeriod`],
  targetBurstCapacity: [`${GROUP}/target-burst-capacity`, `${GROUP}/targetBurstCapacity`],
  aggregation: [`${GROUP}/metric-aggregation-algorithm`, `${GROUP}/metricAggregationAlgorithm`],
} as const

export type AnnotationLocator = (key: string) => { file: string; line: number; column: number; path?: string }

export interface RevisionScalingOptions {
  /** false when no route references the revision (Knative's Reachability=Unreachable); default true */
  readonly reachable?: boolean
}

export function revisionScaling(
  annotations: Record<string, string>,
  containerConcurrency: number,
  settings: AutoscalerSettings = defaultAutoscalerSettings,
  locate?: AnnotationLocator,
  options: RevisionScalingOptions = {},
): { config: RevisionScalingConfig; errors: ConfigError[] } {
  const errors: ConfigError[] = []
  const error = (key: string, message: string): void => {
    const at = locate?.(key)
    errors.push({ file: at?.file ?? '', line: at?.line ?? 0, column: at?.column ?? 0, path: at?.path ?? `metadata.annotations.${key}`, message })
  }
  const get = (keys: readonly string[]): { key: string; value: string } | undefined => {
    for (const key of keys) if (Object.hasOwn(annotations, key)) return { key, value: String(annotations[key]) }
    return undefined
  }

  // class: Knative accepts kpa, hpa and custom classes; Sluice has only the KPA to offer.
  const cls = get(KEYS.class)
  if (cls !== undefined && cls.value !== KPA_CLASS) error(cls.key, classMessage(cls.value))

  let metric: RevisionScalingConfig['metric'] = 'concurrency'
  const m = get(KEYS.metric)
  if (m !== undefined) {
    if (m.value === 'concurrency' || m.value === 'rps') metric = m.value
    else error(m.key, `invalid value: ${m.value}; the KPA scales on concurrency or rps`)
  }

  // min-scale / max-scale (validateMinMaxScale)
  const minA = intGE0(get(KEYS.minScale), error)
  const maxA = intGE0(get(KEYS.maxScale), error)
  let minScale = minA ?? settings.minScale
  let maxScale = maxA ?? settings.maxScale
  if ((maxA ?? 0) !== 0 && (maxA ?? 0) < (minA ?? 0)) {
    error(get(KEYS.maxScale)!.key, `max-scale=${maxA} is less than min-scale=${minA}`)
    minScale = settings.minScale
    maxScale = settings.maxScale
  }
  const maxKey = get(KEYS.maxScale)
  if (maxKey !== undefined && maxA !== undefined && settings.maxScaleLimit > 0) {
    if (maxA > settings.maxScaleLimit) {
      error(maxKey.key, `expected 1 <= ${maxA} <= ${settings.maxScaleLimit}`)
      maxScale = settings.maxScale
    } else if (maxA === 0) {
      error(maxKey.key, `max-scale=0 (unlimited), must be less than ${settings.maxScaleLimit}`)
      maxScale = settings.maxScale
    }
  }

  // floats (validateFloats)
  const pwp = boundedFloat(get(KEYS.panicWindowPercentage), PANIC_WINDOW_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX, error)
  const ptp = boundedFloat(get(KEYS.panicThresholdPercentage), PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_THRESHOLD_PERCENTAGE_MAX, error)
  let targetA: number | undefined
  const tgt = get(KEYS.target)
  if (tgt !== undefined) {
    const f = parseGoFloat(tgt.value)
    if (f === undefined || f < TARGET_MIN) error(tgt.key, `target ${tgt.value} should be at least ${TARGET_MIN}`)
    else targetA = f
  }
  const tuA = boundedFloat(get(KEYS.targetUtilization), 1, 100, error)
  let tbcA: number | undefined
  const tbc = get(KEYS.targetBurstCapacity)
  if (tbc !== undefined) {
    const f = parseGoFloat(tbc.value)
    if (f === undefined || (f < 0 && f !== -1)) error(tbc.key, `invalid value: ${tbc.value}; use -1 (activator always in the path), 0 or a positive number`)
    else tbcA = f
  }

  // durations (validateWindow, validateLastPodRetention, validateScaleDownDelay)
  const windowA = duration(get(KEYS.window), WINDOW_MIN_MS, WINDOW_MAX_MS, true, error)
  const retentionA = duration(get(KEYS.scaleToZeroPodRetention), 0, WINDOW_MAX_MS, false, error)
  const delayA = duration(get(KEYS.scaleDownDelay), 0, WINDOW_MAX_MS, true, error)

  let aggregation: RevisionScalingConfig['aggregation'] = 'linear'
  const alg = get(KEYS.aggregation)
  if (alg !== undefined) {
    if (alg.value === 'weighted-exponential' || alg.value === 'weightedExponential') aggregation = 'weighted-exponential'
    else if (alg.value !== 'linear') error(alg.key, `invalid value: ${alg.value}; use linear or weighted-exponential`)
  }

  // initial-scale (validateInitialScale, GetInitialScale)
  let initialScale = settings.initialScale
  const init = get(KEYS.initialScale)
  if (init !== undefined) {
    const n = /^[+-]?\d+$/.test(init.value) ? Number(init.value) : NaN
    if (!Number.isSafeInteger(n) || n < 0) error(init.key, `invalid value: ${init.value}`)
    else if (n === 0 && !settings.allowZeroInitialScale) {
      error(init.key, 'invalid value: 0; initial-scale 0 needs allow-zero-initial-scale: "true" in config-autoscaler')
    } else initialScale = n
  }

  // activation-scale: at least 2 and inside [min-scale, max-scale] (reference/serving.md §1.6)
  let activationScale = 1
  const act = get(KEYS.activationScale)
  if (act !== undefined) {
    const n = /^[+-]?\d+$/.test(act.value) ? Number(act.value) : NaN
    if (!Number.isSafeInteger(n)) error(act.key, `invalid value: ${act.value}`)
    else if (n < 2 || n > INT32_MAX) error(act.key, `expected 2 <= ${act.value} <= ${INT32_MAX}`)
    else if (maxScale > 0 && n > maxScale) error(act.key, `activation-scale=${n} is greater than max-scale=${maxScale}`)
    else if (n < minScale) error(act.key, `activation-scale=${n} is less than min-scale=${minScale}`)
    else activationScale = n
  }

  // ResolveMetricTarget: TotalValue and TargetValue.
  const cc = containerConcurrency > 0 ? containerConcurrency : 0
  let total: number
  let tu: number
  if (metric === 'rps') {
    total = settings.rpsTargetDefault
    tu = settings.targetUtilization
  } else {
    total = cc > 0 ? cc : settings.containerConcurrencyTargetDefault
    tu = settings.containerConcurrencyTargetFraction
  }
  if (targetA !== undefined) {
    // Never aim above what containerConcurrency lets one instance take.
    total = metric === 'concurrency' && cc > 0 ? Math.min(targetA, cc) : targetA
  }
  if (tuA !== undefined) tu = tuA / 100
  const targetValue = Math.max(TARGET_MIN, total * tu)

  const stableWindowMs = windowA ?? settings.stableWindowMs
  const panicPct = pwp ?? settings.panicWindowPercentage
  const config: RevisionScalingConfig = {
    class: KPA_CLASS,
    metric,
    aggregation,
    containerConcurrency: cc,
    target: total,
    targetUtilization: tu,
    targetValue,
    minScale,
    maxScale,
    initialScale,
    activationScale,
    stableWindowMs,
    panicWindowMs: panicWindow(stableWindowMs, panicPct),
    panicThreshold: (ptp ?? settings.panicThresholdPercentage) / 100,
    scaleDownDelayMs: delayA ?? settings.scaleDownDelayMs,
    scaleToZeroPodRetentionMs: retentionA ?? settings.scaleToZeroPodRetentionPeriodMs,
    targetBurstCapacity: tbcA ?? settings.targetBurstCapacity,
    reachable: options.reachable ?? true,
    maxScaleUpRate: settings.maxScaleUpRate,
    maxScaleDownRate: settings.maxScaleDownRate,
    enableScaleToZero: settings.enableScaleToZero,
    scaleToZeroGracePeriodMs: settings.scaleToZeroGracePeriodMs,
    activatorCapacity: settings.activatorCapacity,
    activationTimeoutMs: settings.progressDeadlineMs + ACTIVATION_TIMEOUT_BUFFER_MS,
  }
  return { config: Object.freeze(config), errors }
}

/**
 * MakeMetric: panic window = stable window × percentage / 100, rounded to the second
 * (time.Duration.Round: halves away from zero), never shorter than one bucket.
 */
export function panicWindow(stableWindowMs: number, percentage: number): number {
  const ns = Math.trunc(stableWindowMs * 1e6 * percentage / 100)
  return Math.max(BUCKET_MS, Math.round(ns / 1e9) * 1000)
}

type ErrorFn = (key: string, message: string) => void

/** getIntGE0: ParseInt(v, 10, 32), then ≥ 0 */
function intGE0(a: { key: string; value: string } | undefined, error: ErrorFn): number | undefined {
  if (a === undefined) return undefined
  if (!/^[+-]?\d+$/.test(a.value)) {
    error(a.key, `invalid value: ${a.value}`)
    return undefined
  }
  const n = Number(a.value)
  if (n < 0 || n > INT32_MAX) {
    error(a.key, `expected 0 <= ${a.value} <= ${INT32_MAX}`)
    return undefined
  }
  return n
}

function boundedFloat(a: { key: string; value: string } | undefined, min: number, max: number, error: ErrorFn): number | undefined {
  if (a === undefined) return undefined
  const f = parseGoFloat(a.value)
  if (f === undefined) error(a.key, `invalid value: ${a.value}`)
  else if (f < min || f > max) error(a.key, `expected ${min} <= ${a.value} <= ${max}`)
  else return f
  return undefined
}

function duration(a: { key: string; value: string } | undefined, min: number, max: number, whole: boolean, error: ErrorFn): number | undefined {
  if (a === undefined) return undefined
  const ms = parseGoDuration(a.value)
  if (ms === undefined) error(a.key, `invalid value: ${a.value}; use a duration such as "60s" or "1m30s"`)
  else if (ms < min || ms > max) error(a.key, `expected ${formatGoDuration(min)} <= ${a.value} <= ${formatGoDuration(max)}`)
  else if (whole && !wholeSeconds(ms)) error(a.key, 'must be specified with at most second precision')
  else return ms
  return undefined
}

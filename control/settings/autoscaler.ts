// config-autoscaler → AutoscalerSettings, with Knative's keys, defaults and validation
// (pkg/autoscaler/config/config.go; reference/serving.md §1.6). Knative rejects the whole map on
// the first bad value; Sluice reports every bad value where it was written and keeps that key's
// default, as control/settings.ts does for the other ConfigMaps.
import type { ConfigError, ConfigMap } from '../resources/types.ts'
import {
  defaultAutoscalerSettings, KPA_CLASS, PANIC_THRESHOLD_PERCENTAGE_MAX, PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX,
  PANIC_WINDOW_PERCENTAGE_MIN, TARGET_MIN, WINDOW_MAX_MS, WINDOW_MIN_MS, classMessage, wholeSeconds,
} from '../autoscaler/config.ts'
import type { AutoscalerSettings } from '../autoscaler/config.ts'
import { ConfigMapReader, laterDeclaration } from './config-map-reader.ts'
import { formatGoDuration, goFloat, parseGoFloat, parseGoInt32 } from '../autoscaler/go-parse.ts'
import { parseGoDuration } from '../../lib/duration.ts'

export { revisionScaling } from '../autoscaler/annotations.ts'
export { defaultAutoscalerSettings, HPA_CLASS, KPA_CLASS } from '../autoscaler/config.ts'
export type { AutoscalerSettings, RevisionScalingConfig } from '../autoscaler/config.ts'

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

class Reader extends ConfigMapReader {
  raw(key: string): string | undefined {
    return this.str(key)
  }

  /** strconv.ParseFloat, finite only */
  float(key: string): number | undefined {
    const v = this.raw(key)
    if (v === undefined) return undefined
    const n = parseGoFloat(v)
    if (n === undefined) this.error(key, `${key} must be a number, got ${JSON.stringify(v)}`)
    return n
  }

  /** strconv.ParseInt(v, 10, 32) */
  int32(key: string): number | undefined {
    const v = this.raw(key)
    if (v === undefined) return undefined
    const n = parseGoInt32(v)
    if (n === undefined) this.error(key, `${key} must be a whole number, got ${JSON.stringify(v)}`)
    return n
  }

  /** strconv.ParseBool */
  bool(key: string): boolean | undefined {
    const v = this.raw(key)
    if (v === undefined) return undefined
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
    this.error(key, `${key} must be true or false, got ${JSON.stringify(v)}`)
    return undefined
  }

  /** time.ParseDuration, in ms */
  duration(key: string): number | undefined {
    const v = this.raw(key)
    if (v === undefined) return undefined
    const ms = parseGoDuration(v)
    if (ms === undefined) this.error(key, `${key} must be a duration such as "60s", "1m30s" or "500ms" (a unit is required), got ${JSON.stringify(v)}`)
    return ms
  }
}

/** Reads config-autoscaler (and progress-deadline from config-deployment). */
export function readAutoscalerSettings(configMaps: ConfigMap[]): { settings: AutoscalerSettings; errors: ConfigError[] } {
  const s: Mutable<AutoscalerSettings> = { ...defaultAutoscalerSettings }
  const errors: ConfigError[] = []
  const seen = new Map<string, ConfigMap>()
  for (const cm of configMaps) {
    const name = cm.metadata.name
    if (name !== 'config-autoscaler' && name !== 'config-deployment') continue
    const later = laterDeclaration(seen, cm)
    if (later !== null) {
      errors.push(later)
      continue
    }
    const r = new Reader(cm)
    if (name === 'config-autoscaler') readAutoscaler(r, s)
    else {
      const pd = r.duration('progress-deadline')
      if (pd !== undefined) {
        if (pd <= 0) r.error('progress-deadline', `progress-deadline = ${formatGoDuration(pd)}, must be positive`)
        else s.progressDeadlineMs = pd
      }
    }
    errors.push(...r.errors)
  }
  return { settings: Object.freeze(s), errors }
}

function readAutoscaler(r: Reader, s: Mutable<AutoscalerSettings>): void {
  const d = defaultAutoscalerSettings
  const cls = r.raw('pod-autoscaler-class')
  if (cls !== undefined) {
    if (cls === KPA_CLASS) s.podAutoscalerClass = cls
    else r.error('pod-autoscaler-class', classMessage(cls))
  }

  const bool = (key: string, set: (v: boolean) => void) => { const v = r.bool(key); if (v !== undefined) set(v) }
  bool('enable-scale-to-zero', (v) => { s.enableScaleToZero = v })
  bool('allow-zero-initial-scale', (v) => { s.allowZeroInitialScale = v })

  // Each check mirrors Knative's validate(); a failing key keeps its default.
  const maxUp = r.float('max-scale-up-rate')
  if (maxUp !== undefined) {
    if (maxUp <= 1) r.error('max-scale-up-rate', `max-scale-up-rate = ${goFloat(maxUp)}, must be greater than 1.0`)
    else s.maxScaleUpRate = maxUp
  }
  const maxDown = r.float('max-scale-down-rate')
  if (maxDown !== undefined) {
    if (maxDown <= 1) r.error('max-scale-down-rate', `max-scale-down-rate = ${goFloat(maxDown)}, must be greater than 1.0`)
    else s.maxScaleDownRate = maxDown
  }

  const pct = r.float('container-concurrency-target-percentage')
  if (pct !== undefined) {
    // Legacy: values in (0, 1] are fractions already.
    const fraction = pct > 1 ? pct / 100 : pct
    if (fraction <= 0 || fraction > 1) {
      r.error('container-concurrency-target-percentage', `container-concurrency-target-percentage = ${goFloat(pct)} is outside of valid range of (0, 100]`)
    } else s.containerConcurrencyTargetFraction = fraction
  }
  const ccDefault = r.float('container-concurrency-target-default')
  if (ccDefault !== undefined) s.containerConcurrencyTargetDefault = ccDefault
  const product = s.containerConcurrencyTargetFraction * s.containerConcurrencyTargetDefault
  if (product < TARGET_MIN) {
    r.error(ccDefault !== undefined ? 'container-concurrency-target-default' : 'container-concurrency-target-percentage',
      `container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of ${goFloat(product)}, can't be less than ${TARGET_MIN}`)
    s.containerConcurrencyTargetFraction = d.containerConcurrencyTargetFraction
    s.containerConcurrencyTargetDefault = d.containerConcurrencyTargetDefault
  }
  const rps = r.float('requests-per-second-target-default')
  if (rps !== undefined) {
    if (rps < TARGET_MIN) r.error('requests-per-second-target-default', `requests-per-second-target-default must be at least ${TARGET_MIN}, was: ${goFloat(rps)}`)
    else s.rpsTargetDefault = rps
  }
  const tbc = r.float('target-burst-capacity')
  if (tbc !== undefined) {
    if (tbc < 0 && tbc !== -1) {
      r.error('target-burst-capacity', `target-burst-capacity must be either non-negative or -1 (for unlimited), was: ${tbc.toFixed(6)}`)
    } else s.targetBurstCapacity = tbc
  }
  const act = r.float('activator-capacity')
  if (act !== undefined) {
    if (act < 1) r.error('activator-capacity', `activator-capacity = ${goFloat(act)}, must be at least 1`)
    else s.activatorCapacity = act
  }
  const pwp = r.float('panic-window-percentage')
  if (pwp !== undefined) {
    if (pwp < PANIC_WINDOW_PERCENTAGE_MIN || pwp > PANIC_WINDOW_PERCENTAGE_MAX) {
      r.error('panic-window-percentage', `panic-window-percentage = ${goFloat(pwp)}, must be in [${PANIC_WINDOW_PERCENTAGE_MIN}, ${PANIC_WINDOW_PERCENTAGE_MAX}] interval`)
    } else s.panicWindowPercentage = pwp
  }
  const ptp = r.float('panic-threshold-percentage')
  if (ptp !== undefined) {
    // Knative checks this bound only on the annotation; a cluster value of e.g. 2 (a fraction by
    // mistake) would keep every revision panicking, so Sluice applies the same bound here.
    if (ptp < PANIC_THRESHOLD_PERCENTAGE_MIN || ptp > PANIC_THRESHOLD_PERCENTAGE_MAX) {
      r.error('panic-threshold-percentage', `panic-threshold-percentage = ${goFloat(ptp)}, must be in [${PANIC_THRESHOLD_PERCENTAGE_MIN}, ${PANIC_THRESHOLD_PERCENTAGE_MAX}] interval`)
    } else s.panicThresholdPercentage = ptp
  }

  const sw = r.duration('stable-window')
  if (sw !== undefined) {
    if (sw < WINDOW_MIN_MS || sw > WINDOW_MAX_MS) {
      r.error('stable-window', `stable-window = ${formatGoDuration(sw)}, must be in [${formatGoDuration(WINDOW_MIN_MS)}; ${formatGoDuration(WINDOW_MAX_MS)}] range`)
    } else if (!wholeSeconds(sw)) {
      r.error('stable-window', `stable-window = ${formatGoDuration(sw)}, must be specified with at most second precision`)
    } else s.stableWindowMs = sw
  }
  const grace = r.duration('scale-to-zero-grace-period')
  if (grace !== undefined) {
    if (grace <= 0) r.error('scale-to-zero-grace-period', `scale-to-zero-grace-period must be positive, was: ${formatGoDuration(grace)}`)
    else s.scaleToZeroGracePeriodMs = grace
  }
  const sdd = r.duration('scale-down-delay')
  if (sdd !== undefined) {
    if (sdd < 0) r.error('scale-down-delay', `scale-down-delay cannot be negative, was: ${formatGoDuration(sdd)}`)
    else if (!wholeSeconds(sdd)) r.error('scale-down-delay', `scale-down-delay = ${formatGoDuration(sdd)}, must be specified with at most second precision`)
    else s.scaleDownDelayMs = sdd
  }
  const ret = r.duration('scale-to-zero-pod-retention-period')
  if (ret !== undefined) {
    if (ret < 0) r.error('scale-to-zero-pod-retention-period', `scale-to-zero-pod-retention-period cannot be negative, was: ${formatGoDuration(ret)}`)
    else s.scaleToZeroPodRetentionPeriodMs = ret
  }

  const init = r.int32('initial-scale')
  if (init !== undefined) {
    if (init < 0 || (init === 0 && !s.allowZeroInitialScale)) {
      r.error('initial-scale', `initial-scale = ${init}, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)`)
    } else s.initialScale = init
  }
  const limit = r.int32('max-scale-limit')
  if (limit !== undefined) {
    if (limit < 0) r.error('max-scale-limit', `max-scale-limit = ${limit}, must be at least 0`)
    else s.maxScaleLimit = limit
  }
  const max = r.int32('max-scale')
  if (max !== undefined) {
    // A max-scale-limit requires a bounded default max-scale.
    const minMax = s.maxScaleLimit > 0 ? 1 : 0
    if (max < minMax || (s.maxScaleLimit > 0 && max > s.maxScaleLimit)) {
      r.error('max-scale', `max-scale = ${max}, must be in [${minMax}, max-scale-limit(${s.maxScaleLimit})] range`)
    } else s.maxScale = max
  } else if (s.maxScaleLimit > 0) {
    r.error('max-scale-limit', `max-scale = 0, must be in [1, max-scale-limit(${s.maxScaleLimit})] range; set max-scale too`)
    s.maxScaleLimit = d.maxScaleLimit
  }
  const min = r.int32('min-scale')
  if (min !== undefined) {
    if (min < 0) r.error('min-scale', `min-scale = ${min}, must be at least 0`)
    else if (s.maxScale > 0 && min > s.maxScale) r.error('min-scale', `min-scale = ${min}, must be less than or equal to max-scale (${s.maxScale})`)
    else s.minScale = min
  }
}



// Shared shapes and Knative constants for the autoscaler: cluster settings (config-autoscaler),
// the per-revision scaling config the KPA runs on, and the bounds both are validated against
// (pkg/apis/autoscaling/register.go, pkg/autoscaler/config/config.go; reference/serving.md §1.6).

export const KPA_CLASS = 'kpa.autoscaling.knative.dev'
export const HPA_CLASS = 'hpa.autoscaling.knative.dev'

/** Knative's bounds (pkg/apis/autoscaling/register.go). */
export const TARGET_MIN = 0.01
export const WINDOW_MIN_MS = 6_000
export const WINDOW_MAX_MS = 3_600_000
export const PANIC_WINDOW_PERCENTAGE_MIN = 1
export const PANIC_WINDOW_PERCENTAGE_MAX = 100
export const PANIC_THRESHOLD_PERCENTAGE_MIN = 110
export const PANIC_THRESHOLD_PERCENTAGE_MAX = 1000
/** Knative's metrics bucket size and KPA tick interval. */
export const BUCKET_MS = 1_000
export const TICK_INTERVAL_MS = 2_000
/** added to progress-deadline before an activation that never succeeds is given up (kpa/scaler.go) */
export const ACTIVATION_TIMEOUT_BUFFER_MS = 30_000

export interface AutoscalerSettings {
  /** pod-autoscaler-class; Sluice only runs the KPA */
  readonly podAutoscalerClass: string
  readonly enableScaleToZero: boolean
  readonly allowZeroInitialScale: boolean
  /** container-concurrency-target-percentage as a fraction (70 → 0.7; values ≤ 1 are already fractions) */
  readonly containerConcurrencyTargetFraction: number
  readonly containerConcurrencyTargetDefault: number
  /** utilization for the rps metric; Knative has no ConfigMap key for it, so it stays 0.7 */
  readonly targetUtilization: number
  readonly rpsTargetDefault: number
  readonly targetBurstCapacity: number
  readonly maxScaleUpRate: number
  readonly maxScaleDownRate: number
  readonly panicWindowPercentage: number
  readonly panicThresholdPercentage: number
  readonly activatorCapacity: number
  readonly stableWindowMs: number
  readonly scaleToZeroGracePeriodMs: number
  readonly scaleToZeroPodRetentionPeriodMs: number
  readonly scaleDownDelayMs: number
  readonly initialScale: number
  readonly minScale: number
  /** 0 = unlimited */
  readonly maxScale: number
  /** 0 = no limit on max-scale */
  readonly maxScaleLimit: number
  /** config-deployment progress-deadline; an activation stuck longer than this + 30 s gives up */
  readonly progressDeadlineMs: number
}

export const defaultAutoscalerSettings: AutoscalerSettings = Object.freeze({
  podAutoscalerClass: KPA_CLASS,
  enableScaleToZero: true,
  allowZeroInitialScale: false,
  containerConcurrencyTargetFraction: 0.7,
  containerConcurrencyTargetDefault: 100,
  targetUtilization: 0.7,
  rpsTargetDefault: 200,
  targetBurstCapacity: 211,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  panicWindowPercentage: 10,
  panicThresholdPercentage: 200,
  activatorCapacity: 100,
  stableWindowMs: 60_000,
  scaleToZeroGracePeriodMs: 30_000,
  scaleToZeroPodRetentionPeriodMs: 0,
  scaleDownDelayMs: 0,
  initialScale: 1,
  minScale: 0,
  maxScale: 0,
  maxScaleLimit: 0,
  progressDeadlineMs: 600_000,
})

/** Everything the KPA and the scaler need for one revision: annotations resolved over the settings. */
export interface RevisionScalingConfig {
  readonly class: string
  readonly metric: 'concurrency' | 'rps'
  readonly aggregation: 'linear' | 'weighted-exponential'
  readonly containerConcurrency: number
  /** Knative's TotalValue: what one instance can take (cc, 100, 200 rps, or the target annotation) */
  readonly target: number
  /** fraction, e.g. 0.7 */
  readonly targetUtilization: number
  /** Knative's TargetValue = max(0.01, target × targetUtilization): what the KPA aims for per instance */
  readonly targetValue: number
  readonly minScale: number
  /** 0 = unlimited */
  readonly maxScale: number
  readonly initialScale: number
  /** 1 = unset; a non-zero desired count is raised to at least this */
  readonly activationScale: number
  readonly stableWindowMs: number
  readonly panicWindowMs: number
  /** fraction, e.g. 2 for 200 % */
  readonly panicThreshold: number
  readonly scaleDownDelayMs: number
  readonly scaleToZeroPodRetentionMs: number
  readonly targetBurstCapacity: number
  /** false for revisions no route references (routingState reserve): no min-scale, no scale-down floor */
  readonly reachable: boolean
  // cluster-wide settings the KPA and scaler need
  readonly maxScaleUpRate: number
  readonly maxScaleDownRate: number
  readonly enableScaleToZero: boolean
  readonly scaleToZeroGracePeriodMs: number
  readonly activatorCapacity: number
  readonly activationTimeoutMs: number
}

/** The message for a pod-autoscaler-class or autoscaling.knative.dev/class Sluice cannot honour. */
export function classMessage(cls: string): string {
  if (cls === HPA_CLASS || cls === 'hpa') {
    return `${JSON.stringify(cls)} is not supported: Sluice only runs the KPA (${KPA_CLASS}); remove it or use ${KPA_CLASS}`
  }
  return `invalid value: ${cls}; Sluice only runs the KPA, so the class must be ${KPA_CLASS}`
}

/** Go's d.Round(time.Second) == d */
export function wholeSeconds(ms: number): boolean {
  return Number.isInteger(ms / 1000)
}

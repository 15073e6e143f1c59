// Applying a KPA decision (pkg/reconciler/autoscaling/kpa/scaler.go and kpa.go; reference/serving.md
// §4.7): clamp to [min-scale, max-scale], hold initial-scale until the target first comes up, gate
// scale-to-zero, and keep the PodAutoscaler's Active condition (Active / Activating / Inactive).
// Pure: the caller keeps the returned status and passes it back on the next step.
//
// Sluice's gateway is always the activator, so Knative's "is the activator in the path" probe
// always succeeds, and "SKS in proxy mode" is tracked here from the mode this step computes.
import type { RevisionScalingConfig } from './config.ts'

export type ActiveState = 'Active' | 'Activating' | 'Inactive'
export type ActiveReason = '' | 'Queued' | 'NoTraffic' | 'TimedOut'
/** Knative's SKS mode: Proxy puts the activator (request buffering) in front of the instances. */
export type ServingMode = 'Serve' | 'Proxy'

/** What Knative keeps on the PodAutoscaler and its SKS between reconciles. */
export interface PodAutoscalerStatus {
  readonly state: ActiveState
  readonly reason: ActiveReason
  readonly message: string
  /** last change of state or reason (the condition's lastTransitionTime); undefined until the first step */
  readonly sinceMs: number | undefined
  /** ScaleTargetInitialized: the target once reached its first active threshold */
  readonly initialized: boolean
  readonly mode: ServingMode
  readonly proxySinceMs: number | undefined
  /** the instance count last applied (the Deployment's replicas) */
  readonly scale: number
}

export interface ScaleInput {
  readonly nowMs: number
  /** the decider's desired count; -1 while unknown */
  readonly desired: number
  readonly excessBurstCapacity: number
  readonly ready: number
}

export interface ScaleResult {
  /** instances the runtime should run now */
  readonly scale: number
  /** Knative's `want` after gating: -1 unknown, 0 when the revision is (going) idle */
  readonly want: number
  /** the autoscaler's recommendation this came from (-1 before the first decision) */
  readonly desired: number
  readonly state: ActiveState
  readonly reason: ActiveReason
  readonly message: string
  readonly mode: ServingMode
  readonly excessBurstCapacity: number
  readonly initialized: boolean
  /** when a time-based gate opens (Knative re-enqueues the PA then); ticks also get there */
  readonly recheckAtMs?: number
}

const MESSAGES: Record<ActiveReason, string> = {
  '': '',
  Queued: 'Requests to the target are being buffered as resources are provisioned.',
  NoTraffic: 'The target is not receiving traffic.',
  TimedOut: 'The target could not be activated.',
}

/** A new PodAutoscaler: activating since `nowMs` (or the first step), at initial-scale replicas. */
export function initialStatus(config: RevisionScalingConfig, nowMs?: number): PodAutoscalerStatus {
  return {
    state: 'Activating', reason: 'Queued', message: MESSAGES.Queued, sinceMs: nowMs,
    initialized: false, mode: 'Serve', proxySinceMs: undefined, scale: config.initialScale,
  }
}

/** pre: 0 <= min; max 0 means unbounded */
export function applyBounds(min: number, max: number, x: number): number {
  if (x < min) return min
  if (max !== 0 && x > max) return max
  return x
}

/** [min, max]; min-scale does not hold for a revision no route reaches */
export function scaleBounds(config: RevisionScalingConfig): { min: number; max: number } {
  return { min: config.reachable ? config.minScale : 0, max: config.maxScale }
}

export function applyScale(status: PodAutoscalerStatus, config: RevisionScalingConfig, input: ScaleInput): { status: PodAutoscalerStatus; result: ScaleResult } {
  const now = input.nowMs
  let s: PodAutoscalerStatus = status.sinceMs === undefined ? { ...status, sinceMs: now } : status
  const bounds = scaleBounds(config)
  let recheckAtMs: number | undefined
  const recheck = (at: number): void => { recheckAtMs = recheckAtMs === undefined ? at : Math.min(recheckAtMs, at) }

  // scaler.scale
  let want = input.desired
  let apply = false
  if (!(input.desired < 0 && s.state !== 'Activating')) {
    let min = bounds.min
    // Until the target first comes up, run at least initial-scale.
    if (config.initialScale > 1 && !s.initialized) min = Math.max(config.initialScale, min)
    const bounded = applyBounds(min, bounds.max, input.desired)
    const gated = handleScaleToZero(s, config, bounded, now, recheck)
    want = gated[0]
    apply = gated[1]
  }
  if (apply) s = { ...s, scale: want }

  // SKS mode: Proxy when idle, when the burst capacity is short, or when unknown and inactive.
  const proxy = want === 0 || input.excessBurstCapacity < 0 || (want === -1 && s.state === 'Inactive')
  const mode: ServingMode = proxy ? 'Proxy' : 'Serve'
  if (mode !== s.mode) s = { ...s, mode, proxySinceMs: proxy ? now : undefined }

  s = computeActiveCondition(s, config, want, input.ready, now)
  return {
    status: s,
    result: {
      scale: s.scale, want, desired: input.desired, state: s.state, reason: s.reason, message: s.message,
      mode: s.mode, excessBurstCapacity: input.excessBurstCapacity, initialized: s.initialized,
      ...(recheckAtMs === undefined ? {} : { recheckAtMs }),
    },
  }
}

/**
 * Scale to zero only when (a) enable-scale-to-zero, (b) the PA was Active for a stable window and
 * has been marked Inactive, and (c) it has been Inactive for the grace period (or the pod
 * retention period), or proxied for the grace period. An activation that never succeeds gives up
 * after progress-deadline + 30 s. Returns [want, whether to apply it].
 */
function handleScaleToZero(s: PodAutoscalerStatus, config: RevisionScalingConfig, desired: number, now: number, recheck: (at: number) => void): [number, boolean] {
  if (desired !== 0) return [desired, true]
  if (!config.enableScaleToZero) return [1, true]
  const since = s.sinceMs ?? now
  const inState = now - since
  switch (s.state) {
    case 'Activating':
      if (inState > config.activationTimeoutMs) return [0, true]
      recheck(since + config.activationTimeoutMs)
      return [-1, false]
    case 'Active':
      // Report 0 so the PA is marked Inactive, but keep the instances for now.
      if (inState >= config.stableWindowMs) return [0, false]
      // Otherwise hold one instance for the rest of the stable window.
      recheck(since + config.stableWindowMs)
      return [1, true]
    case 'Inactive': {
      // Last-pod retention does not apply to revisions no route reaches (serving.md §1.2).
      const retention = config.reachable ? config.scaleToZeroPodRetentionMs : 0
      if (inState >= Math.max(config.scaleToZeroGracePeriodMs, retention)) return [0, true]
      if (retention > 0 && inState < retention) {
        recheck(since + retention)
        return [0, false]
      }
      // Fast path: proxied (activator in the path) for the whole grace period.
      const proxyFor = s.mode === 'Proxy' && s.proxySinceMs !== undefined ? now - s.proxySinceMs : 0
      const remaining = config.scaleToZeroGracePeriodMs - proxyFor
      if (remaining <= 0) return [0, true]
      recheck(now + remaining)
      return [0, false]
    }
  }
}

/**
 * Knative's computeActiveCondition:
 *   want 0 (or nothing required)     → Inactive (NoTraffic, or TimedOut after a failed activation)
 *   ready below the active threshold → Activating (Queued), unless already Inactive and want ≤ 0
 *   ready at the threshold           → Active, unless already Inactive and want ≤ 0
 */
function computeActiveCondition(s: PodAutoscalerStatus, config: RevisionScalingConfig, want: number, ready: number, now: number): PodAutoscalerStatus {
  const { min } = scaleBounds(config)
  const minReady = s.initialized ? Math.max(min, 1) : Math.max(min, config.initialScale)
  let next = s
  if (ready >= minReady) next = { ...next, initialized: true }
  if (want === 0 || minReady === 0) {
    next = s.state === 'Activating' && minReady > 0 ? mark(next, 'Inactive', 'TimedOut', now) : mark(next, 'Inactive', 'NoTraffic', now)
  } else if (ready < minReady) {
    next = want > 0 || s.state !== 'Inactive' ? mark(next, 'Activating', 'Queued', now) : mark(next, 'Inactive', 'NoTraffic', now)
  } else if (want > 0 || s.state !== 'Inactive') {
    next = mark(next, 'Active', '', now)
  }
  return next
}

/** A condition's transition time moves only when its status or reason changes. */
function mark(s: PodAutoscalerStatus, state: ActiveState, reason: ActiveReason, now: number): PodAutoscalerStatus {
  if (s.state === state && s.reason === reason) return s
  return { ...s, state, reason, message: MESSAGES[reason], sinceMs: now }
}

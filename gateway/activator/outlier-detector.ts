// Outlier detection, Envoy's consecutive-errors model (source/common/upstream/outlier_detection_impl.cc):
// each instance counts consecutive failures; a count that reaches its threshold ejects the instance
// from balancing for base_ejection_time × (times ejected), capped at max_ejection_time, unless that
// would eject more than max_ejection_percent of the revision's instances (or the last one: a
// revision is never emptied by ejection). After its time the instance is eligible again, as in
// Envoy (no active probe): the next requests are its probe, and a new failure streak ejects it for
// longer. Time spent healthy after coming back lowers the multiplier again, one step per base time.
//
// Two streaks, as Envoy's consecutive_5xx and consecutive_gateway_failure:
// - gateway errors: connect failures, resets and timeouts before a response, and 502/503/504
//   from the instance (default 5);
// - any 5xx (off unless set: an app's 500 is the app's answer, not a sick instance).
// Any response below 500 ends both streaks; a 5xx that is not a gateway error ends the gateway streak.
//
// The hot path is countOutcome: two integer compares and writes on the instance, no allocation.

/** A revision's outlier settings, compiled once per route table (control/compile). */
export interface OutlierPolicy {
  /** consecutive 5xx responses (any) that eject an instance; 0 = off */
  readonly consecutive5xx: number
  /** consecutive gateway errors (local failures, 502/503/504) that eject an instance; 0 = off */
  readonly consecutiveGatewayErrors: number
  /** the first ejection's length; the n-th lasts n times this (ms) */
  readonly baseEjectionMs: number
  /** no ejection lasts longer than this (Envoy's max_ejection_time default, 300 s; at least the base) */
  readonly maxEjectionMs: number
  /** at most this share of a revision's instances is ejected at once (0–100) */
  readonly maxEjectionPercent: number
}

/** Envoy's max_ejection_time default. */
export const MAX_EJECTION_MS = 300_000

export const DEFAULT_OUTLIER_POLICY: OutlierPolicy = Object.freeze({
  consecutive5xx: 0,
  consecutiveGatewayErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: MAX_EJECTION_MS,
  maxEjectionPercent: 50,
})

/** Ejections in a row (without a healthy base time between them) after which a local instance is restarted. */
export const RESTART_AFTER_EJECTIONS = 3

/** The outcome of an exchange that got no response from the instance (connect failure, reset, timeout). */
export const LOCAL_FAILURE = 0

/** What the detector keeps per instance (fields of UpstreamInstance). */
export interface OutlierState {
  /** consecutive 5xx responses (local failures included, as Envoy maps them to 5xx) */
  consecutive5xx: number
  /** consecutive gateway errors */
  consecutiveGateway: number
  /** performance.now()-style time until which the instance is ejected; 0 when it is not */
  ejectedUntil: number
  /** the ejection multiplier: ejections since the instance was last healthy for a while */
  ejections: number
  /** when the instance last came back from an ejection */
  returnedAt: number
  /** ejections over the instance's life, for /debug/instances */
  ejectionsTotal: number
}

/**
 * Count one outcome: a response status, or LOCAL_FAILURE. True when a streak reached its
 * threshold: the caller decides whether the instance may be ejected (the percentage cap).
 */
export function countOutcome(s: OutlierState, p: OutlierPolicy, status: number): boolean {
  if (status >= 200 && status < 500) {
    s.consecutive5xx = 0
    s.consecutiveGateway = 0
    return false
  }
  if (status === LOCAL_FAILURE || status === 502 || status === 503 || status === 504) s.consecutiveGateway++
  else if (status >= 500) s.consecutiveGateway = 0
  else return false
  s.consecutive5xx++
  return (p.consecutiveGatewayErrors > 0 && s.consecutiveGateway >= p.consecutiveGatewayErrors)
    || (p.consecutive5xx > 0 && s.consecutive5xx >= p.consecutive5xx)
}

/**
 * Whether one more of `total` instances may be ejected when `ejected` are out already and `others`
 * (not the candidate, neither ejected nor being stopped) take traffic: never the last available
 * one, and never above the percentage.
 */
export function mayEject(p: OutlierPolicy, ejected: number, others: number, total: number): boolean {
  return others >= 1 && (ejected + 1) * 100 <= p.maxEjectionPercent * total
}

/** Eject the instance at `now`; returns the ejection's length in ms. */
export function eject(s: OutlierState, p: OutlierPolicy, now: number): number {
  // Envoy lowers the multiplier while a host stays healthy; here one step per base time healthy.
  if (s.ejections > 0 && s.returnedAt > 0) {
    const healthySteps = Math.floor((now - s.returnedAt) / p.baseEjectionMs)
    s.ejections = Math.max(0, s.ejections - healthySteps)
  }
  s.ejections++
  s.ejectionsTotal++
  const ms = Math.min(p.baseEjectionMs * s.ejections, Math.max(p.maxEjectionMs, p.baseEjectionMs))
  s.ejectedUntil = now + ms
  s.consecutive5xx = 0
  s.consecutiveGateway = 0
  return ms
}

/** The ejection is over: the instance takes traffic again. */
export function unEject(s: OutlierState, now: number): void {
  s.ejectedUntil = 0
  s.returnedAt = now
}

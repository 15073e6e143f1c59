// Retries with a budget (Envoy's retry_budget, Linkerd's retry budget): a request that failed
// before any response byte may be sent again, to another instance, only when that cannot have
// run it twice (the connection was refused, so nothing was sent; or a reset met an idempotent
// request without a body) and only while retries stay a small share of the revision's active
// requests (by default 20%, at least 3 at once: Envoy's budget_percent and min_retry_concurrency
// defaults; config-sluice retry-budget-percent and retry-budget-min-concurrency, or the
// revision's sluice.dev/ annotations of the same names). In a full outage, at most that share is
// retried and the rest fail at once: retries cannot multiply the load on failing instances. An
// app's answer (a 503 included) is never retried.
//
// Waiting for a new instance of a revision Sluice runs, after the one picked died before it got
// the request, is not a retry in this sense: no instance saw the request, and the activator's
// queue (bounded, with the revision's timeout) is where it waits, as in Knative's activator.

/** A route's retry policy, compiled per split (annotation sluice.dev/retry-attempts on the route). */
export interface RetryPolicy {
  /** sends after the first, at most; 0 = never retry */
  readonly attempts: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ attempts: 3 })

/** A revision's retry budget, shared by every route to it (its throttler counts who is retrying). */
export interface RetryBudget {
  /** share of the revision's active requests that may be retrying at once (0–100) */
  readonly budgetPercent: number
  /** retries allowed at once whatever the share (so a quiet revision can still retry) */
  readonly minConcurrency: number
}

export const DEFAULT_RETRY_BUDGET: RetryBudget = Object.freeze({ budgetPercent: 20, minConcurrency: 3 })

/** Methods Go's transport retries after a connection reset (Request.isReplayable). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/**
 * Whether a failure before any response may be sent again: a refused connection sent nothing
 * (as long as no body byte was read for it); a reset may have reached the app, so only an
 * idempotent request without a body is sent again.
 */
export function mayResend(connectFailed: boolean, method: string, hasBody: boolean, bodyRead: boolean): boolean {
  if (bodyRead) return false
  return connectFailed || (!hasBody && IDEMPOTENT.has(method))
}

/** May one more request start retrying, with `retrying` of `active` requests retrying now? */
export function withinBudget(p: RetryBudget, retrying: number, active: number): boolean {
  return retrying < Math.max(p.minConcurrency, (active * p.budgetPercent) / 100)
}

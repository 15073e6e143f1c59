// Retry timing of a DeliverySpec, one formula for every backing. Sluice follows the documented
// formula (linear delay·n, exponential delay·2^n, n = retry number from 1), as the Kafka and NATS
// brokers do; Knative's MT broker is off by one (go-retryablehttp counts from 0: its first linear
// retry is immediate). `backoffMax` caps the wait (knative/eventing#9278: exponential with retry 30
// would otherwise wait years).
import type { DeliverySpec } from './types.ts'

/**
 * Milliseconds to wait before retry number `n` (1-based). `retryAfterMs` is the Retry-After of the
 * failed attempt (null when absent); it counts only when the spec sets `retryAfterMax`, and then as
 * max(backoff, min(Retry-After, retryAfterMax)).
 */
export function retryDelayMs(spec: DeliverySpec, n: number, retryAfterMs: number | null): number {
  let delay = 0
  if (spec.backoffPolicy !== null && spec.backoffDelayMs > 0) {
    delay = spec.backoffPolicy === 'linear' ? spec.backoffDelayMs * n : spec.backoffDelayMs * 2 ** n
    if (delay > spec.backoffMaxMs) delay = spec.backoffMaxMs
  }
  if (spec.retryAfterMaxMs !== null && retryAfterMs !== null && retryAfterMs > 0) {
    const honoured = Math.min(retryAfterMs, spec.retryAfterMaxMs)
    if (honoured > delay) delay = honoured
  }
  return delay
}

// The sampling decision, made before any span exists and without the SDK: a request whose parent
// (W3C traceparent, B3 single or multi header) says sampled or not is decided by it (parent-based
// sampling); a request without one is sampled with the configured probability. Unsampled requests
// cost this function and nothing more: their trace headers are forwarded as before.
import type { IncomingHttpHeaders } from 'node:http'

const NO_DECISION = -1

/** 1 sampled, 0 not, -1 no parent decision in the headers. */
export function parentDecision(h: IncomingHttpHeaders): number {
  const tp = h.traceparent
  if (typeof tp === 'string' && tp.length === 55 && tp.charCodeAt(2) === 45 /* - */) {
    // version-traceid-parentid-flags: the sampled bit is the flags' lowest
    return parseInt(tp.slice(53), 16) & 1
  }
  const b3 = h.b3
  if (typeof b3 === 'string') {
    // `{traceid}-{spanid}-{sampled}-{parent}`, or a lone sampling state (0, 1, d)
    const parts = b3.split('-')
    const flag = parts.length === 1 ? parts[0] : parts[2]
    if (flag === '1' || flag === 'd') return 1
    if (flag === '0') return 0
  }
  if (h['x-b3-flags'] === '1') return 1
  const sampled = h['x-b3-sampled']
  if (sampled === '1' || sampled === 'true') return 1
  if (sampled === '0' || sampled === 'false') return 0
  return NO_DECISION
}

export function sampleRequest(h: IncomingHttpHeaders, rate: number): boolean {
  const parent = parentDecision(h)
  if (parent !== NO_DECISION) return parent === 1
  return rate >= 1 || (rate > 0 && Math.random() < rate)
}

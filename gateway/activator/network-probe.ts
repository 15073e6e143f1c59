// Knative's network probe, answered where Knative's activator answers it: a request with
// `K-Network-Probe: probe` that reaches a revision Sluice runs itself gets 200 with the
// `K-Network-Hash` it carries (the ingress's hash, once the route rewrote `override`), or 400
// without one (knative/networking pkg/http/probe/handler.go). Nothing wakes or queues for it, so
// probing a route never scales a revision up. Requests to other upstreams (queue-proxy, any
// Service) are forwarded, and those answer it.
import type { DownstreamRequest, DownstreamResponse } from '../downstream.ts'
import type { Split } from '../route-table.ts'
import { localReply } from '../local-reply.ts'

/**
 * For a probe that reached a revision Sluice runs: the hash to echo ('' when it carries none: 400).
 * null for every other request.
 */
export function networkProbeHash(req: DownstreamRequest, split: Split): string | null {
  if (!split.backend.managed || req.headers['k-network-probe'] !== 'probe') return null
  const sent = req.headers['k-network-hash']
  return sent === 'override' && split.probeHash !== '' ? split.probeHash : typeof sent === 'string' ? sent : ''
}

/** Answers the probe and returns true when `req` is one for a revision Sluice runs. */
export function answerNetworkProbe(req: DownstreamRequest, res: DownstreamResponse, split: Split): boolean {
  const hash = networkProbeHash(req, split)
  if (hash === null) return false
  if (hash === '') localReply(res, 400, 'no K-Network-Hash header\n', false)
  else localReply(res, 200, '', false, ['k-network-hash', hash])
  return true
}

// Where a request's spans begin: the one place the request path asks for them, on the plain path
// (gateway.ts) and the plugin path (plugins/flow.ts). Callers check that the tracer is not null
// first; here the sampling decision comes before anything is made.
import type { DownstreamRequest } from '../downstream.ts'
import type { Split } from '../route-table.ts'
import type { RequestTrace, RequestTracer } from './request-trace.ts'
import { sampleRequest } from './sampling.ts'

/**
 * The spans of a request routed to `split`, or null when it is not sampled.
 * @param route `namespace/name` of the ingress that routed it
 * @param arrived performance.now() at arrival
 */
export function startTrace(tracer: RequestTracer, req: DownstreamRequest, host: string, route: string, split: Split, arrived: number): RequestTrace | null {
  if (!sampleRequest(req.headers, tracer.rate)) return null
  const b = split.backend
  // A managed revision with no routable instance waits for one to start: a cold start.
  return tracer.start(req, host, route, `${b.namespace}/${b.revision}`, arrived, b.throttler!.routable.length === 0)
}

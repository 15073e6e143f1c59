// The gateway's view of tracing: interfaces only, so the request path names them without loading
// the OpenTelemetry SDK (otel-tracer.ts implements them and is imported only when tracing is on).
import type { DownstreamRequest } from '../downstream.ts'

/** Made once per tracing configuration; `start` is called only for requests sampled by sampleRequest. */
export interface RequestTracer {
  /** share of new traces sampled (requests with a parent follow the parent) */
  readonly rate: number
  /**
   * The server span of one sampled request, started at `arrived` (performance.now()).
   * @param route `namespace/name` of the Route (or KIngress)
   */
  start(req: DownstreamRequest, host: string, route: string, revision: string, arrived: number, cold: boolean): RequestTrace
  /** export what is queued, then stop */
  shutdown(): Promise<void>
}

/** One sampled request's spans. */
export interface RequestTrace {
  /** response body bytes forwarded so far */
  bytes: number
  /** why the upstream exchange failed (an error code), or '' */
  error: string
  /** the request went into the activator's queue instead of straight to an instance */
  queued(): void
  /** a plugin phase's decision (`onRequest answered`, `plugin failed`…), as an event on the server span */
  event(name: string, detail: string): void
  /**
   * The request goes to an instance: ends the activator wait span (if it waited), starts the
   * client span and rewrites the trace headers in `headers` (flat name, value list) to carry it.
   */
  send(headers: string[], origin: string, now: number): void
  /** the exchange is over with this status (0: none was sent) */
  end(status: number, now: number): void
}

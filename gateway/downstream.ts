// The two kinds of downstream exchange a listener hands the gateway: Node's HTTP/1.1 objects and
// its HTTP/2 compatibility objects. Their requests share a shape and are a plain union, narrowed
// where they differ (`isHttp2`). Their responses have the same methods under overloads TypeScript
// cannot call through a union, so DownstreamResponse names exactly what the gateway calls, and
// both ServerResponse and Http2ServerResponse are checked against it where they are handed over.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'

export type DownstreamRequest = IncomingMessage | Http2ServerRequest

export interface DownstreamResponse {
  readonly req: DownstreamRequest
  readonly headersSent: boolean
  readonly destroyed: boolean
  statusCode: number
  writeHead(statusCode: number, headers?: string[]): unknown
  writeHead(statusCode: number, statusMessage: string, headers?: string[]): unknown
  setHeader(name: string, value: string | string[]): unknown
  write(chunk: Uint8Array | string): boolean
  end(chunk?: Uint8Array | string): unknown
  addTrailers(trailers: OutgoingHttpHeaders): void
  /** HTTP/1.1 only: HTTP/2's writeHead sends its HEADERS frame at once */
  flushHeaders?(): void
  destroy(err?: Error): unknown
  on(event: 'close', listener: () => void): unknown
  once(event: 'drain' | 'finish', listener: () => void): unknown
}

/** HTTP/2 requests carry pseudo-headers; an HTTP/1 header name can never start with ':'. */
export function isHttp2(req: DownstreamRequest): req is Http2ServerRequest {
  return req.headers[':method'] !== undefined
}

/** Node's response objects, as the gateway sees them (and the type check that both fit). */
export function downstreamResponse(res: ServerResponse | Http2ServerResponse): DownstreamResponse {
  return res
}

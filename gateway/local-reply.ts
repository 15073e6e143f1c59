// Answers the gateway writes itself (no route, no upstream, timeouts), kept tiny and uniform.
// gRPC clients get them the gRPC way: HTTP 200 with grpc-status/grpc-message ("trailers-only"),
// mapped as the gRPC HTTP status mapping recommends, because they ignore HTTP status texts.
import type { DownstreamResponse } from './downstream.ts'

// https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md, plus gateway codes.
const GRPC_STATUS: Record<number, number> = {
  400: 13, // INTERNAL
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  404: 12, // UNIMPLEMENTED
  429: 14, // UNAVAILABLE
  431: 13,
  499: 1, // CANCELLED
  500: 13,
  502: 14, // UNAVAILABLE
  503: 14,
  504: 4, // DEADLINE_EXCEEDED
}

function isGrpc(res: DownstreamResponse): boolean {
  const ct = res.req?.headers['content-type']
  return typeof ct === 'string' && ct.startsWith('application/grpc')
}

/** Whether a flat [name, value, …] list names `name` (lower case). */
function sets(flat: readonly string[] | undefined, name: string): boolean {
  if (flat === undefined) return false
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true
  return false
}

export function localReply(res: DownstreamResponse, status: number, body: string, close: boolean, extra?: readonly string[]): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (isGrpc(res)) {
    // Trailers-Only means one HEADERS frame with END_STREAM. Node's HTTP/2 compat writeHead()
    // sends the HEADERS at once, without END_STREAM (the end then comes as an empty DATA frame,
    // and gRPC clients report "Call ended without gRPC status"): set the headers and let end()
    // send them, which puts END_STREAM on the HEADERS frame.
    res.statusCode = 200
    res.setHeader('content-type', 'application/grpc')
    res.setHeader('grpc-status', String(GRPC_STATUS[status] ?? 2 /* UNKNOWN */))
    res.setHeader('grpc-message', encodeURIComponent(body.trim()))
    res.setHeader('content-length', '0')
    res.end()
    return
  }
  const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body))]
  // A 503 asks the client to come back in a second, unless the caller set its own Retry-After (a
  // breaker's): one header either way (HTTP/2 refuses a second, HTTP/1.1 clients would see two).
  if (status === 503 && !sets(extra, 'retry-after')) headers.push('retry-after', '1')
  // HTTP/2 has no Connection header (and refuses it); GOAWAY does that job there.
  if (close && res.req?.httpVersionMajor === 1) headers.push('connection', 'close')
  if (extra !== undefined) for (const h of extra) headers.push(h)
  res.writeHead(status, headers)
  res.end(body)
}

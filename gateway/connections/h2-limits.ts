// HTTP/2 limits shared by the h2c (plain) and h2 (TLS) listeners. Node's defaults allow 2³²−1
// concurrent streams per session: one client opening streams whose bodies never come grew the
// gateway by a gigabyte in seconds. With these, one session holds at most 100 streams and what
// nghttp2 buffers for it is bounded; a client that keeps pushing past them is refused per stream
// (RST_STREAM REFUSED_STREAM, or PROTOCOL_ERROR once it acknowledged our SETTINGS) and, after
// `maxSessionRejectedStreams` refusals, loses the session (GOAWAY ENHANCE_YOUR_CALM).
import type { ServerOptions } from 'node:http2'

/** SETTINGS sent to every client. */
export const H2_SETTINGS = Object.freeze({
  // nginx's http2_max_concurrent_streams and Envoy's common default.
  maxConcurrentStreams: 100,
  // The HTTP/1.1 listeners accept 16 KiB heads; HPACK counts 32 bytes more per field, hence 32 KiB.
  maxHeaderListSize: 32 * 1024,
  // Node's default per-stream window, stated: an unread request body never buffers more than
  // this per stream, 6.4 MB for a full session.
  initialWindowSize: 65_535,
})

/** Session options (everything but TLS) for http2.createServer and createSecureServer. */
export const H2_SESSION_OPTIONS = Object.freeze({
  settings: H2_SETTINGS,
  // MB nghttp2 may hold for one session (frames in and out, header tables, stream state); past
  // it new streams are refused with ENHANCE_YOUR_CALM while the running ones finish. Node's default.
  maxSessionMemory: 10,
  // header fields per request (Node's default 128, stated)
  maxHeaderListPairs: 128,
  // refusals (over the stream limit or the memory bound) before the session is torn down
  maxSessionRejectedStreams: 100,
} satisfies ServerOptions)

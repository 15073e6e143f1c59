// What a listener allows one client connection: how long it may take to send a request head, how
// long it may sit with nothing in flight, and how many connections the listener keeps at once.
// The control plane fills these from config-sluice (client-header-timeout, client-idle-timeout,
// max-connections); the gateway only sees the numbers.

export interface ConnectionLimits {
  /** from accept to the end of the first request head (HTTP/2: preface + first HEADERS), and for later heads */
  readonly headerTimeoutMs: number
  /** a connection (HTTP/1.1 keep-alive or HTTP/2 session) with nothing in flight is closed after this */
  readonly idleTimeoutMs: number
  /** per listener; one more closes the longest-idle connection */
  readonly maxConnections: number
}

// nginx's client_header_timeout is 60 s and Envoy's request_headers_timeout is off by default;
// 30 s is long for a head on any real network and short enough that 20,000 stalled sockets
// cannot pile up behind it. The idle timeout outlives load balancers' 60 s idle timers, so
// they close first.
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = Object.freeze({
  headerTimeoutMs: 30_000,
  idleTimeoutMs: 300_000,
  maxConnections: 20_000,
})

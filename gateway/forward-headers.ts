// Builds the upstream request's header list from the downstream request in one pass:
// hop-by-hop headers (and those named in Connection) are dropped, path/split headers
// overwrite, and Forwarded / X-Forwarded-* / x-request-id / traceparent are kept or created.
//
// Forwarding headers are believed only from a trusted proxy (config-sluice trusted-proxies):
// then Forwarded and X-Forwarded-For are appended to and X-Forwarded-Proto/-Host kept. From any
// other peer Sluice is the edge, and writes them itself from what it saw (the TCP peer, the Host
// it routed on, the listener's scheme): a client must not be able to tell a backend, or a cache
// in front of it, that it came from elsewhere or for another host (issue 10: one
// `X-Forwarded-Host: evil.example` poisoned the cache plugin's stored page for everyone).
// Between the two, trusted hops (config-sluice trusted-hops-count / use-remote-address, Envoy's
// xff_num_trusted_hops): from any peer, the last N entries of X-Forwarded-For and Forwarded are
// kept (those the N proxies in front of Sluice appended) and the ones left of them dropped, and
// X-Forwarded-Proto/-Host are kept (the nearest proxy wrote them).
import type { DownstreamRequest } from './downstream.ts'
import { randomFillSync, randomUUID } from 'node:crypto'
import type { TrustedProxies } from './trusted-proxies.ts'

// What each request header name needs; absent means "copy as is".
const DROP = 1, HOST = 2, FORWARDED = 3, XFF = 4, XFPROTO = 5, XFHOST = 6, REQUEST_ID = 7, TRACEPARENT = 8, TE = 9, PROXY_ONLY = 10, PROBE_HASH = 11
const SPECIAL = new Map<string, number>([
  ['connection', DROP], ['keep-alive', DROP], ['proxy-connection', DROP], ['transfer-encoding', DROP],
  ['trailer', DROP], ['upgrade', DROP], ['http2-settings', DROP], ['proxy-authorization', DROP],
  // Node answers `Expect: 100-continue` itself before the body is read; the upstream gets the body.
  ['expect', DROP],
  ['te', TE], ['host', HOST], ['forwarded', FORWARDED], ['x-forwarded-for', XFF], ['x-forwarded-proto', XFPROTO],
  ['x-forwarded-host', XFHOST], ['x-request-id', REQUEST_ID], ['traceparent', TRACEPARENT],
  ['k-network-hash', PROBE_HASH],
  // Other forwarding headers frameworks believe from "their" proxy (Spring, Express, Rails, nginx's
  // realip): Sluice does not write them, so only a trusted proxy's pass; a client's are dropped.
  ['x-forwarded-port', PROXY_ONLY], ['x-forwarded-prefix', PROXY_ONLY], ['x-forwarded-ssl', PROXY_ONLY],
  ['x-forwarded-scheme', PROXY_ONLY], ['x-real-ip', PROXY_ONLY],
])

/** Response headers that never cross a proxy. */
export const RESPONSE_HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'proxy-authenticate',
])
/** The same plus `server`, when Sluice writes its own (disable-server-header false, the default). */
export const RESPONSE_HOP_BY_HOP_AND_SERVER = new Set([...RESPONSE_HOP_BY_HOP, 'server'])

// W3C Trace Context: version ff is invalid, as are an all-zero trace id or parent id.
const TRACEPARENT_RE = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

// Random hex from a pooled buffer: one syscall per 256 ids instead of one per request.
const pool = Buffer.allocUnsafe(4096)
let poolOffset = pool.length
function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const s = pool.toString('hex', poolOffset, poolOffset + bytes)
  poolOffset += bytes
  return s
}

/** A version 4 UUID; node:crypto batches its entropy, which makes this cheaper than our own hex. */
export const newRequestId: () => string = randomUUID

export function newTraceparent(): string {
  return `00-${randomHex(16)}-${randomHex(8)}-01`
}

/**
 * The TCP peer of a request. h2c connections reach Node's http2 server through a replaying stream
 * (see plain-listener.ts) that Node wraps again; the address is on the inner stream.
 */
export function peerAddress(req: DownstreamRequest): string {
  const s = req.socket as DownstreamRequest['socket'] & { stream?: { remoteAddress?: string } }
  return s.remoteAddress ?? s.stream?.remoteAddress ?? ''
}

/** The client address as RFC 7239 wants it: IPv4 bare, IPv6 quoted in brackets. */
function forwardedFor(ip: string): string {
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7)
  return ip.includes(':') ? `"[${ip}]"` : ip
}
function clientIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
}

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
function forwardedValue(v: string): string {
  return TOKEN_RE.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`
}

function connectionTokens(value: string): Set<string> | null {
  let set: Set<string> | null = null
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase()
    if (t === '' || t === 'close' || t === 'keep-alive') continue
    ;(set ??= new Set()).add(t)
  }
  return set
}

/** What a route changes in the upstream request; a compiled Split is one. */
export interface UpstreamEdits {
  /** Host/authority sent upstream instead of the client's, or null */
  readonly rewriteHost: string | null
  /** flat [name, value…] (lower-case names) applied with overwrite semantics */
  readonly setHeaders: readonly string[]
  /** the names in setHeaders, for the skip test */
  readonly setNames: ReadonlySet<string>
  /**
   * The ingress's readiness hash. Knative's InsertProbe gives every path a copy that matches
   * `K-Network-Hash: override` and sets the hash instead: the same as rewriting that one value here.
   */
  readonly probeHash: string
}

export const NO_EDITS: UpstreamEdits = Object.freeze({ rewriteHost: null, setHeaders: Object.freeze([]), setNames: new Set<string>(), probeHash: '' })

/**
 * @param keepTe keep `te: trailers` (HTTP/2 upstreams, gRPC)
 * @param trust the table's trusted proxies (null: nobody, the default)
 */
export function upstreamHeaders(req: DownstreamRequest, scheme: string, edits: UpstreamEdits, keepTe: boolean, trust: TrustedProxies | null): string[] {
  const { rewriteHost, setHeaders, setNames } = edits
  const headers = req.headers
  const out: string[] = []
  const named = headers.connection !== undefined ? connectionTokens(headers.connection) : null
  const host = headers.host ?? (headers[':authority'] as string | undefined) ?? ''
  const ip = peerAddress(req)
  // One comparison when nobody is trusted (the default); otherwise one BlockList lookup.
  const trusted = trust !== null && trust.has(ip)
  const hops = trusted || trust === null ? 0 : trust.hops
  let forwarded = '', xff = '', xfproto = '', xfhost = '', requestId = '', traceparent = ''
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined) continue
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are not headers upstream.
    if (name.charCodeAt(0) === 58 || setNames.has(name) || (named !== null && named.has(name))) continue
    const kind = SPECIAL.get(name)
    if (kind === undefined || (kind === PROXY_ONLY && trusted)) {
      if (typeof value === 'string') out.push(name, value)
      else for (const v of value) out.push(name, v)
      continue
    }
    // From anyone but a trusted proxy, the client's forwarding headers are dropped unread.
    if (!trusted && (kind === PROXY_ONLY || (hops === 0 && kind >= FORWARDED && kind <= XFHOST))) continue
    const v = typeof value === 'string' ? value : value.join(', ')
    switch (kind) {
      case FORWARDED: forwarded = v; break
      case XFF: xff = v; break
      case XFPROTO: xfproto = v; break
      case XFHOST: xfhost = v; break
      case REQUEST_ID: requestId = v; break
      case TRACEPARENT: traceparent = v; break
      case TE: if (keepTe && v.trim().toLowerCase() === 'trailers') out.push('te', 'trailers'); break
      case PROBE_HASH: out.push('k-network-hash', v === 'override' && edits.probeHash !== '' ? edits.probeHash : v); break
      default: break // DROP, HOST (host is written below)
    }
  }
  if (hops > 0) {
    if (xff !== '') xff = lastEntries(xff, hops)
    if (forwarded !== '') forwarded = lastEntries(forwarded, hops)
  }
  const element = `for=${forwardedFor(ip)};host=${forwardedValue(host)};proto=${scheme}`
  if (setNames.size === 0) {
    out.push(
      'host', rewriteHost ?? host,
      'forwarded', forwarded === '' ? element : `${forwarded}, ${element}`,
      'x-forwarded-for', xff === '' ? clientIp(ip) : `${xff}, ${clientIp(ip)}`,
      'x-forwarded-proto', xfproto === '' ? scheme : xfproto,
      'x-forwarded-host', xfhost === '' ? host : xfhost,
      'x-request-id', requestId === '' ? newRequestId() : requestId,
      'traceparent', TRACEPARENT_RE.test(traceparent) ? traceparent : newTraceparent(),
    )
  } else {
    // Path or split headers overwrite even the ones the proxy would write itself.
    put(out, setNames, 'host', rewriteHost ?? host)
    put(out, setNames, 'forwarded', forwarded === '' ? element : `${forwarded}, ${element}`)
    put(out, setNames, 'x-forwarded-for', xff === '' ? clientIp(ip) : `${xff}, ${clientIp(ip)}`)
    put(out, setNames, 'x-forwarded-proto', xfproto === '' ? scheme : xfproto)
    put(out, setNames, 'x-forwarded-host', xfhost === '' ? host : xfhost)
    put(out, setNames, 'x-request-id', requestId === '' ? newRequestId() : requestId)
    put(out, setNames, 'traceparent', TRACEPARENT_RE.test(traceparent) ? traceparent : newTraceparent())
  }
  for (let i = 0; i < setHeaders.length; i++) out.push(setHeaders[i])
  return out
}

/**
 * The last `n` comma-separated entries of a list header. Commas inside quoted strings (Forwarded's
 * `host="a,b"`) do not separate; quotes are balanced by the scan, backslash escapes honoured.
 */
export function lastEntries(v: string, n: number): string {
  if (v.indexOf(',') === -1) return v.trim()
  const commas: number[] = []
  let quoted = false
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === 92 /* \\ */ && quoted) i++
    else if (c === 34 /* " */) quoted = !quoted
    else if (c === 44 /* , */ && !quoted) commas.push(i)
  }
  return commas.length < n ? v.trim() : v.slice(commas[commas.length - n]! + 1).trim()
}

function put(out: string[], setNames: ReadonlySet<string>, name: string, value: string): void {
  if (!setNames.has(name)) out.push(name, value)
}

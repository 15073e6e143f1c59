// The routing decision, made in one place for every way a request arrives: plain and TLS
// requests, HTTP/1.1 and HTTP/2, WebSocket upgrades, and parked connections (both when they park
// and when Node's parse of them resumes). It answers "refuse with this status" or "this host's
// path"; callers act on that answer (plugins, split pick, throttler) and never decide again.
// Before this file there were four copies, and they drifted: upgrades skipped the duplicate-Host
// check and absolute-form targets went upstream raw.
import type { IncomingHttpHeaders } from 'node:http'
import type { HostTable, PathRoute, UnavailableHost, VirtualHost } from './route-table.ts'
import { findHost, findPath } from './match.ts'

/** What routing reads of a request: IncomingMessage, Http2ServerRequest and a parked head all have it. */
export interface RoutableRequest {
  readonly method?: string
  readonly url?: string
  readonly headers: IncomingHttpHeaders
  /** for the duplicate-Host check; a parked head has already refused duplicates */
  readonly rawHeaders: readonly string[]
  readonly httpVersionMajor: number
}

/** Refuse the request with `status` (the decision's `body`, and `location` for 301). */
export const REFUSE = 0
/** Serve it from `vh`/`path`; `url` is the origin-form target to send upstream. */
export const ROUTED = 1

/**
 * The answer of `decide`, refilled by every call: routing is synchronous and its answer is read at
 * once, so one object per gateway serves every request without allocating.
 */
export class RoutingDecision {
  status = 0
  body = ''
  /** the 301's target */
  location = ''
  /** the refusal is a routing miss (counted as unmatched) rather than a bad request */
  miss = false
  /** the 503 of a declared host that cannot be served yet (its reason is `body`); keeps the connection */
  unavailable: UnavailableHost | null = null
  vh: VirtualHost | null = null
  path: PathRoute | null = null
  /** origin-form path and query */
  url = '/'
  /** the authority the request was routed by */
  host = ''
}

/**
 * Route `req` on `hosts`. The checks come in the order a request's parts are read: version,
 * target, Host, then the table. Sets every field of `d` that the answer uses.
 */
export function decide(d: RoutingDecision, hosts: HostTable, req: RoutableRequest, internal: boolean, scheme: 'http' | 'https'): number {
  d.miss = false
  d.unavailable = null
  d.vh = null
  d.path = null
  const headers = req.headers
  const h2 = headers[':method'] !== undefined
  // llhttp accepts HTTP/0.9 and HTTP/2.0 request lines on an HTTP/1 connection; neither is
  // HTTP/1.x framing (RFC 9112 §2.3), and HTTP/2 only comes with its preface.
  if (!h2 && req.httpVersionMajor !== 1) return refuse(d, 505, 'HTTP version not supported: use HTTP/1.1 or HTTP/2\n')
  let url = req.url ?? '/'
  let host: string
  if (h2) {
    const authority = headers[':authority']
    const hostHeader = headers.host
    // RFC 9113 §8.3.1: a Host that differs from :authority makes the request malformed.
    if (authority !== undefined && hostHeader !== undefined && hostHeader !== authority) return refuse(d, 400, ':authority and Host differ\n')
    host = (authority as string | undefined) ?? hostHeader ?? ''
  } else {
    // RFC 9112 §3.2: more than one Host is a bad request (proxies before us may have used either).
    if (duplicateHost(req.rawHeaders)) return refuse(d, 400, 'more than one Host header\n')
    host = headers.host ?? ''
  }
  if (url.charCodeAt(0) !== 0x2f /* '/' */) {
    // RFC 9112 §3.2.2: an absolute-form target (as sent to proxies) is routed by its authority,
    // which replaces Host; only the origin-form path goes upstream. Anything else (`*`,
    // authority-form, junk) is refused.
    const m = ABSOLUTE_FORM.exec(url)
    if (m === null) return refuse(d, 400, `bad request target ${JSON.stringify(url)}\n`)
    host = m[1]!
    headers.host = host
    const rest = m[2]!
    url = rest === '' ? '/' : rest.charCodeAt(0) === 0x2f ? rest : '/' + rest
  }
  d.url = url
  d.host = host
  const vh = findHost(hosts, host)
  if (vh === null) {
    // Declared but not ready (starting, failed, nothing to run): 503 with why, not 404.
    const down = hosts.unavailable === undefined ? undefined : findUnavailable(hosts.unavailable, host)
    if (down !== undefined) {
      d.unavailable = down
      return refuse(d, 503, down.body)
    }
    return miss(d, 404, `no route for host ${JSON.stringify(host)}\n`)
  }
  if (!internal && vh.redirectHttps && scheme === 'http') {
    d.location = `https://${host.replace(/:\d+$/, '')}${url}`
    return miss(d, 301, '')
  }
  // TRACE reflects the request back, credentials included (cross-site tracing): only routes
  // that ask for it get it.
  if (req.method === 'TRACE' && !vh.allowTrace) return refuse(d, 405, 'TRACE is not allowed on this route\n')
  const path = findPath(vh, url, headers)
  if (path === null) return miss(d, 404, `no route for ${JSON.stringify(host)} path ${JSON.stringify(url.split('?')[0])}\n`)
  d.vh = vh
  d.path = path
  return ROUTED
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#@\s]+)([^#\s]*)$/i

function refuse(d: RoutingDecision, status: number, body: string): number {
  d.status = status
  d.body = body
  return REFUSE
}

function miss(d: RoutingDecision, status: number, body: string): number {
  refuse(d, status, body)
  d.miss = true
  return REFUSE
}

/** `host` or `host:port` (any port, as findHost falls back) in the table's unavailable hosts. */
function findUnavailable(table: ReadonlyMap<string, UnavailableHost>, rawHost: string): UnavailableHost | undefined {
  if (table.size === 0) return undefined
  const host = rawHost.toLowerCase()
  const found = table.get(host)
  if (found !== undefined) return found
  const colon = host.lastIndexOf(':')
  return colon > 0 && host.indexOf(']') < colon ? table.get(host.slice(0, colon)) : undefined
}

function duplicateHost(raw: readonly string[]): boolean {
  let seen = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (seen) return true
      seen = true
    }
  }
  return false
}

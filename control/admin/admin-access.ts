// Who may use the admin API. A page in a local browser can reach 127.0.0.1:9090 through DNS
// rebinding (its own name, re-pointed at 127.0.0.1), so the Host header must be an IP literal,
// `localhost`, or a name the operator listed (--admin-allowed-host); anything else is 421
// Misdirected Request. With SLUICE_ADMIN_TOKEN set, every request also needs
// `Authorization: Bearer <token>`, except the probes (/healthz, /readyz: kubelet probes carry no
// token) and /metrics when --admin-metrics-public says so.
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP, isIPv6 } from 'node:net'

export interface AdminAccessOptions {
  /** extra names accepted in Host, besides IP literals and localhost */
  allowedHosts?: readonly string[]
  /** the bearer token every non-probe request needs; undefined for none */
  token?: string
  /** serve /metrics without the token */
  metricsPublic?: boolean
}

// `[v6]` or a name/IPv4, then an optional port; nothing else (no userinfo, path or spaces)
const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/@?#\\]+))(?::\d{1,5})?$/

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

export class AdminAccess {
  readonly #names: ReadonlySet<string>
  readonly #token: Buffer | null
  readonly #metricsPublic: boolean

  constructor(opts: AdminAccessOptions = {}) {
    this.#names = new Set(['localhost', ...(opts.allowedHosts ?? []).map(normalName)])
    // Compared as digests: equal lengths for timingSafeEqual, and nothing about the token's length leaks.
    this.#token = opts.token === undefined ? null : digest(opts.token)
    this.#metricsPublic = opts.metricsPublic ?? false
  }

  get tokenRequired(): boolean {
    return this.#token !== null
  }

  /** Is this Host header one of ours? An absent one (HTTP/1.0) cannot come from a rebinding page. */
  hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return true
    const m = HOST.exec(host)
    if (m === null) return false
    if (m[1] !== undefined) return isIPv6(m[1])
    const name = normalName(m[2]!)
    return isIP(name) !== 0 || this.#names.has(name)
  }

  /** Does this path need the token (when one is set)? */
  needsToken(path: string): boolean {
    if (this.#token === null || path === '/healthz' || path === '/readyz') return false
    return !(path === '/metrics' && this.#metricsPublic)
  }

  /** Does this Authorization header carry the token? (Constant time in the token.) */
  authorized(header: string | undefined): boolean {
    if (this.#token === null) return true
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')
    return m !== null && timingSafeEqual(digest(m[1]!), this.#token)
  }
}

/** lower case, without a trailing dot (`LocalHost.` is `localhost`) */
function normalName(name: string): string {
  const lower = name.toLowerCase()
  return lower.endsWith('.') ? lower.slice(0, -1) : lower
}

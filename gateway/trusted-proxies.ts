// The peers whose forwarding headers (Forwarded, X-Forwarded-For/-Proto/-Host) Sluice believes:
// config-sluice `trusted-proxies`, compiled once per configuration into a node:net BlockList (the
// matcher Node maintains; IPv4-mapped IPv6 peers match IPv4 ranges). Everyone else is the edge:
// whatever such a client writes in those headers is overwritten, as Envoy does with
// `use_remote_address` and no trusted hops (Kourier's default).
import { BlockList, isIP } from 'node:net'

/** peers remembered per table (a table lives until the next reload) */
const MEMO = 4096

export interface Cidr {
  readonly address: string
  readonly prefix: number
  readonly family: 'ipv4' | 'ipv6'
}

/**
 * "10.0.0.0/8", "2001:db8::/32", or a single address (a /32 or /128); an error text when it is
 * none of these. Zone ids ("fe80::1%eth0") are refused: a peer address never carries one.
 */
export function parseCidr(s: string): Cidr | string {
  const slash = s.indexOf('/')
  const address = slash === -1 ? s : s.slice(0, slash)
  const v = address.includes('%') ? 0 : isIP(address)
  if (v === 0) return `${JSON.stringify(s)} is not an IP address or CIDR range (such as 10.0.0.0/8 or 2001:db8::/32)`
  const max = v === 4 ? 32 : 128
  if (slash === -1) return { address, prefix: max, family: v === 4 ? 'ipv4' : 'ipv6' }
  const p = s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return `${JSON.stringify(s)} has an invalid prefix length: it must be 0 to ${max}`
  return { address, prefix: Number(p), family: v === 4 ? 'ipv4' : 'ipv6' }
}

export class TrustedProxies {
  /** the ranges as configured, for /debug output */
  readonly ranges: readonly string[]
  /**
   * From a peer outside the ranges: how many X-Forwarded-For entries, counted from the right, are
   * believed (config-sluice trusted-hops-count, plus one when use-remote-address is false). 0: none.
   */
  readonly hops: number
  readonly #list = new BlockList()
  readonly #seen = new Map<string, boolean>()

  /** @throws on a range parseCidr refuses (settings have reported those already) */
  constructor(ranges: readonly string[], hops = 0) {
    this.ranges = Object.freeze([...ranges])
    this.hops = hops
    for (const s of ranges) {
      const c = parseCidr(s)
      if (typeof c === 'string') throw new Error(`trusted-proxies: ${c}`)
      this.#list.addSubnet(c.address, c.prefix, c.family)
    }
    Object.freeze(this)
  }

  /**
   * Whether a TCP peer address (as Node reports it: always a valid IP) is a trusted proxy. A
   * BlockList lookup parses the address in C++ (~1 µs); the answers are memoized per address, and
   * the memo is bounded (cleared when full) so that a client spraying addresses costs only lookups.
   */
  has(peer: string): boolean {
    if (this.ranges.length === 0) return false
    let v = this.#seen.get(peer)
    if (v === undefined) {
      v = this.#list.check(peer, peer.includes(':') ? 'ipv6' : 'ipv4')
      if (this.#seen.size >= MEMO) this.#seen.clear()
      this.#seen.set(peer, v)
    }
    return v
  }
}

/** null for an empty list and no hops: "trust nobody" then costs one comparison per request. */
export function trustedProxies(ranges: readonly string[], hops = 0): TrustedProxies | null {
  return ranges.length === 0 && hops === 0 ? null : new TrustedProxies(ranges, hops)
}

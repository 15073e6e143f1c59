// Allow and deny lists of CIDR ranges (IPv4 and IPv6) on the client address: the TCP peer, or an
// X-Forwarded-For entry when proxies in front are trusted (trustedHops, and the peer listed in
// config-sluice trusted-proxies: see client-address.ts). Deny wins; with an allow list, only
// listed addresses pass. An address that cannot be read is refused (fail closed).
import { BlockList, isIP } from 'node:net'
import { clientAddress } from './client-address.ts'
import { definePlugin } from '../api.ts'
import type { ConfigIssue, LocalResponse, RequestContext } from '../api.ts'
import { array, number, object, string, validator } from '../schema.ts'
import type { Field } from '../schema.ts'

interface Range { address: string; prefix: number; type: 'ipv4' | 'ipv6' }

/** "10.0.0.0/8", "2001:db8::/32", or a single address (a /32 or /128) */
function parseCidr(s: string): Range | undefined {
  const slash = s.indexOf('/')
  const address = slash === -1 ? s : s.slice(0, slash)
  const v = isIP(address)
  if (v === 0 || address.includes('%')) return undefined
  const max = v === 4 ? 32 : 128
  const p = slash === -1 ? String(max) : s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined
  return { address, prefix: Number(p), type: v === 4 ? 'ipv4' : 'ipv6' }
}

function cidr(): Field<string> {
  const base = string()
  return {
    description: 'a CIDR range',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      if (typeof raw === 'string' && parseCidr(s) === undefined) issues.push({ path, message: `${JSON.stringify(s)} is not a CIDR range` })
      return s
    },
  }
}

const schema = object({
  allow: array(cidr(), { default: [] }),
  deny: array(cidr(), { default: [] }),
  /** how many proxies in front of Sluice append to X-Forwarded-For (0: use the TCP peer); needs config-sluice trusted-proxies */
  trustedHops: number({ integer: true, min: 0, max: 32, default: 0 }),
})

export type IpFilterConfig = ReturnType<typeof schema.parse>

function check(c: IpFilterConfig, issues: ConfigIssue[]): void {
  if (c.allow.length === 0 && c.deny.length === 0) issues.push({ path: 'allow', message: 'allow and deny are both empty: list at least one range' })
}

function blockList(ranges: readonly string[]): BlockList {
  const b = new BlockList()
  for (const s of ranges) {
    const r = parseCidr(s) as Range
    b.addSubnet(r.address, r.prefix, r.type)
  }
  return b
}


export default definePlugin<IpFilterConfig>({
  name: 'ip-filter',
  priority: 1990,
  validate: validator(schema, check),
  create(c) {
    const allow = c.allow.length > 0 ? blockList(c.allow) : undefined
    const deny = blockList(c.deny)
    const hops = c.trustedHops
    const refuse = (): LocalResponse => ({ status: 403, headers: { 'content-type': 'text/plain' }, body: 'Forbidden\n' })
    return {
      onRequest(ctx) {
        const a = clientAddress(ctx, hops)
        const v = isIP(a)
        if (v === 0) return refuse()
        // BlockList matches IPv4-mapped IPv6 ("::ffff:10.0.0.1") against IPv4 ranges itself
        const type = v === 4 ? 'ipv4' : 'ipv6'
        if (deny.check(a, type)) return refuse()
        if (allow !== undefined && !allow.check(a, type)) return refuse()
      },
    }
  },
})

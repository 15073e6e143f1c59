// The client address plugins key on (ip-filter, rate-limit), honouring trusted proxy hops.
//
// Read from the X-Forwarded-For Sluice wrote for the upstream (ctx.requestHeaders), never from the
// client's own header: Sluice keeps a client's entries only when the TCP peer is in config-sluice
// `trusted-proxies` (gateway/forward-headers.ts), so from any other peer the list is just that
// peer, and no number of hops lets a client name someone else's address.
import type { RequestContext } from '../api.ts'

/**
 * The client address: the TCP peer, or the entry `hops` places left of the peer in X-Forwarded-For
 * (the leftmost when the list is shorter). The peer is the last entry, the one Sluice appended.
 */
export function clientAddress(ctx: RequestContext, hops: number): string {
  if (hops === 0) return ctx.remoteAddress
  const xff = ctx.requestHeaders.get('x-forwarded-for')
  if (xff === undefined || xff === '') return ctx.remoteAddress
  let end = xff.length
  for (let n = 0; ; n++) {
    const comma = end === 0 ? -1 : xff.lastIndexOf(',', end - 1)
    if (n === hops || comma === -1) {
      const a = stripPort(xff.slice(comma + 1, end).trim())
      return a === '' ? ctx.remoteAddress : a
    }
    end = comma
  }
}

/** some proxies write "1.2.3.4:5678" or "[2001:db8::1]:443" */
function stripPort(a: string): string {
  if (a.startsWith('[')) {
    const close = a.indexOf(']')
    return close === -1 ? a : a.slice(1, close)
  }
  const colon = a.indexOf(':')
  return colon !== -1 && colon === a.lastIndexOf(':') ? a.slice(0, colon) : a
}

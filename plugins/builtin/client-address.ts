// The client address plugins key on (ip-filter, rate-limit), honouring trusted proxy hops.
import type { RequestContext } from '../api.ts'

/**
 * The client address: the TCP peer, or the entry `hops` places from the right of
 * X-Forwarded-For (the leftmost when the list is shorter; the peer when there is none).
 */
export function clientAddress(ctx: RequestContext, hops: number): string {
  if (hops === 0) return ctx.remoteAddress
  const xff = ctx.req.headers['x-forwarded-for']
  if (typeof xff !== 'string' || xff === '') return ctx.remoteAddress
  let end = xff.length
  for (let n = 1; ; n++) {
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

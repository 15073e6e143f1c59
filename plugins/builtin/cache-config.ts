// The cache plugin's config: sizes take bytes or a suffixed string ("64Mi", "512KB").
import type { ConfigIssue } from '../api.ts'
import type { Field } from '../schema.ts'
import { array, boolean, duration, number, object, string } from '../schema.ts'

const UNITS: Record<string, number> = { '': 1, k: 1e3, kb: 1e3, ki: 1024, kib: 1024, m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2, g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3 }

/** A size in bytes: a whole number, or a string such as "64Mi", "10MB", "512k". */
export function bytes(opts: { default: number; min?: number }): Field<number> {
  const description = 'a size such as 1048576, "512Ki", "64Mi" or "1G"'
  return {
    description,
    parse(raw, path, issues) {
      if (raw === undefined || raw === null) return opts.default
      let n: number | undefined
      if (typeof raw === 'number' && Number.isInteger(raw)) n = raw
      else if (typeof raw === 'string') {
        const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw)
        const unit = m === null ? undefined : UNITS[m[2].toLowerCase()]
        if (m !== null && unit !== undefined) n = Math.floor(Number(m[1]) * unit)
      }
      if (n === undefined || n < (opts.min ?? 0)) {
        issues.push({ path, message: `must be ${description}${opts.min !== undefined ? ` (at least ${opts.min})` : ''}, got ${JSON.stringify(raw)}` })
        return opts.default
      }
      return n
    },
  }
}

export const cacheSchema = object({
  /** bytes of bodies and headers kept per route (least recently used go first) */
  maxSize: bytes({ default: 32 * 1024 * 1024, min: 1024 }),
  /** larger responses are passed through, not stored */
  maxEntrySize: bytes({ default: 1024 * 1024, min: 1 }),
  /** statuses that may be stored (RFC 9110's heuristically cacheable ones that make sense here) */
  statuses: array(number({ integer: true, min: 200, max: 599 }), { default: [200, 203, 204, 301, 404, 410] }),
  /** cap on freshness, whatever the response says; 0 = no cap */
  maxTtl: duration({ default: 0 }),
  /** store responses that set cookies (the stored copy drops Set-Cookie, so no one gets another's cookie) */
  cacheSetCookie: boolean({ default: false }),
  /** a request's no-cache / max-age=0 skips the stored copy (and refreshes it) */
  honorRequestNoCache: boolean({ default: true }),
  /** response header telling HIT, MISS or BYPASS; '' for none */
  statusHeader: string({ default: 'x-cache' }),
})

export type CacheConfig = ReturnType<typeof cacheSchema.parse>

export function checkCache(c: CacheConfig, issues: ConfigIssue[]): void {
  if (c.maxEntrySize > c.maxSize) issues.push({ path: 'maxEntrySize', message: `must not exceed maxSize (${c.maxSize} bytes)` })
  if (c.statusHeader !== '' && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(c.statusHeader)) issues.push({ path: 'statusHeader', message: `${JSON.stringify(c.statusHeader)} is not a valid header name` })
  c.statuses.forEach((s, i) => {
    if (s === 206 || s === 304) issues.push({ path: `statuses[${i}]`, message: `${s} responses cannot be stored` })
  })
}

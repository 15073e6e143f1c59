// The RFC 9111 subset the cache plugin follows: Cache-Control parsing, whether a response may be
// stored by a shared cache, and for how long. No heuristic freshness: a response is stored only
// when it says how long it stays fresh.
import type { Headers } from '../api.ts'

export interface CacheControl {
  noStore: boolean
  noCache: boolean
  private: boolean
  public: boolean
  mustRevalidate: boolean
  onlyIfCached: boolean
  /** seconds; -1 when absent */
  maxAge: number
  sMaxAge: number
}

/** Directives of every Cache-Control line, names case-insensitive, unknown ones ignored. */
export function parseCacheControl(lines: readonly string[]): CacheControl {
  const cc: CacheControl = { noStore: false, noCache: false, private: false, public: false, mustRevalidate: false, onlyIfCached: false, maxAge: -1, sMaxAge: -1 }
  for (const line of lines) {
    for (const part of line.split(',')) {
      const eq = part.indexOf('=')
      const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
      switch (name) {
        case 'no-store': cc.noStore = true; break
        // no-cache="field" only restricts fields; treating it as plain no-cache is the safe side
        case 'no-cache': cc.noCache = true; break
        case 'private': cc.private = true; break
        case 'public': cc.public = true; break
        case 'must-revalidate': cc.mustRevalidate = true; break
        case 'only-if-cached': cc.onlyIfCached = true; break
        case 'max-age': cc.maxAge = seconds(part, eq); break
        case 's-maxage': cc.sMaxAge = seconds(part, eq); break
      }
    }
  }
  return cc
}

// RFC 9111 §1.2.2: delta-seconds; a malformed value counts as 0 (stale), never as absent
function seconds(part: string, eq: number): number {
  if (eq === -1) return 0
  const v = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1')
  return /^\d+$/.test(v) ? Math.min(Number(v), 2_147_483_648) : 0
}

/**
 * Seconds the response stays fresh from the moment it was generated (s-maxage, then max-age, then
 * Expires − Date), or -1 when it says nothing. An unparseable Expires means already expired.
 */
export function freshnessLifetime(cc: CacheControl, headers: Headers, now: number): number {
  if (cc.sMaxAge !== -1) return cc.sMaxAge
  if (cc.maxAge !== -1) return cc.maxAge
  const expires = headers.get('expires')
  if (expires === undefined) return -1
  const exp = Date.parse(expires)
  if (Number.isNaN(exp)) return 0
  const date = Date.parse(headers.get('date') ?? '')
  return Math.max(0, Math.floor((exp - (Number.isNaN(date) ? now : date)) / 1000))
}

/** The Age a response arrived with (RFC 9111 §5.1), 0 when absent or malformed. */
export function initialAge(headers: Headers): number {
  const v = headers.get('age')
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : 0
}

/** Lower-cased, sorted, de-duplicated names of every Vary line; ['*'] when any is `*`. */
export function varyNames(lines: readonly string[]): string[] {
  const names = new Set<string>()
  for (const line of lines) {
    for (const part of line.split(',')) {
      const n = part.trim().toLowerCase()
      if (n === '*') return ['*']
      if (n !== '') names.add(n)
    }
  }
  return [...names].sort()
}

/** Headers never stored: they describe one connection or one delivery, or the cache sets them. */
export const UNSTORED: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'transfer-encoding',
  'te', 'trailer', 'upgrade', 'content-length', 'age', 'set-cookie',
])

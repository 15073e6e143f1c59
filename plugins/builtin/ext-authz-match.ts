// Header-name lists for ext-authz: exact names, `prefix-*` patterns, or `*` for all, compiled once.

/** Headers that describe one connection or one message's framing; never copied between messages. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'transfer-encoding', 'te', 'trailer',
  'upgrade', 'host', 'content-length', 'expect', 'http2-settings',
])

export const HEADER_PATTERN = /^(\*|[!#$%&'+.^_`|~0-9A-Za-z-]+\*?)$/

export interface HeaderMatcher {
  (name: string): boolean
}

/** @param patterns lower-cased here; `x-forwarded-*` matches by prefix, `*` matches every name */
export function headerMatcher(patterns: readonly string[]): HeaderMatcher {
  const exact = new Set<string>()
  const prefixes: string[] = []
  let all = false
  for (const p of patterns) {
    const l = p.toLowerCase()
    if (l === '*') all = true
    else if (l.endsWith('*')) prefixes.push(l.slice(0, -1))
    else exact.add(l)
  }
  if (all) return (name) => !HOP_BY_HOP.has(name)
  if (prefixes.length === 0) return (name) => exact.has(name) && !HOP_BY_HOP.has(name)
  return (name) => {
    if (HOP_BY_HOP.has(name)) return false
    if (exact.has(name)) return true
    for (const p of prefixes) if (name.startsWith(p)) return true
    return false
  }
}

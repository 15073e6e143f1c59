// Request matching against a compiled table: a Map lookup for the host, a short scan of the
// host's paths (already ordered longest prefix first), and a weighted pick among splits.
import type { IncomingHttpHeaders } from 'node:http'
import type { HostTable, PathRoute, Split, VirtualHost } from './route-table.ts'

export function findHost(table: HostTable, rawHost: string): VirtualHost | null {
  const host = rawHost.toLowerCase()
  let vh = table.exact.get(host)
  if (vh !== undefined) return vh
  // `host:port` falls back to `host`, as Envoy's `host:*` domains do.
  const colon = host.lastIndexOf(':')
  const bare = colon > 0 && host.indexOf(']') < colon ? host.slice(0, colon) : host
  if (bare !== host) {
    vh = table.exact.get(bare)
    if (vh !== undefined) return vh
  }
  for (let i = 0; i < table.suffixes.length; i++) {
    const [suffix, v] = table.suffixes[i]
    if (bare.endsWith(suffix) && bare.length > suffix.length) return v
  }
  return table.any
}

export function findPath(vh: VirtualHost, url: string, headers: IncomingHttpHeaders): PathRoute | null {
  const paths = vh.paths
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]
    if (p.prefix.length > 1 && !url.startsWith(p.prefix)) continue
    const names = p.matchNames
    let ok = true
    for (let h = 0; h < names.length; h++) {
      const got = headers[names[h]]
      const want = p.matchValues[h]
      if (got === undefined || (want !== '' && got !== want)) { ok = false; break }
    }
    if (ok) return p
  }
  return null
}

export function pickSplit(p: PathRoute): Split | null {
  const splits = p.splits
  if (splits.length === 1) return splits[0]
  if (splits.length === 0) return null
  const r = Math.random() * p.total
  for (let i = 0; i < splits.length - 1; i++) if (r < splits[i].upTo) return splits[i]
  return splits[splits.length - 1]
}

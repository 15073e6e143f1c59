// A JSON view of the active route table for /debug/routes.
import type { HostTable, RouteTable, VirtualHost } from './route-table.ts'

function describeHost(host: string, vh: VirtualHost): object {
  return {
    host,
    owner: vh.owner,
    redirectHttps: vh.redirectHttps || undefined,
    paths: vh.paths.map((p) => ({
      prefix: p.prefix,
      headers: p.matchNames.length === 0 ? undefined : Object.fromEntries(p.matchNames.map((n, i) => [n, p.matchValues[i] === '' ? '(present)' : p.matchValues[i]])),
      splits: p.splits.map((s, i) => ({
        percent: s.upTo - (i === 0 ? 0 : p.splits[i - 1].upTo),
        backend: s.backend.key,
        revision: s.backend.revision,
        origins: s.backend.origins,
        protocol: s.backend.protocol,
        setHeaders: s.setHeaders.length === 0 ? undefined : Object.fromEntries(pairs(s.setHeaders)),
        rewriteHost: s.rewriteHost ?? undefined,
        timeouts: { totalMs: s.backend.totalMs, responseStartMs: s.backend.responseStartMs, idleMs: s.backend.idleMs },
      })),
    })),
  }
}

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]])
  return out
}

function describeHosts(t: HostTable): object[] {
  const out: object[] = []
  for (const [h, vh] of [...t.exact].sort((a, b) => a[0].localeCompare(b[0]))) out.push(describeHost(h, vh))
  for (const [s, vh] of t.suffixes) out.push(describeHost('*' + s, vh))
  if (t.any !== null) out.push(describeHost('*', t.any))
  for (const [host, u] of [...(t.unavailable ?? [])].sort((a, b) => a[0].localeCompare(b[0]))) {
    out.push({ host, owner: u.route, unavailable: { status: 503, reason: u.reason, message: u.body.trimEnd() } })
  }
  return out
}

export function describeTable(table: RouteTable): object {
  return { version: table.version, routeCount: table.routeCount, external: describeHosts(table.external), internal: describeHosts(table.internal) }
}

// Routing model → frozen RouteTable. All per-request decisions that depend only on config are
// made here: host maps, path order, cumulative split weights, merged header edits, metric slots.
import type { RoutingModel, RoutingPath, BackendSpec, RoutingIngress } from '../model.ts'
import type { PluginEntry } from '../../gateway/plugins/chain.ts'
import { buildChain } from '../../gateway/plugins/chain.ts'
import type { Backend, HostTable, PathRoute, RouteTable, Split, UnavailableHost, VirtualHost } from '../../gateway/route-table.ts'
import type { RouteSlot, SlotTarget } from '../../gateway/metrics/route-slots.ts'
import { trustedProxies } from '../../gateway/trusted-proxies.ts'
import { upstreamTls, upstreamTrust, type UpstreamTls } from '../../gateway/upstream-tls.ts'
import type { AccessLog } from '../../gateway/access-log.ts'
import { DEFAULT_RESILIENCE, merge, sameResilience, type Resilience } from '../settings/outlier-keys.ts'
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../gateway/activator/retry-budget.ts'

export interface SlotProvider {
  /** `target` is the split's Backend (its revision, Service and Configuration label the metrics), null for the route's own answers */
  slot(namespace: string, route: string, target: SlotTarget | null): RouteSlot
}

/** The plugin entries of an ingress's routes, in priority order (instances made once per route). */
export type PluginProvider = (ing: RoutingIngress) => readonly PluginEntry[]

function compileBackend(spec: BackendSpec, tls: UpstreamTls | null, streamIdleMs: number, resilience: Resilience): Backend {
  const t = spec.timeouts
  // config-sluice outlier-*/breaker-*/retry-budget-* with the revision's annotations on top, once per table
  const r = merge(resilience, spec.resilience)
  // config-sluice stream-idle-timeout bounds every revision's idle timeout: the shorter one wins.
  const idleMs = t.idleMs > 0 && streamIdleMs > 0 ? Math.min(t.idleMs, streamIdleMs) : Math.max(t.idleMs, streamIdleMs)
  const firsts = [t.totalMs, t.responseStartMs, idleMs].filter((v) => v > 0)
  return {
    key: spec.key,
    namespace: spec.namespace,
    revision: spec.revision,
    service: spec.service,
    configuration: spec.configuration ?? '',
    protocol: spec.protocol,
    origins: Object.freeze([...spec.origins]),
    totalMs: t.totalMs,
    responseStartMs: t.responseStartMs,
    idleMs,
    firstByteMs: firsts.length === 0 ? 0 : Math.min(...firsts),
    containerConcurrency: spec.containerConcurrency,
    managed: spec.managed,
    unavailable: spec.unavailable === undefined ? null : `${spec.unavailable}\n`,
    tls,
    outlier: r.outlier,
    breaker: r.breaker,
    retryBudget: r.retry,
    throttler: null,
  }
}

function headerList(path: Readonly<Record<string, string>>, split: Readonly<Record<string, string>>): string[] {
  const merged = new Map<string, string>()
  for (const [k, v] of Object.entries(path)) merged.set(k.toLowerCase(), v)
  for (const [k, v] of Object.entries(split)) merged.set(k.toLowerCase(), v)
  return [...merged].flat()
}

/** What the table takes from settings rather than from the routing model. */
export interface EdgeOptions {
  /** config-sluice trusted-proxies, already checked by readSettings; default none */
  readonly trustedProxies?: readonly string[]
  /** system-internal-tls trust chain (PEM, control/tls/internal-trust.ts); needed when a backend has upstreamTls */
  readonly internalTrust?: string
  /** X-Forwarded-For entries believed from any peer (trusted-hops-count, +1 without use-remote-address) */
  readonly trustedHops?: number
  /** config-sluice stream-idle-timeout in ms; 0 = off */
  readonly streamIdleMs?: number
  /** the `server` response header Sluice writes, or null to pass the upstream's through */
  readonly serverHeader?: string | null
  /** the global access log, or null */
  readonly accessLog?: AccessLog | null
  /** config-sluice outlier-* and breaker-*: what revisions without annotations get */
  readonly resilience?: Resilience
}

/**
 * What compile keeps between tables, so that a table after one changed ingress costs that ingress:
 * the compiled Backend of an unchanged BackendSpec (same object, TLS and idle bound), and the
 * VirtualHosts of an unchanged RoutingIngress (same object, same compiled backends, plugin entries
 * and slots). The table itself is new and frozen each time. Bounded: backends not in the last table
 * are dropped; ingress entries are weak.
 */
interface BackendEntry { readonly spec: BackendSpec; readonly tls: UpstreamTls | null; readonly streamIdleMs: number; readonly resilience: Resilience; readonly backend: Backend }

export class CompileCache {
  #backends = new Map<string, BackendEntry>()
  readonly ingresses = new WeakMap<RoutingIngress, { slots: SlotProvider; backends: readonly Backend[]; entries: readonly PluginEntry[] | null; vhosts: readonly VirtualHost[] }>()
  /** ingresses whose hosts were reused / built by the last compile (tests, debugging) */
  stats = { hits: 0, misses: 0 }

  backend(spec: BackendSpec, tls: UpstreamTls | null, streamIdleMs: number, resilience: Resilience, next: Map<string, BackendEntry>): Backend {
    const m = this.#backends.get(spec.key)
    const e = m !== undefined && m.spec === spec && m.tls === tls && m.streamIdleMs === streamIdleMs && sameResilience(m.resilience, resilience)
      ? m : { spec, tls, streamIdleMs, resilience, backend: compileBackend(spec, tls, streamIdleMs, resilience) }
    next.set(spec.key, e)
    return e.backend
  }

  commitBackends(next: Map<string, BackendEntry>): void {
    this.#backends = next
  }
}

export function compile(model: RoutingModel, slots: SlotProvider, version: number, plugins?: PluginProvider, edge: EdgeOptions = {}, cache?: CompileCache): RouteTable {
  const backends = new Map<string, Backend>()
  // One SecureContext for the table, one TLS setting per namespace and protocol.
  const trust = edge.internalTrust === undefined ? null : upstreamTrust(edge.internalTrust)
  const tlsBy = new Map<string, UpstreamTls>()
  const tlsFor = (spec: BackendSpec): UpstreamTls | null => {
    if (spec.upstreamTls !== true) return null
    if (trust === null) throw new Error(`internal: backend ${spec.key} needs system-internal-tls but no trust chain was given`)
    const k = `${spec.namespace}|${spec.protocol}`
    let tls = tlsBy.get(k)
    if (tls === undefined) tlsBy.set(k, tls = upstreamTls(trust, spec.namespace, spec.protocol === 'h2c'))
    return tls
  }
  const streamIdleMs = edge.streamIdleMs ?? 0
  const resilience = edge.resilience ?? DEFAULT_RESILIENCE
  const nextBackends = new Map<string, BackendEntry>()
  for (const spec of model.backends.values()) {
    const tls = tlsFor(spec)
    backends.set(spec.key, cache === undefined ? compileBackend(spec, tls, streamIdleMs, resilience) : cache.backend(spec, tls, streamIdleMs, resilience, nextBackends))
  }
  cache?.commitBackends(nextBackends)
  if (cache !== undefined) cache.stats = { hits: 0, misses: 0 }

  const external = new Map<string, VirtualHost>()
  const internal = new Map<string, VirtualHost>()

  for (const ing of model.ingresses) {
    const entries = plugins === undefined ? null : plugins(ing)
    const vhosts = cachedHosts(ing, backends, slots, entries, cache)
    ing.rules.forEach((rule, i) => {
      const vhost = vhosts[i]!
      // A rule without hosts matches any host (KIngress semantics; Kourier writes `*`).
      for (const host of rule.hosts.length === 0 ? ['*'] : rule.hosts) {
        const h = host.toLowerCase()
        if (!internal.has(h)) internal.set(h, vhost)
        if (rule.visibility === 'ExternalIP' && !external.has(h)) external.set(h, vhost)
      }
    })
  }
  // Hosts of Routes without ready traffic: 503 with the reason, where no ingress serves them.
  const externalDown = new Map<string, UnavailableHost>()
  const internalDown = new Map<string, UnavailableHost>()
  for (const u of model.unavailable ?? []) {
    const h = u.host.toLowerCase()
    const entry: UnavailableHost = Object.freeze({ route: u.route, reason: u.reason, body: `${u.message}\n` })
    if (!internal.has(h) && !internalDown.has(h)) internalDown.set(h, entry)
    if (u.visibility === 'ExternalIP' && !external.has(h) && !externalDown.has(h)) externalDown.set(h, entry)
  }
  let routeCount = 0
  for (const vh of internal.values()) routeCount += vh.paths.length
  return Object.freeze({
    version,
    external: hostTable(external, externalDown),
    internal: hostTable(internal, internalDown),
    backends,
    routeCount,
    trustedProxies: trustedProxies(edge.trustedProxies ?? [], edge.trustedHops ?? 0),
    serverHeader: edge.serverHeader ?? null,
    accessLog: edge.accessLog ?? null,
  })
}

/** The ingress's hosts from the cache when nothing they are built from changed, else compiled. */
function cachedHosts(ing: RoutingIngress, backends: ReadonlyMap<string, Backend>, slots: SlotProvider, entries: readonly PluginEntry[] | null, cache: CompileCache | undefined): readonly VirtualHost[] {
  if (cache === undefined) return compileHosts(ing, backends, slots, entries)
  const used: Backend[] = []
  for (const rule of ing.rules) for (const p of rule.paths) for (const s of p.splits) {
    const b = backends.get(s.backend)
    if (b !== undefined) used.push(b)
  }
  const m = cache.ingresses.get(ing)
  if (m !== undefined && m.slots === slots && sameList(m.backends, used) && (m.entries === entries || (m.entries !== null && entries !== null && sameList(m.entries, entries)))) {
    cache.stats.hits++
    return m.vhosts
  }
  cache.stats.misses++
  const vhosts = compileHosts(ing, backends, slots, entries)
  cache.ingresses.set(ing, { slots, backends: used, entries, vhosts })
  return vhosts
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** One VirtualHost per rule of the ingress, in rule order. */
function compileHosts(ing: RoutingIngress, backends: ReadonlyMap<string, Backend>, slots: SlotProvider, entries: readonly PluginEntry[] | null): readonly VirtualHost[] {
  const owner = `${ing.namespace}/${ing.name}`
  const route = Object.freeze({ namespace: ing.namespace, name: ing.name })
  const chain = entries === null ? null : buildChain(entries)
  const localSlot = slots.slot(ing.namespace, ing.name, null)
  return Object.freeze(ing.rules.map((rule): VirtualHost => Object.freeze({
    owner,
    route,
    plugins: chain,
    localSlot,
    paths: Object.freeze(orderPaths(rule.paths).map((p) => compilePath(p, ing, backends, slots))),
    redirectHttps: ing.httpOption === 'Redirected' && rule.visibility === 'ExternalIP',
    allowTrace: ing.allowTrace,
  })))
}

/** Longest literal prefix first; equal prefixes keep their declared order (header matches first as declared). */
function orderPaths(paths: readonly RoutingPath[]): RoutingPath[] {
  return paths.map((p, i) => [p, i] as const)
    .sort((a, b) => (b[0].path.length - a[0].path.length) || (a[1] - b[1]))
    .map(([p]) => p)
}

function compilePath(p: RoutingPath, ing: RoutingIngress, backends: ReadonlyMap<string, Backend>, slots: SlotProvider): PathRoute {
  const splits: Split[] = []
  const retry: RetryPolicy | undefined = ing.retryAttempts === undefined ? undefined : Object.freeze({ ...DEFAULT_RETRY_POLICY, attempts: ing.retryAttempts })
  let upTo = 0
  for (const s of p.splits) {
    if (s.percent <= 0) continue // 0% targets are left out, as Knative's ingress builder does
    const backend = backends.get(s.backend)
    if (backend === undefined) throw new Error(`internal: split references unknown backend ${s.backend}`)
    upTo += s.percent
    const setHeaders = Object.freeze(headerList(p.appendHeaders, s.appendHeaders))
    const setNames = new Set<string>()
    for (let i = 0; i < setHeaders.length; i += 2) setNames.add(setHeaders[i])
    splits.push(Object.freeze({
      backend,
      upTo,
      setHeaders,
      setNames,
      rewriteHost: p.rewriteHost === '' ? null : p.rewriteHost,
      probeHash: ing.hash,
      slot: slots.slot(ing.namespace, ing.name, backend),
      ...(retry !== undefined ? { retry } : {}),
    }))
  }
  const names = Object.keys(p.headers)
  return Object.freeze({
    prefix: p.path === '' ? '/' : p.path,
    matchNames: Object.freeze(names.map((n) => n.toLowerCase())),
    matchValues: Object.freeze(names.map((n) => p.headers[n])),
    splits: Object.freeze(splits),
    total: upTo,
  })
}

function hostTable(hosts: Map<string, VirtualHost>, unavailable: ReadonlyMap<string, UnavailableHost>): HostTable {
  const exact = new Map<string, VirtualHost>()
  const suffixes: [string, VirtualHost][] = []
  let any: VirtualHost | null = null
  for (const [h, vh] of hosts) {
    if (h === '*') any ??= vh
    else if (h.startsWith('*.')) suffixes.push([h.slice(1), vh])
    else exact.set(h, vh)
  }
  suffixes.sort((a, b) => b[0].length - a[0].length)
  return Object.freeze({ exact, suffixes: Object.freeze(suffixes), any, unavailable })
}

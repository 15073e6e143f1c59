// reconcile(): declared objects + revision history → every Knative object with its status, the
// routing model for the gateway, and the next revision history. Pure: no I/O, no clock.
import type { Configuration, IngressSplit, KIngress, KObject, KService, ResourceSet, Revision, Route } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import type { BackendSpec, RoutingIngress, RoutingModel, UnavailableHost } from '../model.ts'
import type { ConfigurationState, RevisionState } from '../state.ts'
import { BackendIndex, type RevisionEntry } from './backends.ts'
import { reconcileConfiguration } from './configuration.ts'
import { orderOf, resolveConflicts, type Claimant, type DeclOrder } from './conflicts.ts'
import { addressUrl, routeHosts, type RouteHosts } from './domains.ts'
import { ingressWithStatus, makeIngress, ruleHosts, toRoutingIngress } from './ingress.ts'
import { CONFIGURATION_LABEL, derivedKey, keyOf, nsName } from './names.ts'
import { defaultRevisionSpec, revisionReadiness, withRevisionStatus, type Readiness, type ReadinessContext } from './revision.ts'
import { buildTraffic, routeWithStatus, type TargetError, type TrafficConfig } from './route.ts'
import { makeConfiguration, makeRoute, serviceWithStatus } from './service.ts'
import { getCondition, keepObjectTransitionTimes, rfc3339 } from './status.ts'
import { servedHash } from '../sources/declared-hash.ts'
import { reconcileEventing, type EventingResolution } from './eventing.ts'
import { knativeServiceKeys } from './destinations.ts'
import { sameRefs, type ReconcileCache } from './cache.ts'
import { routeUnavailable } from './unavailable.ts'

export interface ReconcileInput {
  readonly resources: ResourceSet
  readonly settings: Settings
  readonly state: RevisionState
  readonly now: Date
  /** the local runtime's view of revisions with a command, by `namespace/name` */
  readonly runtime?: ReadinessContext['runtime']
  /** builds of revisions with sluice.dev/source (control/build), by `namespace/name` */
  readonly build?: ReadinessContext['build']
  /**
   * The user KIngresses served last time (ReconcileOutput.served). When given, an ingress whose new
   * spec names backends that do not resolve yet keeps serving the last spec that did (Kourier
   * keeps the old translation until the tracker fires), so a move to a new backend never 503s.
   */
  readonly lastServed?: ReadonlyMap<string, KIngress>
  /** the gateway's internal listener origin: event deliveries to Sluice-served subscribers go through it */
  readonly internalOrigin?: string
  /**
   * Kept by the caller across passes: an ingress whose object and resolved backends are the same
   * as last pass keeps its routing model and status objects (compile then reuses its compiled
   * hosts). Without it every pass builds everything; with it the result is the same.
   */
  readonly cache?: ReconcileCache
  /**
   * The last pass's objects (ReconcileOutput.objects): a condition whose status is unchanged keeps
   * the lastTransitionTime it had there (status.ts keepTransitionTimes). Without it every time is `now`.
   */
  readonly previous?: readonly KObject[]
}

export interface ReconcileOutput {
  /** every declared and derived Service, Configuration, Revision, Route and Ingress with status, then the declared core objects unchanged */
  objects: KObject[]
  model: RoutingModel
  state: RevisionState
  summary: { services: number; routes: number; ingresses: number; hosts: string[] }
  /** user KIngresses by namespace/name, as routed now (an older spec when the new one is not resolvable yet) */
  served: Map<string, KIngress>
  /** Brokers and Triggers with their destinations resolved, for compile/eventing.ts */
  eventing: EventingResolution
}

/** Sorted by namespace/name, each key built once (thousands of ingresses in a cluster). */
function sortedByKey<T extends KObject>(objs: readonly T[]): T[] {
  return objs.map((o) => [keyOf(o), o] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, o]) => o)
}

const collator = new Intl.Collator()

/** First declaration of each namespace/name wins; sources report duplicates. */
function firstByKey<T extends KObject>(objs: readonly T[]): Map<string, T> {
  const m = new Map<string, T>()
  for (const o of objs) if (!m.has(keyOf(o))) m.set(keyOf(o), o)
  return m
}

interface RouteEntry {
  readonly route: Route
  readonly order: DeclOrder
  readonly creationTimestamp?: string
  traffic?: TrafficConfig
  trafficError?: TargetError
  hosts?: RouteHosts
  hostError?: string
  ingress?: KIngress
}

export function reconcile(input: ReconcileInput): ReconcileOutput {
  const { resources: rs, settings: s, cache } = input
  cache?.begin()
  const now = rfc3339(input.now)
  const services = [...firstByKey(rs.services).values()]
  const declaredConfigs = firstByKey(rs.configurations)
  const declaredRoutes = firstByKey(rs.routes)
  const declaredIngresses = firstByKey(rs.ingresses)

  // 1. Services → Configuration + Route, unless a declared object already has the name.
  const children = new Map(services.map((svc) => {
    const k = keyOf(svc)
    const configurationNotOwned = declaredConfigs.has(k)
    const routeNotOwned = !configurationNotOwned && declaredRoutes.has(k)
    return [k, { configurationNotOwned, routeNotOwned, configuration: undefined as Configuration | undefined, route: undefined as Route | undefined }]
  }))
  const configInputs: Configuration[] = [...declaredConfigs.values()]
  const routeEntries: RouteEntry[] = [...declaredRoutes.values()].map((route) => ({
    route, order: orderOf(route, services.length + rs.routes.indexOf(route)), creationTimestamp: route.metadata.creationTimestamp,
  }))
  services.forEach((svc, i) => {
    const ch = children.get(keyOf(svc))!
    if (ch.configurationNotOwned) return
    configInputs.push(makeConfiguration(svc))
    if (!ch.routeNotOwned) routeEntries.push({ route: makeRoute(svc), order: orderOf(svc, i), creationTimestamp: svc.metadata.creationTimestamp })
  })
  configInputs.splice(0, configInputs.length, ...sortedByKey(configInputs))

  // 2. Revisions: declared ones are defaulted; those labelled for a known configuration belong to it.
  const declaredRevs = [...firstByKey(rs.revisions).values()].map((r): Revision => ({ ...r, spec: defaultRevisionSpec(r.spec, s) }))
  const configKeys = new Set(configInputs.map(keyOf))
  const ownedBy = (r: Revision): string | undefined => {
    const cfg = r.metadata.labels?.[CONFIGURATION_LABEL]
    return cfg !== undefined && configKeys.has(nsName(r.metadata.namespace, cfg)) ? nsName(r.metadata.namespace, cfg) : undefined
  }
  const pinned = pinnedRevisions([...routeEntries.map((e) => e.route)])
  const taken = new Map<string, { owner: string; what: string }>()
  for (const r of declaredRevs) taken.set(keyOf(r), { owner: '', what: `a Revision ${r.metadata.name} is declared${r.source ? ` in ${r.source.file}` : ''}` })
  for (const k of configKeys) {
    const ns = k.slice(0, k.indexOf('/'))
    for (const r of input.state.configurations[k]?.revisions ?? []) {
      if (!taken.has(nsName(ns, r.name))) taken.set(nsName(ns, r.name), { owner: k, what: `it belongs to Configuration ${k}` })
    }
  }

  const readiness = new Map<string, Readiness>()
  const readinessOf = (rev: Revision): Readiness => {
    const r = revisionReadiness(rev, { now, maxRevisionTimeoutSeconds: s.maxRevisionTimeoutSeconds, runtime: input.runtime, build: input.build })
    // First one wins, like revsOut below, should a declared revision reuse a remembered name.
    if (!readiness.has(keyOf(rev))) readiness.set(keyOf(rev), r)
    return r
  }
  const configsOut = new Map<string, Configuration>()
  const revsOut = new Map<string, Revision>()
  const nextState: Record<string, ConfigurationState> = {}
  for (const cfg of configInputs) {
    const k = keyOf(cfg)
    const ns = cfg.metadata.namespace
    const out = reconcileConfiguration(cfg, input.state.configurations[k], declaredRevs.filter((r) => ownedBy(r) === k), {
      settings: s,
      now,
      pinned: pinned.get(ns) ?? new Set(),
      readiness: readinessOf,
      ...(cfg.source !== undefined ? { declaredIn: cfg.source.file } : {}),
      nameTaken: (name) => {
        const t = taken.get(nsName(ns, name))
        return t !== undefined && t.owner !== k ? t.what : undefined
      },
    })
    configsOut.set(k, out.configuration)
    nextState[k] = out.state
    for (const r of out.state.revisions) taken.set(nsName(ns, r.name), { owner: k, what: `it belongs to Configuration ${k}` })
    for (const r of out.revisions) if (!revsOut.has(keyOf(r))) revsOut.set(keyOf(r), r)
  }
  for (const r of declaredRevs) {
    if (ownedBy(r) === undefined && !revsOut.has(keyOf(r))) revsOut.set(keyOf(r), withRevisionStatus(r, readinessOf(r)))
  }

  // 3. Routes: traffic, hosts, and the generated KIngress (or, without ready traffic, the hosts
  // that answer 503 with the reason rather than 404).
  const unavailable: UnavailableHost[] = []
  for (const e of routeEntries) {
    const ns = e.route.metadata.namespace
    const lookup = {
      configuration: (n: string) => configsOut.get(nsName(ns, n)),
      revision: (n: string) => revsOut.get(nsName(ns, n)),
    }
    const built = buildTraffic(e.route, lookup)
    e.traffic = built.traffic
    e.trafficError = built.error
    try {
      const hosts = routeHosts(e.route, s)
      for (const t of e.traffic?.targets.keys() ?? ['']) { hosts.url(t); hosts.local(t) }
      e.hosts = hosts
    } catch (err) {
      e.hostError = (err as Error).message
    }
    const usable = e.traffic !== undefined && (e.traffic.targets.get('')?.length ?? 0) > 0
    if (e.hosts !== undefined && !declaredIngresses.has(keyOf(e.route))) {
      if (usable) e.ingress = makeIngress(e.route, e.traffic!, e.hosts, s)
      else unavailable.push(...routeUnavailable({ route: e.route, hosts: e.hosts, error: e.trafficError, lookup, settings: s }))
    }
  }

  // 4. Host conflicts across generated and user-written ingresses.
  const ingressIndexBase = services.length + rs.routes.length
  const userIngresses = [...declaredIngresses.values()]
  const ingressIndex = new Map(rs.ingresses.map((ing, i) => [ing, i] as const))
  const claimants: Claimant[] = [
    ...routeEntries.filter((e) => e.ingress !== undefined).map((e) => claimant(routeId(e.route), e.ingress!, e.order, e.creationTimestamp, cache)),
    ...userIngresses.map((ing) => claimant(ingressId(ing), ing, orderOf(ing, ingressIndexBase + ingressIndex.get(ing)!), ing.metadata.creationTimestamp, cache)),
  ]
  const conflicts = resolveConflicts(claimants)

  // 5. Routing model and ingress statuses.
  const backendIndex = new BackendIndex(rs, new Map([...revsOut].map(([k, rev]): [string, RevisionEntry] => [k, { rev, readiness: readiness.get(k)! }])),
    { systemInternalTls: s.systemInternalTls, ...(cache !== undefined ? { cache } : {}) })
  const backends = new Map<string, BackendSpec>()
  const routing: RoutingIngress[] = []
  const servedIngresses = new Map<string, KIngress>()
  const unresolved = (ing: KIngress, preferRevision: boolean): string[] => {
    const problems: string[] = []
    for (const rule of ing.spec.rules) for (const p of rule.http.paths) for (const split of p.splits) {
      const problem = backendIndex.resolve(ing.metadata.namespace, split, preferRevision, !!p.rewriteHost).problem
      if (problem !== undefined && !problems.includes(problem)) problems.push(problem)
    }
    return problems
  }
  const convert = (ing: KIngress, id: string, ownerKind: 'Route' | 'Ingress'): KIngress => {
    const served = conflicts.served.has(id)
    let problems: string[] = []
    let olderGeneration: number | undefined
    if (served) {
      let routed = ing
      const last = ownerKind === 'Ingress' ? input.lastServed?.get(keyOf(ing)) : undefined
      if (last !== undefined && last !== ing && unresolved(ing, false).length > 0 && unresolved(last, false).length === 0) {
        routed = last
        olderGeneration = last.metadata.generation ?? 1
      }
      if (ownerKind === 'Ingress') servedIngresses.set(keyOf(ing), routed)
      // Resolve every split (rule → path → split, the order toRoutingIngress asks in); the same
      // backends as last pass for the same object means the same routing model.
      const specs: BackendSpec[] = []
      for (const rule of routed.spec.rules) for (const p of rule.http.paths) for (const split of p.splits) {
        const r = backendIndex.resolve(ing.metadata.namespace, split, ownerKind === 'Route', !!p.rewriteHost)
        backends.set(r.spec.key, r.spec)
        specs.push(r.spec)
        if (r.problem !== undefined && !problems.includes(r.problem)) problems.push(r.problem)
      }
      const memo = cache?.routing.get(routed)
      if (memo !== undefined && memo.ownerKind === ownerKind && sameRefs(memo.specs, specs)) {
        cache!.stats.hits++
        routing.push(memo.routing)
      } else {
        let i = 0
        const built = toRoutingIngress(routed, ownerKind, () => specs[i++]!.key, servedHash(routed))
        if (cache !== undefined) {
          cache.stats.misses++
          cache.routing.set(routed, { ownerKind, specs, routing: built })
        }
        routing.push(built)
      }
      if (olderGeneration !== undefined) {
        problems = unresolved(ing, false).map((p) => `${p}; generation ${olderGeneration} keeps serving until it is`)
      }
    }
    const conflict = conflicts.lost.get(id)
    if (cache === undefined) return ingressWithStatus(ing, { served, conflict, problems }, now)
    // The same outcome keeps the same status object (its times are those of the last change).
    const host = conflict?.host ?? ''
    const winner = conflict?.winner ?? ''
    const memo = cache.status.get(ing)
    if (memo !== undefined && memo.served === served && memo.host === host && memo.winner === winner && sameRefs(memo.problems, problems)) return memo.out
    const out = ingressWithStatus(ing, { served, conflict, problems }, now)
    cache.status.set(ing, { served, host, winner, problems, out })
    return out
  }
  const ingressesOut: KIngress[] = []
  for (const e of routeEntries) if (e.ingress !== undefined) ingressesOut.push(e.ingress = convert(e.ingress, routeId(e.route), 'Route'))
  for (const ing of userIngresses) ingressesOut.push(convert(ing, ingressId(ing), 'Ingress'))

  // 6. Route and Service statuses.
  const routesOut = routeEntries.map((e) => routeWithStatus(e.route, {
    traffic: e.traffic,
    trafficError: e.trafficError,
    hosts: e.hosts,
    hostError: e.hostError,
    addressUrl: addressUrl(e.route, s),
    ingressReady: e.ingress !== undefined ? getCondition(e.ingress, 'Ready') : undefined,
    ingressNotOwned: declaredIngresses.has(keyOf(e.route)),
  }, now))
  const routeByKey = new Map(routesOut.map((r) => [keyOf(r), r]))
  const servicesOut = services.map((svc) => {
    const ch = children.get(keyOf(svc))!
    return serviceWithStatus(svc, {
      ...ch,
      configuration: ch.configurationNotOwned ? undefined : configsOut.get(keyOf(svc)),
      route: ch.configurationNotOwned || ch.routeNotOwned ? undefined : routeByKey.get(keyOf(svc)),
    }, now)
  })

  const routingKeys = new Map(routing.map((r) => [r, nsName(r.namespace, r.name)]))
  routing.sort((a, b) => collator.compare(routingKeys.get(a)!, routingKeys.get(b)!) || collator.compare(a.ownerKind, b.ownerKind))
  const hosts = [...new Set(routing.flatMap((r) => r.rules.flatMap((rule) => rule.hosts)))].sort()
  const state: RevisionState = { version: 1, configurations: {} }
  for (const k of Object.keys(nextState).sort()) state.configurations[k] = nextState[k]!

  const eventing = reconcileEventing(rs.brokers, rs.triggers, {
    settings: s, now,
    resolve: {
      internalOrigin: input.internalOrigin ?? 'http://127.0.0.1:8081', clusterDomain: s.clusterDomain,
      services: knativeServiceKeys(services, rs.coreServices), brokers: new Set(rs.brokers.map(keyOf)), coreServices: new Set(rs.coreServices.map(keyOf)),
    },
  })

  cache?.end()
  return {
    objects: [
      ...keepObjectTransitionTimes([
        ...sortedByKey(servicesOut),
        ...sortedByKey([...configsOut.values()]),
        ...sortedByKey([...revsOut.values()]),
        ...sortedByKey(routesOut),
        ...sortedByKey(ingressesOut),
      ], input.previous),
      ...rs.coreServices, ...rs.endpoints, ...rs.endpointSlices, ...rs.configMaps, ...rs.secrets,
      ...keepObjectTransitionTimes([...eventing.brokers, ...eventing.triggers], input.previous),
      ...rs.pingSources, ...rs.containerSources, ...rs.sinkBindings, ...rs.others,
    ],
    model: {
      ingresses: routing,
      backends: new Map([...backends.keys()].sort().map((k) => [k, backends.get(k)!])),
      unavailable,
    },
    state,
    summary: { services: services.length, routes: routesOut.length, ingresses: ingressesOut.length, hosts },
    served: servedIngresses,
    eventing: eventing.resolution,
  }
}

/** Claimant ids (conflicts.ts), one string per object */
const routeIds = new WeakMap<object, string>()
const ingressIds = new WeakMap<object, string>()
const routeId = (r: Route): string => derivedKey(routeIds, r, () => `Route ${keyOf(r)}`)
const ingressId = (ing: KIngress): string => derivedKey(ingressIds, ing, () => `Ingress ${keyOf(ing)}`)

function claimant(id: string, ing: KIngress, order: DeclOrder, creationTimestamp: string | undefined, cache?: ReconcileCache): Claimant {
  let hosts = cache?.hosts.get(ing)
  if (hosts === undefined) {
    hosts = ing.spec.rules.flatMap(ruleHosts)
    cache?.hosts.set(ing, hosts)
  }
  return { id, hosts, order, ...(creationTimestamp ? { creationTimestamp } : {}) }
}

/** Revision names Routes refer to directly, per namespace: history pruning keeps them. */
function pinnedRevisions(routes: readonly Route[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const r of routes) {
    for (const t of r.spec.traffic ?? []) {
      if (!t.revisionName) continue
      const set = out.get(r.metadata.namespace) ?? new Set<string>()
      set.add(t.revisionName)
      out.set(r.metadata.namespace, set)
    }
  }
  return out
}

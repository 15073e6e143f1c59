// Route traffic: resolution and flattening exactly as Knative's pkg/reconciler/route/traffic,
// plus the Route status built from it.
import type { Condition, Configuration, Revision, Route, TrafficTarget } from '../resources/types.ts'
import type { UpstreamProtocol } from '../model.ts'
import { CONFIGURATION_LABEL } from './names.ts'
import { revisionProtocol } from './revision.ts'
import { condition, getCondition, mirror, withReady } from './status.ts'
import type { RouteHosts } from './domains.ts'

/** Objects in the Route's namespace, with status already computed. */
export interface TrafficLookup {
  configuration(name: string): Configuration | undefined
  revision(name: string): Revision | undefined
}

export interface RevisionTarget {
  /** '' for untagged entries */
  readonly tag: string
  readonly revisionName: string
  readonly configurationName?: string
  readonly latestRevision: boolean
  readonly percent: number
  readonly protocol: UpstreamProtocol
}

export interface TrafficConfig {
  /** the default target ('') and one per tag, each consolidated per revision; '' first, then tags sorted */
  readonly targets: ReadonlyMap<string, readonly RevisionTarget[]>
  /** spec order, entries with the same tag, revision and latestRevision summed: becomes status.traffic */
  readonly revisionTargets: readonly RevisionTarget[]
}

export interface TargetError {
  readonly status: 'False' | 'Unknown'
  readonly reason: string
  readonly message: string
  /** a failure overrides an earlier not-ready error, as Knative's deferTargetError does */
  readonly failure: boolean
}

const missing = (kind: 'Configuration' | 'Revision', name: string): TargetError =>
  ({ status: 'False', reason: `${kind}Missing`, message: `${kind} ${JSON.stringify(name)} referenced in traffic not found.`, failure: true })

export function buildTraffic(route: Route, lookup: TrafficLookup): { traffic?: TrafficConfig; error?: TargetError } {
  const flat: RevisionTarget[] = []
  let error: TargetError | undefined
  const defer = (e: TargetError) => { if (error === undefined || e.failure) error = e }

  for (const tt of route.spec.traffic ?? []) {
    const base = { tag: tt.tag ?? '', latestRevision: tt.latestRevision ?? !tt.revisionName, percent: tt.percent ?? 0 }
    if (tt.revisionName) {
      const rev = lookup.revision(tt.revisionName)
      if (rev === undefined) { defer(missing('Revision', tt.revisionName)); continue }
      const ready = getCondition(rev, 'Ready')
      if (ready?.status !== 'True') {
        defer(ready?.status === 'False'
          ? { status: 'False', reason: 'RevisionMissing', message: `Revision ${JSON.stringify(tt.revisionName)} failed to become ready.`, failure: true }
          : { status: 'Unknown', reason: 'RevisionMissing', message: `Revision ${JSON.stringify(tt.revisionName)} is not yet ready.`, failure: false })
        continue
      }
      const cfgName = rev.metadata.labels?.[CONFIGURATION_LABEL]
      if (cfgName !== undefined && lookup.configuration(cfgName) === undefined) { defer(missing('Configuration', cfgName)); continue }
      flat.push({ ...base, revisionName: rev.metadata.name, configurationName: cfgName, protocol: revisionProtocol(rev) })
    } else if (tt.configurationName) {
      const cfg = lookup.configuration(tt.configurationName)
      if (cfg === undefined) { defer(missing('Configuration', tt.configurationName)); continue }
      const lrr = cfg.status?.latestReadyRevisionName as string | undefined
      if (!lrr) {
        defer(getCondition(cfg, 'Ready')?.status === 'False'
          ? { status: 'False', reason: 'RevisionMissing', message: `Configuration ${JSON.stringify(tt.configurationName)} does not have any ready Revision.`, failure: true }
          : { status: 'Unknown', reason: 'RevisionMissing', message: `Configuration ${JSON.stringify(tt.configurationName)} is waiting for a Revision to become ready.`, failure: false })
        continue
      }
      const rev = lookup.revision(lrr)
      if (rev === undefined) { defer(missing('Revision', lrr)); continue }
      flat.push({ ...base, revisionName: lrr, configurationName: tt.configurationName, protocol: revisionProtocol(rev) })
    } else {
      defer({ status: 'False', reason: 'ConfigurationMissing', message: 'A traffic target names neither a revisionName nor a configurationName.', failure: true })
    }
  }
  if (error !== undefined) return { error }

  const groups = new Map<string, RevisionTarget[]>([['', []]])
  const revisionTargets: RevisionTarget[] = []
  for (const t of flat) {
    groups.get('')!.push(t)
    if (t.tag !== '') groups.set(t.tag, [...(groups.get(t.tag) ?? []), t])
    const same = revisionTargets.findIndex((r) => r.tag === t.tag && r.revisionName === t.revisionName && r.latestRevision === t.latestRevision)
    if (same === -1) revisionTargets.push(t)
    else revisionTargets[same] = { ...revisionTargets[same]!, percent: revisionTargets[same]!.percent + t.percent }
  }
  const names = [...groups.keys()].sort()
  const targets = new Map(names.map((n) => [n, consolidate(groups.get(n)!)] as const))
  return { traffic: { targets, revisionTargets } }
}

/** Sums entries per revision; a group with a single revision gets 100% (so a 0% tag still serves). */
function consolidate(targets: readonly RevisionTarget[]): RevisionTarget[] {
  const byName = new Map<string, RevisionTarget>()
  for (const t of targets) {
    const cur = byName.get(t.revisionName)
    byName.set(t.revisionName, cur === undefined ? t : { ...cur, percent: cur.percent + t.percent })
  }
  const out = [...byName.values()]
  if (out.length === 1) out[0] = { ...out[0]!, percent: 100 }
  return out
}

export interface RouteStatusInput {
  readonly traffic?: TrafficConfig
  readonly trafficError?: TargetError
  readonly hosts?: RouteHosts
  readonly hostError?: string
  readonly addressUrl: string
  /** the Ready condition of the Route's Ingress, when one was generated */
  readonly ingressReady?: Condition
  /** set when a user-written Ingress already has the Route's name */
  readonly ingressNotOwned?: boolean
}

export function routeWithStatus(route: Route, i: RouteStatusInput, now: string): Route {
  const status: Record<string, unknown> = { observedGeneration: route.metadata.generation ?? 1 }
  let assigned: Condition
  if (i.trafficError !== undefined) {
    assigned = condition('AllTrafficAssigned', i.trafficError.status, now, i.trafficError.reason, i.trafficError.message)
  } else if ((route.spec.traffic ?? []).length === 0) {
    assigned = condition('AllTrafficAssigned', 'False', now, 'NoTraffic', 'spec.traffic is empty.')
  } else {
    assigned = condition('AllTrafficAssigned', 'True', now)
  }

  let ingress: Condition
  if (i.hostError !== undefined) ingress = condition('IngressReady', 'False', now, 'InvalidDomain', i.hostError)
  else if (i.ingressNotOwned) ingress = condition('IngressReady', 'False', now, 'NotOwned', `There is an existing Ingress ${JSON.stringify(route.metadata.name)} that we do not own.`)
  else {
    ingress = mirror('IngressReady', i.ingressReady, now,
      condition('IngressReady', 'Unknown', now, 'IngressNotConfigured', 'Ingress has not yet been reconciled.'))
  }
  const cert = condition('CertificateProvisioned', 'True', now, 'TLSNotEnabled', 'external-domain-tls is not enabled')
  status.conditions = withReady([assigned, ingress, cert], now)

  if (i.hosts !== undefined) status.url = i.hosts.url('')
  status.address = { url: i.addressUrl }
  if (i.traffic !== undefined && i.hosts !== undefined) {
    const hosts = i.hosts
    status.traffic = i.traffic.revisionTargets.map((t): TrafficTarget => {
      const out: TrafficTarget = {}
      if (t.tag !== '') out.tag = t.tag
      out.revisionName = t.revisionName
      out.latestRevision = t.latestRevision
      out.percent = t.percent
      if (t.tag !== '') out.url = hosts.url(t.tag)
      return out
    })
  }
  return { ...route, status }
}

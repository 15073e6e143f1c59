// The dashboard's JSON snapshot: what the page draws, built from the same resources view as
// /debug/resources (Services, Routes and Revisions with their computed status), the runtime's
// instance counts, the revision history (rates, latencies, chart, cold starts) and the
// configuration errors with their file:line:col. Pure: every input is passed in.
import type { ConfigError } from '../../resources/types.ts'
import { formatError } from '../../sources/format-error.ts'
import type { ColdStart, Derived } from './revision-history.ts'

export interface Condition { status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string }

export interface ServiceView extends Condition { namespace: string; name: string; url: string | null }

export interface TrafficView { revision: string; percent: number; tags: string[]; latest: boolean }

export interface RouteView extends Condition { namespace: string; name: string; url: string | null; traffic: TrafficView[] }

export interface InstancesView { ready: number; starting: number; desired: number }

export interface RevisionView extends Condition, Derived {
  namespace: string
  name: string
  service: string
  /** null for revisions Sluice does not run itself (fixed upstreams, Kubernetes endpoints) */
  instances: InstancesView | null
  /** ready instances a second apart, oldest first, ending now */
  history: (number | null)[]
}

export interface ErrorView { file: string; line: number; column: number; path: string; message: string; text: string }

export interface DashboardSnapshot {
  /** ms since the epoch */
  at: number
  /** when the configuration in force was loaded; null before the first good load */
  loadedAt: number | null
  ready: boolean
  errors: ErrorView[]
  services: ServiceView[]
  routes: RouteView[]
  revisions: RevisionView[]
  /** requests waiting in the activator, all revisions */
  queue: number
  coldStarts: (Omit<ColdStart, 'revision'> & { namespace: string; revision: string })[]
  historyStepMs: number
  historyCapacity: number
}

export interface SnapshotInputs {
  at: number
  loadedAt: number | null
  ready: boolean
  errors: readonly ConfigError[]
  /** the resources view (`loop.resources()`) */
  objects: readonly object[]
  instances(key: string): InstancesView | null
  derived(key: string): Derived
  history(key: string): (number | null)[]
  coldStarts: readonly ColdStart[]
  /** requests waiting in the activator, every backend */
  queue: number
  historyStepMs: number
  historyCapacity: number
}

interface Obj {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> }
  status?: {
    url?: string
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[]
    traffic?: { revisionName?: string; percent?: number; tag?: string; latestRevision?: boolean }[]
  }
}

const SERVICE_LABEL = 'serving.knative.dev/service'
const SERVING = 'serving.knative.dev/v1'

export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`

function ready(o: Obj): Condition {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready')
  const status = c?.status === 'True' || c?.status === 'False' ? c.status : 'Unknown'
  return { status, ...(c?.reason ? { reason: c.reason } : {}), ...(c?.message ? { message: c.message } : {}) }
}

const byKey = (a: { namespace: string; name: string }, b: { namespace: string; name: string }): number =>
  a.namespace === b.namespace ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.namespace < b.namespace ? -1 : 1

/** A route's traffic as one entry per revision: percents summed, tags gathered (a tag at 0% still shows). */
export function trafficByRevision(traffic: NonNullable<NonNullable<Obj['status']>['traffic']>): TrafficView[] {
  const out = new Map<string, TrafficView>()
  for (const t of traffic) {
    if (t.revisionName === undefined) continue
    let v = out.get(t.revisionName)
    if (v === undefined) {
      v = { revision: t.revisionName, percent: 0, tags: [], latest: false }
      out.set(t.revisionName, v)
    }
    v.percent += t.percent ?? 0
    if (t.tag !== undefined && !v.tags.includes(t.tag)) v.tags.push(t.tag)
    if (t.latestRevision === true) v.latest = true
  }
  return [...out.values()]
}

export function buildSnapshot(inp: SnapshotInputs): DashboardSnapshot {
  const services: ServiceView[] = []
  const routes: RouteView[] = []
  const revisions: RevisionView[] = []
  for (const o of inp.objects as Obj[]) {
    const namespace = o.metadata?.namespace ?? ''
    const name = o.metadata?.name ?? ''
    // core v1 Services (static backends) and KIngresses are not drawn
    if (o.apiVersion !== SERVING) continue
    switch (o.kind) {
      case 'Service':
        services.push({ namespace, name, url: o.status?.url ?? null, ...ready(o) })
        break
      case 'Route':
        routes.push({ namespace, name, url: o.status?.url ?? null, traffic: trafficByRevision(o.status?.traffic ?? []), ...ready(o) })
        break
      case 'Revision': {
        const key = keyOf(namespace, name)
        const derived = inp.derived(key)
        revisions.push({
          namespace, name, service: o.metadata?.labels?.[SERVICE_LABEL] ?? '',
          ...ready(o), ...derived,
          instances: inp.instances(key),
          history: inp.history(key),
        })
        break
      }
    }
  }
  services.sort(byKey)
  routes.sort(byKey)
  revisions.sort(byKey)
  return {
    at: inp.at,
    loadedAt: inp.loadedAt,
    ready: inp.ready,
    errors: inp.errors.map((e) => ({ file: e.file, line: e.line, column: e.column, path: e.path, message: e.message, text: formatError(e) })),
    services, routes, revisions, queue: inp.queue,
    coldStarts: inp.coldStarts.map((c) => {
      const slash = c.revision.indexOf('/')
      return { ...c, namespace: slash < 0 ? '' : c.revision.slice(0, slash), revision: c.revision.slice(slash + 1) }
    }),
    historyStepMs: inp.historyStepMs,
    historyCapacity: inp.historyCapacity,
  }
}

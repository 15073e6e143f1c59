// Reads of the objects a running Sluice reports (/debug/resources) in the terms `kn` prints them:
// ready state, reason, condition counts, ages, traffic per revision.

export interface Condition { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string; severity?: string }
export interface TrafficTarget { revisionName?: string; configurationName?: string; latestRevision?: boolean; percent?: number; tag?: string; url?: string }
export interface ViewObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; generation?: number }
  spec?: Record<string, unknown>
  status?: {
    url?: string
    address?: { url?: string }
    conditions?: Condition[]
    traffic?: TrafficTarget[]
    latestReadyRevisionName?: string
    latestCreatedRevisionName?: string
    desiredReplicas?: number
    actualReplicas?: number
    [k: string]: unknown
  }
}
export interface ResourcesDocument { loadedAt: string | null; errors: string[]; objects: ViewObject[] }

export const KIND_OF = {
  services: { apiVersion: 'serving.knative.dev/v1', kind: 'Service' },
  revisions: { apiVersion: 'serving.knative.dev/v1', kind: 'Revision' },
  routes: { apiVersion: 'serving.knative.dev/v1', kind: 'Route' },
  ingresses: { apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress' },
  brokers: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker' },
  triggers: { apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger' },
  pingsources: { apiVersion: 'sources.knative.dev/v1', kind: 'PingSource' },
} as const
export type ListedKind = keyof typeof KIND_OF

/** kn and kubectl accept singular, plural and short names */
export function listedKind(word: string): ListedKind | undefined {
  const w = word.toLowerCase()
  if (['service', 'services', 'ksvc', 'svc'].includes(w)) return 'services'
  if (['revision', 'revisions', 'rev'].includes(w)) return 'revisions'
  if (['route', 'routes', 'rt'].includes(w)) return 'routes'
  if (['ingress', 'ingresses', 'king', 'kingress'].includes(w)) return 'ingresses'
  if (['broker', 'brokers'].includes(w)) return 'brokers'
  if (['trigger', 'triggers'].includes(w)) return 'triggers'
  if (['pingsource', 'pingsources', 'ping'].includes(w)) return 'pingsources'
  return undefined
}

export function ofKind(doc: ResourcesDocument, kind: ListedKind, namespace: string | null): ViewObject[] {
  const { apiVersion, kind: k } = KIND_OF[kind]
  return doc.objects.filter((o) => o.apiVersion === apiVersion && o.kind === k && (namespace === null || o.metadata.namespace === namespace))
}

export function condition(o: ViewObject, type: string): Condition | undefined {
  return o.status?.conditions?.find((c) => c.type === type)
}

/** kn's READY column: the Ready condition's status, `Unknown` without one */
export function ready(o: ViewObject): string {
  return condition(o, 'Ready')?.status ?? 'Unknown'
}

/** kn's REASON column: the Ready condition's reason when it is not True */
export function reason(o: ViewObject): string {
  const c = condition(o, 'Ready')
  return c === undefined || c.status === 'True' ? '' : (c.reason ?? '')
}

/** kn's CONDITIONS column, `3 OK / 4`: conditions that are True (or only informational) of all */
export function conditionCounts(o: ViewObject): string {
  const all = o.status?.conditions ?? []
  const ok = all.filter((c) => c.status === 'True' || (c.severity !== undefined && c.severity !== '' && c.severity !== 'Error')).length
  return `${ok} OK / ${all.length}`
}

/** kubectl's AGE: 45s, 3m, 5h, 2d (two units below ten of the larger), `<unknown>` without a time */
export function age(since: string | undefined, now = Date.now()): string {
  if (since === undefined) return '<unknown>'
  const t = Date.parse(since)
  if (Number.isNaN(t)) return '<unknown>'
  const s = Math.max(0, Math.floor((now - t) / 1000))
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return `${m}m${s % 60 === 0 ? '' : `${s % 60}s`}`
  if (m < 180) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 8) return `${h}h${m % 60 === 0 ? '' : `${m % 60}m`}`
  if (h < 48) return `${h}h`
  const d = Math.floor(h / 24)
  if (d < 8) return `${d}d${h % 24 === 0 ? '' : `${h % 24}h`}`
  return `${d}d`
}

/** When the object appeared: its creationTimestamp, else the oldest condition transition. */
export function createdAt(o: ViewObject): string | undefined {
  if (o.metadata.creationTimestamp !== undefined) return o.metadata.creationTimestamp
  const times = (o.status?.conditions ?? []).map((c) => c.lastTransitionTime).filter((t): t is string => t !== undefined).sort()
  return times[0]
}

/** Percent and tags of a revision in its Service's (or Route's) traffic */
export function revisionTraffic(rev: ViewObject, owners: readonly ViewObject[]): { percent: number; tags: string[] } {
  let percent = 0
  const tags: string[] = []
  for (const owner of owners) {
    for (const t of owner.status?.traffic ?? []) {
      if (t.revisionName !== rev.metadata.name) continue
      percent += t.percent ?? 0
      if (t.tag !== undefined && t.tag !== '') tags.push(t.tag)
    }
  }
  return { percent, tags }
}

/** kn's SINK column (a Trigger's subscriber, a source's sink): `ksvc:NAME` for a Knative Service,
 * `kind:NAME` for another reference, else the URI. */
export function sinkText(dest: unknown): string {
  const d = (dest ?? {}) as { ref?: { kind?: string; apiVersion?: string; name?: string }; uri?: string }
  if (d.ref !== undefined) {
    const kind = d.ref.kind ?? ''
    return kind === 'Service' && (d.ref.apiVersion ?? '').startsWith('serving.knative.dev') ? `ksvc:${d.ref.name ?? ''}` : `${kind.toLowerCase()}:${d.ref.name ?? ''}`
  }
  return d.uri ?? ''
}

/** The Service a revision belongs to (label serving.knative.dev/service) */
export function serviceOf(o: ViewObject): string {
  return o.metadata.labels?.['serving.knative.dev/service'] ?? ''
}

/** A text table, columns padded as kn/kubectl print them (three spaces between columns); `--no-headers` leaves the head out. */
export function table(head: readonly string[], rows: readonly (readonly string[])[], withHead = true): string {
  const widths = head.map((h, i) => Math.max(withHead ? h.length : 0, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('   ').trimEnd()
  return [...(withHead ? [line(head)] : []), ...rows.map(line)].join('\n') + '\n'
}

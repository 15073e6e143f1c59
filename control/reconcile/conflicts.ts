// Host conflicts between ingresses (Kourier's DomainConflict). Every rule is served on the internal
// listener, so two ingresses claiming one host always collide there. The earlier ingress keeps the
// host; the later one is not served at all.
import type { KObject, SourceRef } from '../resources/types.ts'

/** Where an object stands in the input: by file and document, else by its index in the ResourceSet. */
export interface DeclOrder {
  readonly file?: string
  readonly doc?: number
  readonly index: number
}

export interface Claimant {
  /** unique id, e.g. `Ingress default/hello` */
  readonly id: string
  /** lower-case hosts of all rules ('*' for rules without hosts) */
  readonly hosts: readonly string[]
  readonly creationTimestamp?: string
  readonly order: DeclOrder
}

export interface ConflictResult {
  /** ids of the ingresses that are served */
  readonly served: ReadonlySet<string>
  /** loser id → the first contested host and the id that holds it */
  readonly lost: ReadonlyMap<string, { readonly host: string; readonly winner: string }>
}

export function declOrder(source: SourceRef | undefined, index: number): DeclOrder {
  return source === undefined ? { index } : { file: source.file, doc: source.doc, index }
}

export function orderOf(obj: KObject, index: number): DeclOrder {
  return declOrder(obj.source, index)
}

/** Older creationTimestamp first when both have one; otherwise declaration order. */
export function compareClaimants(a: Claimant, b: Claimant): number {
  if (a.creationTimestamp && b.creationTimestamp) {
    const d = Date.parse(a.creationTimestamp) - Date.parse(b.creationTimestamp)
    if (d !== 0 && !Number.isNaN(d)) return d
  }
  return compareDecl(a.order, b.order)
}

function compareDecl(a: DeclOrder, b: DeclOrder): number {
  if (a.file !== undefined && b.file !== undefined) {
    if (a.file !== b.file) return a.file < b.file ? -1 : 1
    if (a.doc !== b.doc) return (a.doc ?? 0) - (b.doc ?? 0)
  } else if (a.file !== undefined || b.file !== undefined) {
    // Objects with a known place come before ones without (e.g. built in code).
    return a.file !== undefined ? -1 : 1
  }
  return a.index - b.index
}

export function resolveConflicts(claimants: readonly Claimant[]): ConflictResult {
  const holder = new Map<string, string>()
  const served = new Set<string>()
  const lost = new Map<string, { host: string; winner: string }>()
  // compareClaimants, with each timestamp parsed once rather than twice per comparison (thousands of ingresses)
  const parsed = claimants.map((c) => ({ c, t: c.creationTimestamp ? Date.parse(c.creationTimestamp) : Number.NaN }))
  parsed.sort((a, b) => {
    const d = a.t - b.t
    return d !== 0 && !Number.isNaN(d) ? d : compareDecl(a.c.order, b.c.order)
  })
  for (const { c } of parsed) {
    const hosts = [...new Set(c.hosts)]
    const contested = hosts.find((h) => holder.has(h))
    if (contested !== undefined) {
      lost.set(c.id, { host: contested, winner: holder.get(contested)! })
      continue
    }
    for (const h of hosts) holder.set(h, c.id)
    served.add(c.id)
  }
  return { served, lost }
}

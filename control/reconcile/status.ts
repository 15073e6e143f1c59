// Condition helpers modelled on knative.dev/pkg's "living" ConditionSet: Ready is the AND of its
// dependents; a False dependent makes Ready False with the same reason, else an Unknown one makes
// it Unknown. Conditions are kept sorted by type, as Knative does.
import type { Condition, KObject } from '../resources/types.ts'
import { derivedKey } from './names.ts'

export type ConditionStatus = Condition['status']

/** RFC 3339 at second precision, the format Kubernetes writes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function condition(type: string, status: ConditionStatus, now: string, reason?: string, message?: string): Condition {
  const c: Condition = { type, status, lastTransitionTime: now }
  if (reason !== undefined && reason !== '') c.reason = reason
  if (message !== undefined && message !== '') c.message = message
  return c
}

export const isTrue = (c: Condition | undefined): boolean => c?.status === 'True'

/** Adds Ready computed from `dependents` (in Knative's order) and sorts everything by type. */
export function withReady(dependents: readonly Condition[], now: string, informational: readonly Condition[] = []): Condition[] {
  const failed = dependents.find((c) => c.status === 'False')
  const unknown = dependents.find((c) => c.status === 'Unknown')
  const ready = failed !== undefined
    ? condition('Ready', 'False', now, failed.reason, failed.message)
    : unknown !== undefined
      ? condition('Ready', 'Unknown', now, unknown.reason, unknown.message)
      : condition('Ready', 'True', now)
  return [...dependents, ...informational, ready].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
}

export function getCondition(obj: KObject, type: string): Condition | undefined {
  const conds = obj.status?.conditions as Condition[] | undefined
  return conds?.find((c) => c.type === type)
}

/**
 * `next` with every condition whose status (True/False/Unknown) is the same as in `previous`
 * keeping the previous lastTransitionTime, as knative.dev/pkg's ConditionSet.SetCondition does:
 * the time says when the status last changed, not when it was last computed (`sluice get`'s AGE
 * reads it). A new reason or message alone keeps the time too. Returns `previous` itself when
 * the result equals it and `next` itself when nothing was carried, so unchanged objects stay the
 * same objects (caches compare by reference).
 */
export function keepTransitionTimes(next: readonly Condition[], previous: readonly Condition[] | undefined): readonly Condition[] {
  if (previous === undefined || previous.length === 0 || next === previous) return next
  let out: Condition[] | null = null
  for (let i = 0; i < next.length; i++) {
    const c = next[i]!
    const old = previous.find((p) => p.type === c.type)
    if (old === undefined || old.status !== c.status || old.lastTransitionTime === undefined || c.lastTransitionTime === undefined || old.lastTransitionTime === c.lastTransitionTime) continue
    out ??= [...next]
    out[i] = { ...c, lastTransitionTime: old.lastTransitionTime }
  }
  const result = out ?? next
  return sameConditions(result, previous) ? previous : result
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.type !== y.type || x.status !== y.status || x.reason !== y.reason || x.message !== y.message || x.lastTransitionTime !== y.lastTransitionTime) return false
  }
  return true
}

/** kind, namespace and name, once per object (every object of every pass is looked up by it) */
const objectKeys = new WeakMap<object, string>()
const objectKey = (o: KObject): string => derivedKey(objectKeys, o, () => `${o.kind}\0${o.metadata.namespace}\0${o.metadata.name}`)

/**
 * Every object of `objects` whose status.conditions carry their times over from the same object
 * (kind, namespace, name) in `previous`, the last pass's output; objects without a change are
 * returned as they are.
 */
export function keepObjectTransitionTimes<T extends KObject>(objects: readonly T[], previous: readonly KObject[] | undefined): T[] {
  if (previous === undefined || previous.length === 0) return [...objects]
  const before = conditionsByKey(previous)
  return objects.map((o) => {
    const conds = o.status?.conditions as Condition[] | undefined
    if (conds === undefined) return o
    const kept = keepTransitionTimes(conds, before.get(objectKey(o)))
    return kept === conds ? o : { ...o, status: { ...o.status, conditions: kept } }
  })
}

/** Each pass asks about the same previous output several times (reconcile, then event sources): index it once. */
const indexed = new WeakMap<readonly KObject[], Map<string, readonly Condition[]>>()

function conditionsByKey(previous: readonly KObject[]): Map<string, readonly Condition[]> {
  let before = indexed.get(previous)
  if (before !== undefined) return before
  before = new Map()
  for (const o of previous) {
    const conds = o.status?.conditions as Condition[] | undefined
    if (conds !== undefined && conds.length > 0) before.set(objectKey(o), conds)
  }
  indexed.set(previous, before)
  return before
}

/** A copy of `c` under another type: how a parent mirrors a child's Ready (Service ← Route, Route ← Ingress). */
export function mirror(type: string, c: Condition | undefined, now: string, whenMissing: Condition): Condition {
  if (c === undefined) return whenMissing
  return condition(type, c.status, now, c.reason, c.message)
}

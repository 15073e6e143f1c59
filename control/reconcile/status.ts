// Condition helpers modelled on knative.dev/pkg's "living" ConditionSet: Ready is the AND of its
// dependents; a False dependent makes Ready False with the same reason, else an Unknown one makes
// it Unknown. Conditions are kept sorted by type, as Knative does.
import type { Condition, KObject } from '../resources/types.ts'

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

/** A copy of `c` under another type: how a parent mirrors a child's Ready (Service ← Route, Route ← Ingress). */
export function mirror(type: string, c: Condition | undefined, now: string, whenMissing: Condition): Condition {
  if (c === undefined) return whenMissing
  return condition(type, c.status, now, c.reason, c.message)
}

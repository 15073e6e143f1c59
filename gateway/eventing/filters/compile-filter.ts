// Trigger filters compiled once, when the table is built: the legacy `filter.attributes` map and the
// Subscriptions API `filters` dialects (exact, prefix, suffix, all, any, not, cesql).
// Skeleton: only `filter.attributes` exact matching so far; the filters work replaces this file.
import type { EventFilter, SubscriptionsApiFilter } from '../types.ts'

const PASS: EventFilter = () => true

/** `filters`, when non-empty, wins over `filter` (as Knative: the legacy filter is then ignored). */
export function compileTriggerFilter(filter: { attributes?: Record<string, string> } | undefined, filters: readonly SubscriptionsApiFilter[] | undefined): EventFilter {
  if (filters !== undefined && filters.length > 0) return PASS
  const wanted = Object.entries(filter?.attributes ?? {})
  if (wanted.length === 0) return PASS
  return (event) => wanted.every(([k, v]) => {
    const got = event.attributes[k]
    return got !== undefined && (v === '' ? got !== '' : got === v)
  })
}

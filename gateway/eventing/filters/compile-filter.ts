// Trigger filters compiled once, when the table is built: the legacy `filter.attributes` map and the
// Subscriptions API `filters` dialects (exact, prefix, suffix, all, any, not, cesql), chosen as
// Knative's broker filter does (knative/eventing pkg/broker/filter/filter_handler.go filterEvent).
import type { EventFilter, SubscriptionsApiFilter } from '../types.ts'
import { compileFilterList } from './dialects.ts'
import { compileAttributesFilter } from './legacy.ts'
import { allOf } from './ordered.ts'

const PASS: EventFilter = () => true

/**
 * `filters`, when non-empty, wins over `filter` (as Knative: the legacy filter is then ignored);
 * its elements are ANDed. No filter at all, or nothing but empty elements, passes every event.
 * The returned closure never throws: a CESQL evaluation error is "no match".
 */
export function compileTriggerFilter(filter: { attributes?: Record<string, string> } | undefined, filters: readonly SubscriptionsApiFilter[] | undefined): EventFilter {
  if (filters !== undefined && filters !== null && filters.length > 0) {
    const children = compileFilterList(filters)
    return children.length === 0 ? PASS : allOf(children)
  }
  return compileAttributesFilter(filter?.attributes) ?? PASS
}

// The legacy Trigger `spec.filter.attributes` filter: a port of Knative's attributesFilter
// (knative/eventing pkg/eventfilter/attributes/filter.go). Every key must match exactly
// (case-sensitive); the value "" means "present and non-empty". Compared as canonical strings.
import type { CloudEventRecord, EventFilter } from '../types.ts'
import { attributeGetter } from './lookup.ts'
import type { AttributeGetter } from './lookup.ts'

/** null = no constraint (Knative's NoFilter: a nil map). */
export function compileAttributesFilter(attributes: Readonly<Record<string, string>> | undefined): EventFilter | null {
  if (attributes === undefined || attributes === null) return null
  const keys = Object.keys(attributes)
  const getters: AttributeGetter[] = keys.map(attributeGetter)
  const wanted: string[] = keys.map((k) => String(attributes[k]))
  const n = keys.length
  return (event: CloudEventRecord) => {
    for (let i = 0; i < n; i++) {
      const got = getters[i]!(event)
      const want = wanted[i]!
      if (got === undefined) return false
      if (want === '' ? got === '' : got !== want) return false
    }
    return true
  }
}

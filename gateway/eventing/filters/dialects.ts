// The CloudEvents Subscriptions API filter dialects of Trigger `spec.filters`: a port of Knative's
// MaterializeSubscriptionsAPIFilter (knative/eventing pkg/eventfilter/subscriptionsapi/create.go and
// its exact/prefix/suffix/all/any/not/cesql filters). Each element is compiled once into a closure.
//
// Knative's three-valued result (Pass, Fail, NoFilter) is resolved here at compile time: `null`
// stands for NoFilter ("no constraint") and is dropped from lists, so evaluation is boolean.
//  - absent content is no constraint, as in Knative: an element with no dialect, `all: []`,
//    `any: []`, `not: {}` (admission rejects all of these anyway);
//  - broken content matches nothing: a CESQL expression that does not parse, an exact/prefix/suffix
//    with an empty attribute or value. Knative silently drops such an element (letting every event
//    through); admission rejects them too, so this only matters if validation was bypassed.
// When an element sets several dialects (admission rejects that), the first in Knative's order wins:
// exact, prefix, suffix, all, any, not, cesql.
import type { CloudEventRecord, EventFilter, SubscriptionsApiFilter } from '../types.ts'
import { compileCesql } from '../cesql/evaluate.ts'
import { parseCesql } from '../cesql/parse.ts'
import { attributeGetter } from './lookup.ts'
import type { AttributeGetter } from './lookup.ts'
import { allOf, anyOf } from './ordered.ts'

export const NEVER: EventFilter = () => false

type Compare = (got: string, want: string) => boolean
const exact: Compare = (got, want) => got === want
const prefix: Compare = (got, want) => got.startsWith(want)
const suffix: Compare = (got, want) => got.endsWith(want)

function nonEmpty<T>(x: T[] | undefined): x is T[] { return Array.isArray(x) && x.length > 0 }
function hasKeys(x: Record<string, string> | undefined): x is Record<string, string> {
  return x !== undefined && x !== null && Object.keys(x).length > 0
}

/** exact / prefix / suffix: every attribute must be present and compare true (case-sensitive). */
function compileMatch(map: Record<string, string>, cmp: Compare): EventFilter {
  const keys = Object.keys(map)
  const wanted = keys.map((k) => map[k])
  if (keys.some((k, i) => k === '' || typeof wanted[i] !== 'string' || wanted[i] === '')) return NEVER
  const getters: AttributeGetter[] = keys.map(attributeGetter)
  const values = wanted as string[]
  const n = keys.length
  if (n === 1) {
    // the common case, one closure per dialect so each call site stays monomorphic
    const g = getters[0]!, v = values[0]!
    if (cmp === exact) return (event: CloudEventRecord) => g(event) === v
    if (cmp === prefix) return (event: CloudEventRecord) => { const got = g(event); return got !== undefined && got.startsWith(v) }
    return (event: CloudEventRecord) => { const got = g(event); return got !== undefined && got.endsWith(v) }
  }
  return (event: CloudEventRecord) => {
    for (let i = 0; i < n; i++) {
      const got = getters[i]!(event)
      if (got === undefined || !cmp(got, values[i]!)) return false
    }
    return true
  }
}

function compileCesqlFilter(source: string): EventFilter {
  let program
  try {
    program = compileCesql(parseCesql(source))
  } catch {
    return NEVER
  }
  return (event: CloudEventRecord) => program.matches(event.attributes)
}

/** A list of elements: the compiled, non-null ones (NoFilter entries dropped). */
export function compileFilterList(list: readonly SubscriptionsApiFilter[]): EventFilter[] {
  const out: EventFilter[] = []
  for (const f of list) {
    const c = compileSubscriptionsApiFilter(f)
    if (c !== null) out.push(c)
  }
  return out
}

/** One element of `spec.filters`; null = no constraint. */
export function compileSubscriptionsApiFilter(f: SubscriptionsApiFilter | undefined | null): EventFilter | null {
  if (f === undefined || f === null) return null
  if (hasKeys(f.exact)) return compileMatch(f.exact, exact)
  if (hasKeys(f.prefix)) return compileMatch(f.prefix, prefix)
  if (hasKeys(f.suffix)) return compileMatch(f.suffix, suffix)
  if (nonEmpty(f.all)) {
    const children = compileFilterList(f.all)
    return children.length === 0 ? null : allOf(children)
  }
  if (nonEmpty(f.any)) {
    const children = compileFilterList(f.any)
    return children.length === 0 ? null : anyOf(children)
  }
  if (f.not !== undefined && f.not !== null) {
    const inner = compileSubscriptionsApiFilter(f.not)
    if (inner === null) return null
    return (event: CloudEventRecord) => !inner(event)
  }
  if (typeof f.cesql === 'string' && f.cesql !== '') return compileCesqlFilter(f.cesql)
  return null
}

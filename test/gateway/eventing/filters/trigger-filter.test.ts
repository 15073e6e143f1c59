// Sluice's Trigger filter semantics beyond Knative's tables (eventing.md §1.3): `filters` wins over
// `filter`, canonical-string attributes (typed extensions stringified, `time` as received),
// CESQL errors are "no match", broken elements match nothing, and any/all reordering is invisible.
import t from 'tap'
import type { CloudEventRecord, EventFilter } from '../../../../gateway/eventing/types.ts'
import { compileTriggerFilter } from '../../../../gateway/eventing/filters/compile-filter.ts'
import { anyOf } from '../../../../gateway/eventing/filters/ordered.ts'

const base = { specversion: '1.0', id: 'e1', source: '/orders', type: 'com.example.order.created' }
const ev = (extra: Record<string, string> = {}): CloudEventRecord => ({ attributes: { ...base, ...extra }, data: null })

t.test('filters wins over filter when non-empty; empty filters falls back to filter', async (t) => {
  const legacy = { attributes: { type: 'other' } }
  t.equal(compileTriggerFilter(legacy, [{ prefix: { type: 'com.example.' } }])(ev()), true, 'filters used, legacy ignored')
  t.equal(compileTriggerFilter(legacy, [])(ev()), false, 'empty filters: legacy applies')
  t.equal(compileTriggerFilter(legacy, undefined)(ev()), false, 'no filters: legacy applies')
  t.equal(compileTriggerFilter(undefined, undefined)(ev()), true, 'no filter at all passes')
  t.equal(compileTriggerFilter({}, undefined)(ev()), true, 'filter without attributes passes')
  t.equal(compileTriggerFilter({ attributes: {} }, undefined)(ev()), true, 'empty attributes pass')
})

t.test('filters elements are ANDed', async (t) => {
  const f = compileTriggerFilter(undefined, [{ prefix: { type: 'com.example.' } }, { suffix: { type: '.created' } }, { exact: { source: '/orders' } }])
  t.equal(f(ev()), true)
  t.equal(f(ev({ source: '/other' })), false)
  t.equal(f(ev({ type: 'com.example.order.deleted' })), false)
})

t.test('legacy filter.attributes', async (t) => {
  t.equal(compileTriggerFilter({ attributes: { subject: '' } }, undefined)(ev()), false, '"" needs the attribute present')
  t.equal(compileTriggerFilter({ attributes: { subject: '' } }, undefined)(ev({ subject: '' })), false, '"" needs it non-empty')
  t.equal(compileTriggerFilter({ attributes: { subject: '' } }, undefined)(ev({ subject: 'x' })), true)
  t.equal(compileTriggerFilter({ attributes: { type: 'COM.EXAMPLE.ORDER.CREATED' } }, undefined)(ev()), false, 'case-sensitive')
  t.equal(compileTriggerFilter({ attributes: { myext: '' } }, undefined)(ev()), false, 'missing extension')
  t.equal(compileTriggerFilter({ attributes: { constructor: '' } }, undefined)(ev()), false, 'prototype names are not attributes')
  t.equal(compileTriggerFilter({ attributes: { datamediatype: 'application/json' } }, undefined)(ev({ datacontenttype: 'application/json; charset=utf-8' })), true, 'datamediatype strips parameters')
  t.equal(compileTriggerFilter({ attributes: { schemaurl: 'http://s' } }, undefined)(ev({ dataschema: 'http://s' })), true, 'schemaurl aliases dataschema')
  t.equal(compileTriggerFilter({ attributes: { time: '' } }, undefined)(ev()), true, 'unset time reads as Go zero time (Knative quirk)')
})

t.test('exact/prefix/suffix: case-sensitive, missing attribute is false', async (t) => {
  for (const dialect of ['exact', 'prefix', 'suffix'] as const) {
    t.equal(compileTriggerFilter(undefined, [{ [dialect]: { myext: 'v' } }])(ev()), false, `${dialect}: missing extension`)
    t.equal(compileTriggerFilter(undefined, [{ [dialect]: { subject: 'v' } }])(ev()), false, `${dialect}: missing subject`)
  }
  t.equal(compileTriggerFilter(undefined, [{ prefix: { type: 'COM.' } }])(ev()), false, 'prefix case-sensitive')
  t.equal(compileTriggerFilter(undefined, [{ suffix: { type: '.CREATED' } }])(ev()), false, 'suffix case-sensitive')
})

t.test('typed extensions are strings; time compares as received', async (t) => {
  // a structured-mode JSON number 10 and boolean true reach the record as "10" and "true"
  const e = ev({ myint: '10', mybool: 'true', time: '2018-04-26T14:48:09+02:00' })
  t.equal(compileTriggerFilter(undefined, [{ exact: { myint: '10' } }])(e), true, 'exact on stringified integer')
  t.equal(compileTriggerFilter(undefined, [{ cesql: 'myint = 10' }])(e), true, 'CESQL casts to the right operand type')
  t.equal(compileTriggerFilter(undefined, [{ cesql: 'myint + 1 = 11' }])(e), true)
  t.equal(compileTriggerFilter(undefined, [{ cesql: 'BOOL(mybool)' }])(e), true)
  t.equal(compileTriggerFilter(undefined, [{ cesql: 'mybool' }])(e), false, 'a bare string is not a Boolean result: no match')
  t.equal(compileTriggerFilter(undefined, [{ exact: { time: '2018-04-26T14:48:09+02:00' } }])(e), true, 'time as received')
  t.equal(compileTriggerFilter(undefined, [{ exact: { time: '2018-04-26T12:48:09Z' } }])(e), false, 'same instant, other text: no match')
  t.equal(compileTriggerFilter(undefined, [{ cesql: "time LIKE '2018-04-26T%'" }])(e), true)
})

t.test('CESQL evaluation errors are "no match"', async (t) => {
  const cases = ['1 / 0 = 0', 'missing = 1', "NOT missing", "INT('abc') = 0", 'NOT 10', 'ABS(-2147483648) > 0', 'NOSUCHFN(type)', "type", '1 + 1']
  for (const expr of cases) t.equal(compileTriggerFilter(undefined, [{ cesql: expr }])(ev()), false, expr)
  t.equal(compileTriggerFilter(undefined, [{ cesql: 'EXISTS type AND NOT EXISTS subject' }])(ev()), true)
  t.equal(compileTriggerFilter(undefined, [{ not: { cesql: 'missing = 1' } }])(ev()), true, 'not of an erroring expression passes (not is over the match result, as Knative)')
})

t.test('broken elements match nothing (Knative would drop them; admission rejects them)', async (t) => {
  t.equal(compileTriggerFilter(undefined, [{ cesql: "type = 'unterminated" }])(ev()), false, 'unparsable CESQL')
  t.equal(compileTriggerFilter(undefined, [{ exact: { type: '' } }])(ev()), false, 'empty exact value')
  t.equal(compileTriggerFilter(undefined, [{ prefix: { '': 'x' } }])(ev()), false, 'empty prefix attribute')
  t.equal(compileTriggerFilter(undefined, [{}])(ev()), true, 'an element with no dialect is no constraint (as Knative)')
  t.equal(compileTriggerFilter(undefined, [{ any: [] }, { not: {} }])(ev()), true, 'empty any/not: no constraint')
})

t.test('first dialect in Knative order wins when several are set', async (t) => {
  t.equal(compileTriggerFilter(undefined, [{ exact: { type: base.type }, cesql: 'false' }])(ev()), true)
  t.equal(compileTriggerFilter(undefined, [{ prefix: { type: 'nope' }, suffix: { type: '.created' } }])(ev()), false)
})

t.test('any reorders children by hit count without changing results', async (t) => {
  const calls = [0, 0, 0]
  const child = (i: number, pred: (e: CloudEventRecord) => boolean): EventFilter => (e) => { calls[i]!++; return pred(e) }
  const f = anyOf([
    child(0, (e) => e.attributes['type'] === 'a'),
    child(1, (e) => e.attributes['type'] === 'b'),
    child(2, (e) => e.attributes['type'] === 'c'),
  ])
  for (let i = 0; i < 100; i++) t.equal(f(ev({ type: 'c' })), true)
  calls.fill(0)
  t.equal(f(ev({ type: 'c' })), true)
  t.same(calls, [0, 0, 1], 'the hot child now runs first')
  t.equal(f(ev({ type: 'a' })), true, 'others still match')
  t.equal(f(ev({ type: 'zzz' })), false)
  const all = compileTriggerFilter(undefined, [{ all: [{ prefix: { type: 'com.' } }, { suffix: { type: '.x' } }] }])
  for (let i = 0; i < 50; i++) t.equal(all(ev()), false)
  t.equal(all(ev({ type: 'com.y.x' })), true, 'all after reordering')
})

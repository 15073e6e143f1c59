// Knative's own filter test tables, replayed against gateway/eventing/filters: knative/eventing
// (8cf4c4b) pkg/eventfilter/attributes/filter_test.go and pkg/eventfilter/subscriptionsapi/
// {exact,prefix,suffix,all,any,not,cesql,no}_filter_test.go. Case names are Knative's.
// Knative's three results map as: PassFilter → true, FailFilter → false, NoFilter → no constraint
// (compile returns null; at trigger level it passes).
import t from 'tap'
import type { Test } from 'tap'
import type { CloudEventRecord, EventFilter, SubscriptionsApiFilter } from '../../../../gateway/eventing/types.ts'
import { compileAttributesFilter } from '../../../../gateway/eventing/filters/legacy.ts'
import { compileSubscriptionsApiFilter } from '../../../../gateway/eventing/filters/dialects.ts'
import { allOf, anyOf } from '../../../../gateway/eventing/filters/ordered.ts'
import { compileTriggerFilter } from '../../../../gateway/eventing/filters/compile-filter.ts'

type Result = 'pass' | 'fail' | 'none'

function ev(attributes: Record<string, string>): CloudEventRecord {
  return { attributes, data: null }
}

function run(f: EventFilter | null, e: CloudEventRecord): Result {
  return f === null ? 'none' : f(e) ? 'pass' : 'fail'
}

t.test('attributes/filter_test.go', async (t) => {
  const eventType = 'com.example.someevent'
  const eventSource = '/mycontext'
  const extensionName = 'myextension'
  const extensionValue = 'my-extension-value'
  const subjectValue = 'mysubject'
  const makeEvent = (): Record<string, string> => ({ specversion: '1.0', type: eventType, source: eventSource, id: '1234' })
  const withExtension = (n: string, v: string) => ev({ ...makeEvent(), [n]: v })
  const withSubject = (s: string) => ev({ ...makeEvent(), subject: s })
  const attributes = (type: string, source: string) => ({ type, source })
  const attributesWithExtension = (type: string, source: string, e: string) => ({ type, source, [extensionName]: e })
  const attributesWithSubject = (type: string, source: string, subject: string) => ({ type, source, subject })

  const table: Record<string, { filter: Record<string, string>; event?: CloudEventRecord; want: Result }> = {
    'Wrong type': { filter: attributes('some-other-type', ''), want: 'fail' },
    'Wrong type with attribs': { filter: attributes('some-other-type', ''), want: 'fail' },
    'Wrong source': { filter: attributes('', 'some-other-source'), want: 'fail' },
    'Wrong source with attribs': { filter: attributes('', 'some-other-source'), want: 'fail' },
    'Wrong extension': { filter: attributes('', 'some-other-source'), want: 'fail' },
    'Any': { filter: attributes('', ''), want: 'pass' },
    'Specific': { filter: attributes(eventType, eventSource), want: 'pass' },
    'Extension with attribs': { filter: attributesWithExtension(eventType, eventSource, extensionValue), event: withExtension(extensionName, extensionValue), want: 'pass' },
    'Any Extension with attribs - without Extension in Event': { filter: attributesWithExtension(eventType, eventSource, ''), want: 'fail' },
    'Any Extension with attribs - with Extension in Event': { filter: attributesWithExtension(eventType, eventSource, ''), event: withExtension(extensionName, extensionValue), want: 'pass' },
    'Subject with attribs': { filter: attributesWithSubject(eventType, eventSource, subjectValue), event: withSubject(subjectValue), want: 'pass' },
    'Any Subject with attribs - without Subject in Event': { filter: attributesWithSubject(eventType, eventSource, ''), want: 'fail' },
    'Any Subject with attribs - with Subject in Event': { filter: attributesWithSubject(eventType, eventSource, ''), event: withSubject(subjectValue), want: 'pass' },
    'Any with attribs - Arrival extension': { filter: attributes('', ''), event: withExtension('knativearrivaltime', '2019-08-26T23:38:17.834384404Z'), want: 'pass' },
    'Wrong Extension with attribs': { filter: attributesWithExtension(eventType, eventSource, 'some-other-extension-value'), event: withExtension(extensionName, extensionValue), want: 'fail' },
  }
  for (const [name, tc] of Object.entries(table)) {
    t.equal(run(compileAttributesFilter(tc.filter), tc.event ?? ev(makeEvent())), tc.want, name)
  }
  t.equal(run(compileAttributesFilter(undefined), ev(makeEvent())), 'none', 'nil attributes: NoFilter')

  // TestAllSupportedAttributeFieldsV1: no `time` set, so Go reads the zero time's text
  const e = ev({ specversion: '1.0', type: eventType, source: eventSource, id: '1234', dataschema: 'wow', subject: 'cool', datacontenttype: 'cheers;mate' })
  t.equal(run(compileAttributesFilter({
    specversion: '1.0', type: eventType, source: eventSource, subject: 'cool', id: '1234', time: '0001-01-01T00:00:00Z',
    dataschema: 'wow', schemaurl: 'wow', datacontenttype: 'cheers;mate', datamediatype: 'cheers',
  }), e), 'pass', 'TestAllSupportedAttributeFieldsV1')

  // TestV03Event
  t.equal(run(compileAttributesFilter({ datacontentencoding: 'perfect' }), ev({ specversion: '0.3', type: 't', source: 's', id: '1', datacontentencoding: 'perfect' })), 'pass', 'TestV03Event')
})

// subscriptionsapi/*_test.go share this event (all_filter_test.go makeEvent)
const eventType = 'dev.knative.example'
const eventSource = 'knativesource'
const extensionName = 'myextension'
const extensionValue = 'my-extension-value'
const makeEvent = (): Record<string, string> => ({ specversion: '1.0', type: eventType, source: eventSource, id: '1234', knativebrokerttl: '20' })
const makeEventWithExtension = (n: string, v: string) => ev({ ...makeEvent(), [n]: v })

function dialectTables(t: Test, dialect: 'exact' | 'prefix' | 'suffix',
  single: Record<string, { attribute: string; value: string; event?: CloudEventRecord; want: Result }>,
  multiple: Record<string, { attributes: [string, string]; values: [string, string]; event?: CloudEventRecord; want: Result }>): void {
  for (const [name, tc] of Object.entries(single)) {
    const f = compileSubscriptionsApiFilter({ [dialect]: { [tc.attribute]: tc.value } })
    t.equal(run(f, tc.event ?? ev(makeEvent())), tc.want, name)
  }
  for (const [name, tc] of Object.entries(multiple)) {
    const f = compileSubscriptionsApiFilter({ [dialect]: { [tc.attributes[0]]: tc.values[0], [tc.attributes[1]]: tc.values[1] } })
    t.equal(run(f, tc.event ?? ev(makeEvent())), tc.want, `multiple: ${name}`)
  }
}

t.test('subscriptionsapi/exact_filter_test.go', async (t) => {
  dialectTables(t, 'exact', {
    'Wrong type': { attribute: 'type', value: 'some-other-type', want: 'fail' },
    'Wrong source': { attribute: 'source', value: 'some-other-source', want: 'fail' },
    'Wrong extension': { attribute: extensionName, value: 'some-other-extension', want: 'fail' },
    'Match type': { attribute: 'type', value: eventType, want: 'pass' },
    'Match extension': { attribute: extensionName, value: extensionValue, event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
    'Missing attribute': { attribute: 'missingattribute', value: 'missingvalue', want: 'fail' },
  }, {
    'Wrong type and source': { attributes: ['type', 'source'], values: ['some-other-type', 'some-other-source'], want: 'fail' },
    'Match type and wrong source': { attributes: ['type', 'source'], values: [eventType, 'some-other-source'], want: 'fail' },
    'Match type and match source': { attributes: ['type', 'source'], values: [eventType, eventSource], want: 'pass' },
    'Match type and missing extension': { attributes: ['type', extensionName], values: [eventType, extensionValue], want: 'fail' },
    'Match type and match extension': { attributes: ['type', extensionName], values: [eventType, extensionValue], event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
  })

  // TestExactTimeMatchIsStable (cetest.FullEvent has a time; it compares as its text, every time)
  const full = ev({ ...makeEvent(), time: '2020-03-21T12:34:56.780Z', subject: 'topic', dataschema: 'http://example.com/schema', datacontenttype: 'text/json' })
  const f = compileSubscriptionsApiFilter({ exact: { time: '2020-03-21T12:34:56.780Z' } })!
  let failCount = 0
  for (let i = 0; i < 1000; i++) if (!f(full)) failCount++
  t.equal(failCount, 0, 'TestExactTimeMatchIsStable')
})

t.test('subscriptionsapi/prefix_filter_test.go', async (t) => {
  const eventTypePrefix = 'dev.knative'
  const eventSourcePrefix = 'knative'
  const extensionValuePrefix = 'my-extension'
  dialectTables(t, 'prefix', {
    'Missing attribute': { attribute: 'some-other-attribute', value: 'wrong.prefix', want: 'fail' },
    'Wrong type prefix': { attribute: 'type', value: 'wrong.prefix', want: 'fail' },
    'Wrong source prefix': { attribute: 'source', value: 'wrong.prefix', want: 'fail' },
    'Wrong extension prefix': { attribute: extensionName, value: 'wrong.prefix', want: 'fail' },
    'Match type prefix': { attribute: 'type', value: eventTypePrefix, want: 'pass' },
    'Match extension prefix': { attribute: extensionName, value: extensionValuePrefix, event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
  }, {
    'Wrong type and source prefix': { attributes: ['type', 'source'], values: ['wrong.prefix', 'wrong.prefix'], want: 'fail' },
    'Match type and wrong source prefix': { attributes: ['type', 'source'], values: [eventTypePrefix, 'wrong.prefix'], want: 'fail' },
    'Match type and source prefix': { attributes: ['type', 'source'], values: [eventTypePrefix, eventSourcePrefix], want: 'pass' },
    'Match type and missing extension': { attributes: ['type', extensionName], values: [eventTypePrefix, 'attri.prefix'], want: 'fail' },
    'Match type and extension prefix': { attributes: ['type', extensionName], values: [eventTypePrefix, extensionValuePrefix], event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
  })
})

t.test('subscriptionsapi/suffix_filter_test.go', async (t) => {
  const eventTypeSuffix = '.knative.example'
  const eventSourceSuffix = 'source'
  const extensionValueSuffix = 'extension-value'
  dialectTables(t, 'suffix', {
    'Missing attribute': { attribute: 'some-other-attribute', value: 'wrong.suffix', want: 'fail' },
    'Wrong type suffix': { attribute: 'type', value: 'wrong.suffix', want: 'fail' },
    'Wrong source suffix': { attribute: 'source', value: 'wrong.suffix', want: 'fail' },
    'Wrong extension suffix': { attribute: extensionName, value: 'wrong.suffix', want: 'fail' },
    'Match type suffix': { attribute: 'type', value: eventTypeSuffix, want: 'pass' },
    'Match extension suffix': { attribute: extensionName, value: extensionValueSuffix, event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
  }, {
    'Wrong type and source': { attributes: ['type', 'source'], values: ['wrong.suffix', 'wrong.suffix'], want: 'fail' },
    'Match type and wrong source': { attributes: ['type', 'source'], values: [eventTypeSuffix, 'wrong.suffix'], want: 'fail' },
    'Match type and match source': { attributes: ['type', 'source'], values: [eventTypeSuffix, eventSourceSuffix], want: 'pass' },
    'Match type and missing extension': { attributes: ['type', extensionName], values: [eventTypeSuffix, 'attri.suffix'], want: 'fail' },
    'Match type and match extension': { attributes: ['type', extensionName], values: [eventTypeSuffix, extensionValueSuffix], event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
  })
})

// all/any/not tables use stub children; as filters elements, pass/fail are CESQL `true`/`false`
const Pass: EventFilter = () => true
const Fail: EventFilter = () => false
const P: SubscriptionsApiFilter = { cesql: 'true' }
const F: SubscriptionsApiFilter = { cesql: 'false' }

function nestedTables(t: Test, kind: 'all' | 'any', combine: (c: EventFilter[]) => EventFilter, want: Record<string, Result>): void {
  const name = kind === 'all' ? 'All' : 'Any'
  const e = ev(makeEvent())
  t.equal(run(compileSubscriptionsApiFilter({ [kind]: [] }), e), 'none', 'Empty')
  const stubs: Record<string, EventFilter[]> = {
    'One Pass': [Pass], 'One Fail': [Fail], 'Pass and Fail': [Pass, Fail],
    'Pass and Pass': [Pass, Pass], 'Fail and Fail': [Fail, Fail],
  }
  const elems: Record<string, SubscriptionsApiFilter[]> = {
    'One Pass': [P], 'One Fail': [F], 'Pass and Fail': [P, F], 'Pass and Pass': [P, P], 'Fail and Fail': [F, F],
  }
  for (const [label, children] of Object.entries(stubs)) {
    t.equal(run(combine(children), e), want[label], `Flat ${label}`)
    t.equal(run(compileSubscriptionsApiFilter({ [kind]: elems[label] }), e), want[label], `Flat ${label} (spec.filters element)`)
  }
  // TestXFilter_WithNested: X(outer..., X(inner...))
  const nested: [string, SubscriptionsApiFilter[], SubscriptionsApiFilter[]][] = [
    ['X(X(Pass))', [], [P]], ['X(X(Fail))', [], [F]], ['X(Pass,X(Fail))', [P], [F]], ['X(Pass,X(Pass))', [P], [P]],
    ['X(Fail,X(Fail))', [F], [F]], ['X(Fail,X(Pass))', [F], [P]], ['X(Pass,X(Pass,Fail))', [P], [P, F]],
    ['X(Pass,X(Pass,Pass))', [P], [P, P]], ['X(Pass,X(Fail,Fail))', [P], [F, F]], ['X(Fail,X(Pass,Fail))', [F], [P, F]],
    ['X(Fail,X(Pass,Pass))', [F], [P, P]], ['X(Fail,X(Fail,Fail))', [F], [F, F]],
  ]
  for (const [label, outer, inner] of nested) {
    const knativeName = label.replaceAll('X', name)
    t.equal(run(compileSubscriptionsApiFilter({ [kind]: [...outer, { [kind]: inner }] }), e), want[knativeName], knativeName)
  }
}

t.test('subscriptionsapi/all_filter_test.go', async (t) => {
  nestedTables(t, 'all', allOf, {
    'One Pass': 'pass', 'One Fail': 'fail', 'Pass and Fail': 'fail', 'Pass and Pass': 'pass', 'Fail and Fail': 'fail',
    'All(All(Pass))': 'pass', 'All(All(Fail))': 'fail', 'All(Pass,All(Fail))': 'fail', 'All(Pass,All(Pass))': 'pass',
    'All(Fail,All(Fail))': 'fail', 'All(Fail,All(Pass))': 'fail', 'All(Pass,All(Pass,Fail))': 'fail',
    'All(Pass,All(Pass,Pass))': 'pass', 'All(Pass,All(Fail,Fail))': 'fail', 'All(Fail,All(Pass,Fail))': 'fail',
    'All(Fail,All(Pass,Pass))': 'fail', 'All(Fail,All(Fail,Fail))': 'fail',
  })
})

t.test('subscriptionsapi/any_filter_test.go', async (t) => {
  nestedTables(t, 'any', anyOf, {
    'One Pass': 'pass', 'One Fail': 'fail', 'Pass and Fail': 'pass', 'Pass and Pass': 'pass', 'Fail and Fail': 'fail',
    'Any(Any(Pass))': 'pass', 'Any(Any(Fail))': 'fail', 'Any(Pass,Any(Fail))': 'pass', 'Any(Pass,Any(Pass))': 'pass',
    'Any(Fail,Any(Fail))': 'fail', 'Any(Fail,Any(Pass))': 'pass', 'Any(Pass,Any(Pass,Fail))': 'pass',
    'Any(Pass,Any(Pass,Pass))': 'pass', 'Any(Pass,Any(Fail,Fail))': 'pass', 'Any(Fail,Any(Pass,Fail))': 'pass',
    'Any(Fail,Any(Pass,Pass))': 'pass', 'Any(Fail,Any(Fail,Fail))': 'fail',
  })
})

t.test('subscriptionsapi/not_filter_test.go', async (t) => {
  const e = ev(makeEvent())
  t.equal(run(compileSubscriptionsApiFilter({ not: {} }), e), 'none', 'Empty')
  t.equal(run(compileSubscriptionsApiFilter({ not: P }), e), 'fail', 'Not Pass')
  t.equal(run(compileSubscriptionsApiFilter({ not: F }), e), 'pass', 'Not Fail')
})

t.test('subscriptionsapi/no_filter_test.go', async (t) => {
  t.equal(run(compileSubscriptionsApiFilter({}), ev(makeEvent())), 'none', 'no filter')
  t.equal(compileTriggerFilter(undefined, undefined)(ev(makeEvent())), true, 'NoFilter passes at trigger level')
})

t.test('subscriptionsapi/cesql_filter_test.go', async (t) => {
  const table: Record<string, { expression: string; event?: CloudEventRecord; want: Result }> = {
    'Missing expression': { expression: '', want: 'none' },
    'Wrong type': { expression: `type = 'wrong.type'`, want: 'fail' },
    'Wrong extension prefix': { expression: `${extensionName} = 'wrong.extension'`, want: 'fail' },
    'Match type': { expression: `type = '${eventType}'`, want: 'pass' },
    'Match extension': { expression: `${extensionName} = '${extensionValue}'`, event: makeEventWithExtension(extensionName, extensionValue), want: 'pass' },
    'Match numeric extension': { expression: 'knativebrokerttl < 30', want: 'pass' },
    'Match type OR Source': { expression: `(type = '${eventType}') OR (source = 'some-other-source')`, want: 'pass' },
    'Missing attribute less than comparison': { expression: 'missingattribute < 5', want: 'fail' },
    'Missing attribute equals comparison': { expression: 'missingattribute = missinsvalue', want: 'fail' },
  }
  for (const [name, tc] of Object.entries(table)) {
    t.equal(run(compileSubscriptionsApiFilter({ cesql: tc.expression }), tc.event ?? ev(makeEvent())), tc.want, name)
  }
})

// Attribute lookup for Trigger filters: a port of Knative's LookupAttribute
// (knative/eventing pkg/eventfilter/attributes/filter.go), used by `filter.attributes` and by the
// exact/prefix/suffix dialects. Context attributes always "exist" (unset ones read as ""); `time`
// unset reads as Go's zero time text; `schemaurl` aliases `dataschema`; `datamediatype` is
// `datacontenttype` without parameters; any other name is an extension, present or missing.
// Values are Sluice's canonical strings (types.ts), so `time` compares as the text received.
import type { CloudEventRecord } from '../types.ts'

/** Reads one attribute; undefined = missing (only extensions can be missing). */
export type AttributeGetter = (event: CloudEventRecord) => string | undefined

/** What Go's `time.Time{}.MarshalText()` gives for an event without `time`. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

function context(name: string): AttributeGetter {
  return (e) => {
    const v = e.attributes[name]
    return typeof v === 'string' ? v : ''
  }
}

const dataschema: AttributeGetter = (e) => {
  const a = e.attributes
  const v = a['dataschema'] ?? a['schemaurl']
  return typeof v === 'string' ? v : ''
}

const GETTERS: ReadonlyMap<string, AttributeGetter> = new Map<string, AttributeGetter>([
  ['specversion', context('specversion')],
  ['type', context('type')],
  ['source', context('source')],
  ['subject', context('subject')],
  ['id', context('id')],
  ['time', (e) => { const v = e.attributes['time']; return typeof v === 'string' && v !== '' ? v : GO_ZERO_TIME }],
  ['dataschema', dataschema],
  ['schemaurl', dataschema],
  ['datacontenttype', context('datacontenttype')],
  ['datamediatype', (e) => {
    const v = e.attributes['datacontenttype']
    if (typeof v !== 'string') return ''
    const i = v.indexOf(';')
    return i < 0 ? v : v.slice(0, i).trim()
  }],
  ['datacontentencoding', context('datacontentencoding')],
])

/** The getter for `name`, chosen once when the filter is compiled. */
export function attributeGetter(name: string): AttributeGetter {
  const g = GETTERS.get(name)
  if (g !== undefined) return g
  return (e) => {
    const v = e.attributes[name]
    return typeof v === 'string' ? v : undefined
  }
}

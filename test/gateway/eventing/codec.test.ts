// The CloudEvents HTTP codec without sockets: the spec's percent-coding rules (§3.1.3.2), mode
// detection, structured data handling, and the plain-record validator checked against the
// `cloudevents` SDK's own validator (CloudEvent.validate) on the same inputs.
import t from 'tap'
import { CloudEvent } from 'cloudevents'
import {
  binaryHeaders, decodeHeaderValue, detectMode, encodeHeaderValue, parseHttpEvent, parseStructured, ParseError, structuredBody,
} from '../../../gateway/eventing/cloudevent-http.ts'
import type { CloudEventRecord } from '../../../gateway/eventing/types.ts'

t.test('percent-encoding', async (t) => {
  t.equal(encodeHeaderValue('Euro € 😀'), 'Euro%20%E2%82%AC%20%F0%9F%98%80')
  t.equal(encodeHeaderValue('plain-value/1'), 'plain-value/1')
  t.equal(encodeHeaderValue('a "b" 100%'), 'a%20%22b%22%20100%25')
  t.equal(encodeHeaderValue('tab\there'), 'tab%09here')
  t.equal(decodeHeaderValue('Euro%20%E2%82%AC%20%F0%9F%98%80'), 'Euro € 😀')
  t.equal(decodeHeaderValue('euro%20%e2%82%ac'), 'euro €', 'lower-case hex')
  t.equal(decodeHeaderValue('%41%42C'), 'ABC', 'needless encoding')
  t.equal(decodeHeaderValue('"quoted%20value"'), 'quoted value', 'RFC 7230 quoted-string first')
  t.equal(decodeHeaderValue('%C0%A0'), null, 'overlong UTF-8 refused')
  t.equal(decodeHeaderValue('%ZZ'), null, 'bad escape refused')
  t.equal(decodeHeaderValue('%E2%82'), null, 'truncated UTF-8 refused')
  t.equal(decodeHeaderValue(Buffer.from('€').toString('latin1')), '€', 'raw UTF-8 bytes read as UTF-8')
  for (const s of ['Euro € 😀', '100% "sure"', 'ünïcödé', '\u{1F600}']) t.equal(decodeHeaderValue(encodeHeaderValue(s)), s, `round trip ${s}`)
})

t.test('mode detection', async (t) => {
  t.equal(detectMode(undefined), 'binary')
  t.equal(detectMode('application/json'), 'binary')
  t.equal(detectMode('application/cloudevents+json; charset=UTF-8'), 'structured')
  t.equal(detectMode('Application/CloudEvents+JSON'), 'structured')
  t.equal(detectMode('application/cloudevents-batch+json'), 'batch')
})

t.test('structured data: JSON value, string, data_base64', async (t) => {
  const base = { specversion: '1.0', id: '1', source: '/s', type: 't' }
  const j = parseStructured(Buffer.from(JSON.stringify({ ...base, data: { a: [1] } }))) as CloudEventRecord
  t.equal(j.data!.toString(), '{"a":[1]}')
  const s = parseStructured(Buffer.from(JSON.stringify({ ...base, datacontenttype: 'application/json', data: 'str' }))) as CloudEventRecord
  t.equal(s.data!.toString(), '"str"', 'a JSON string stays a JSON string')
  const txt = parseStructured(Buffer.from(JSON.stringify({ ...base, datacontenttype: 'text/plain', data: 'hi' }))) as CloudEventRecord
  t.equal(txt.data!.toString(), 'hi')
  const bin = parseStructured(Buffer.from(JSON.stringify({ ...base, datacontenttype: 'application/octet-stream', data_base64: 'AAEC' }))) as CloudEventRecord
  t.same([...bin.data!], [0, 1, 2], 'bytes, not a Uint32Array (SDK #643)')
  t.match(structuredBody(bin), /"data_base64":"AAEC"/)
  t.same(JSON.parse(structuredBody(j)).data, { a: [1] })
  t.equal(JSON.parse(structuredBody(txt)).data, 'hi')
  t.ok(parseStructured(Buffer.from(JSON.stringify({ ...base, n: 1.5 }))) instanceof ParseError, 'non-integer number')
  t.ok(parseStructured(Buffer.from(JSON.stringify({ ...base, o: { x: 1 } }))) instanceof ParseError, 'object attribute')
  t.ok(parseStructured(Buffer.from(JSON.stringify({ ...base, Bad: 'x' }))) instanceof ParseError, 'upper-case name')
  const unset = parseStructured(Buffer.from(JSON.stringify({ ...base, subject: null }))) as CloudEventRecord
  t.notOk('subject' in unset.attributes, 'null = unset')
})

t.test('binary: Content-Type is datacontenttype and ce-datacontenttype is never sent', async (t) => {
  const e = parseHttpEvent({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': 'text/plain; charset=utf-8' }, Buffer.from('x')) as CloudEventRecord
  t.equal(e.attributes.datacontenttype, 'text/plain; charset=utf-8')
  const h = binaryHeaders(e, [])
  t.notOk(h.includes('ce-datacontenttype'))
  t.equal(h[h.indexOf('content-type') + 1], 'text/plain; charset=utf-8')
  const empty = parseHttpEvent({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't' }, Buffer.alloc(0)) as CloudEventRecord
  t.equal(empty.data, null)
})

t.test('validator agrees with the SDK', async (t) => {
  const base = { specversion: '1.0', id: 'x', source: '/s', type: 't' }
  const cases: [string, Record<string, string>][] = [
    ['minimal', base],
    ['time with nanoseconds and offset', { ...base, time: '2018-04-05T17:31:00.123456789+02:00' }],
    ['bad time', { ...base, time: '2018-13-05T17:31:00Z' }],
    ['empty type', { ...base, type: '' }],
    ['empty source', { ...base, source: '' }],
    ['dataschema not a URI', { ...base, dataschema: 'nope' }],
    ['dataschema URI', { ...base, dataschema: 'https://example.com/s.json' }],
    ['extension', { ...base, myext: 'v' }],
  ]
  for (const [name, attrs] of cases) {
    const ours = !(parseStructured(Buffer.from(JSON.stringify(attrs))) instanceof ParseError)
    let sdk: boolean
    try {
      new CloudEvent(attrs, true).validate()
      sdk = true
    } catch {
      sdk = false
    }
    t.equal(ours, sdk, `${name}: ours ${ours}, SDK ${sdk}`)
  }
  // Where the SDK is knowingly wrong (eventing.md §3.1 pitfall 2): an empty id is replaced by a
  // fresh UUID and passes; the spec requires a non-empty id, so we refuse it.
  t.ok(parseStructured(Buffer.from(JSON.stringify({ ...base, id: '' }))) instanceof ParseError, 'empty id refused')
  t.doesNotThrow(() => new CloudEvent({ ...base, id: '' }, true).validate(), 'the SDK invents an id instead')
})

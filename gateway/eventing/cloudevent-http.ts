// The CloudEvents HTTP protocol binding (cloudevents/spec v1.0.2 http-protocol-binding.md and
// json-format.md): requests → CloudEventRecord (binary and structured JSON; batch refused) and
// CloudEventRecord → binary or structured requests. A plain-record fast path instead of the
// `cloudevents` SDK on the hot path (eventing.md §3.1: the SDK caps ~40k ev/s/core, skips
// validation in toEvent, re-renders `time`, has no percent-coding and refuses
// `application/cloudevents+json; charset=UTF-8`); the tests check it against the SDK's validator.
import type { IncomingHttpHeaders } from 'node:http'
import type { CloudEventRecord } from './types.ts'

/** A parsed event, or why the request holds none (always a 400: "what, where, how to fix"). */
export type ParseResult = CloudEventRecord | ParseError

export class ParseError {
  readonly message: string
  constructor(message: string) { this.message = message }
}

/** Transport headers carried from the producer to subscribers (eventing.md §1.8, Knative pkg/utils/headers.go). */
export interface CarriedEvent extends CloudEventRecord {
  /** flat [name, value, …] of pass-through headers; null when none */
  readonly passthrough: readonly string[] | null
}

export type CloudEventMode = 'binary' | 'structured' | 'batch'

/** Mode by Content-Type (spec §3): cloudevents-batch prefix, cloudevents prefix, else binary. */
export function detectMode(contentType: string | undefined): CloudEventMode {
  if (contentType === undefined || contentType.length < 23) return 'binary'
  const ct = contentType.trimStart().slice(0, 29).toLowerCase()
  if (ct.startsWith('application/cloudevents-batch')) return 'batch'
  if (ct.startsWith('application/cloudevents')) return 'structured'
  return 'binary'
}

/** The media type of a Content-Type, lower case and without parameters (SDK pitfall 4). */
export function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

const NAME = /^[a-z0-9]+$/
/** A String attribute must not hold control characters (C0, DEL, C1) — spec §3.1.1 "String". */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** RFC 3339 date-time (spec: Timestamp); kept verbatim, never re-rendered. */
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/
const INT32_MIN = -2147483648
const INT32_MAX = 2147483647
const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parse one HTTP request (headers and the whole body) into an event. `passthrough` collects the
 * producer's transport headers that subscribers see (x-request-id, knative-*, x-b3-*, trace).
 */
export function parseHttpEvent(headers: IncomingHttpHeaders, body: Buffer): ParseResult {
  const ct = headers['content-type']
  const mode = detectMode(ct)
  if (mode === 'batch') return new ParseError('batched CloudEvents (application/cloudevents-batch) are not accepted: send one event per request, binary or structured')
  let result: ParseResult
  if (mode === 'structured') {
    const mt = mediaType(ct!)
    if (mt !== 'application/cloudevents+json') return new ParseError(`structured event format ${JSON.stringify(mt)} is not supported: use application/cloudevents+json or binary mode`)
    result = parseStructured(body)
  } else {
    result = parseBinary(headers, body)
  }
  if (result instanceof ParseError) return result
  const passthrough = passthroughHeaders(headers)
  return passthrough === null ? result : { attributes: result.attributes, data: result.data, passthrough } as CarriedEvent
}

/** Binary mode: `ce-*` headers (percent-decoded), Content-Type ⇔ datacontenttype, body = data. */
export function parseBinary(headers: IncomingHttpHeaders, body: Buffer): ParseResult {
  const attributes: Record<string, string> = {}
  for (const key in headers) {
    if (key.length < 4 || key.charCodeAt(0) !== 0x63 || key.charCodeAt(1) !== 0x65 || key.charCodeAt(2) !== 0x2d) continue // 'ce-'
    const name = key.slice(3)
    if (!NAME.test(name)) return new ParseError(`header ${key}: attribute names hold only a-z and 0-9 (CloudEvents §3.1.1)`)
    const raw = headers[key]
    // Node joins repeated headers with ", "; an attribute appears once.
    const value = decodeHeaderValue(Array.isArray(raw) ? raw.join(', ') : raw!)
    if (value === null) return new ParseError(`header ${key}: invalid percent-encoding or UTF-8 (encode the value's UTF-8 bytes as %XX)`)
    attributes[name] = value
  }
  // ce-datacontenttype MUST NOT appear in binary mode; Content-Type is the attribute (SDK pitfall 7: it won).
  const ct = headers['content-type']
  if (ct !== undefined) attributes.datacontenttype = ct
  if (attributes.specversion === undefined && attributes.id === undefined && attributes.type === undefined) {
    return new ParseError('no CloudEvent in the request: binary mode needs ce-specversion, ce-id, ce-source and ce-type headers; structured mode needs Content-Type application/cloudevents+json')
  }
  const error = validate(attributes, 'header ce-')
  if (error !== null) return new ParseError(error)
  return { attributes, data: body.length === 0 ? null : body }
}

/** Structured JSON mode (json-format.md): attributes as members, `data` or `data_base64`. */
export function parseStructured(body: Buffer): ParseResult {
  let doc: unknown
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch (err) {
    return new ParseError(`structured event body is not JSON: ${(err as Error).message}`)
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return new ParseError('structured event body must be one JSON object (batches are not accepted)')
  const obj = doc as Record<string, unknown>
  const attributes: Record<string, string> = {}
  let data: Buffer | null = null
  let hasData = false
  for (const key in obj) {
    const v = obj[key]
    if (key === 'data' || key === 'data_base64') continue
    if (v === null) continue // null = unset (json-format §2.2)
    if (!NAME.test(key)) return new ParseError(`member ${JSON.stringify(key)}: attribute names hold only a-z and 0-9 (CloudEvents §3.1.1)`)
    if (typeof v === 'string') attributes[key] = v
    else if (typeof v === 'boolean') attributes[key] = v ? 'true' : 'false'
    else if (typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) attributes[key] = String(v)
    else return new ParseError(`member ${JSON.stringify(key)}: ${typeof v === 'number' ? 'numbers must be 32-bit integers' : 'objects and arrays are not attribute values'} (CloudEvents type system: String, Integer, Boolean, URI, Timestamp, Binary as strings)`)
  }
  const b64 = obj.data_base64
  if (b64 !== undefined && b64 !== null) {
    if (obj.data !== undefined && obj.data !== null) return new ParseError('members data and data_base64 are mutually exclusive: send one')
    if (typeof b64 !== 'string' || !BASE64.test(b64)) return new ParseError('member data_base64: must be a base64 string (RFC 4648)')
    data = Buffer.from(b64, 'base64')
    hasData = true
  } else if (obj.data !== undefined && obj.data !== null) {
    const d = obj.data
    const dct = attributes.datacontenttype
    // A JSON datacontenttype (or none) carries `data` as a JSON value; otherwise `data` is a string.
    if (dct === undefined || isJsonType(dct)) data = Buffer.from(JSON.stringify(d))
    else if (typeof d === 'string') data = Buffer.from(d)
    else data = Buffer.from(JSON.stringify(d))
    hasData = true
  }
  const error = validate(attributes, 'member ')
  if (error !== null) return new ParseError(error)
  return { attributes, data: hasData ? data : null }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** `*\/json` or `*\/*+json`, parameters ignored (json-format §3.1). */
export function isJsonType(contentType: string): boolean {
  const mt = mediaType(contentType)
  return mt.endsWith('/json') || mt.endsWith('+json')
}

/**
 * The required attributes and the typed optional ones (spec §3.1; sdk-go's EventContextV1.Validate).
 * Returns the problem, or null. Checked on the plain record: no SDK object per event.
 */
export function validate(a: Record<string, string>, where: string): string | null {
  const sv = a.specversion
  if (sv === undefined) return `${where}specversion is missing: set it to "1.0"`
  if (sv !== '1.0') return `${where}specversion ${JSON.stringify(sv)} is not supported: Sluice speaks CloudEvents 1.0`
  if (a.id === undefined || a.id === '') return `${where}id is missing or empty: give each event a unique id`
  if (a.source === undefined || a.source === '') return `${where}source is missing or empty: set a URI-reference such as /my/app`
  if (a.type === undefined || a.type === '') return `${where}type is missing or empty: set a type such as com.example.thing.created`
  if (a.subject === '') return `${where}subject is empty: omit it or give it a value`
  if (a.datacontenttype === '') return `${where}datacontenttype is empty: omit it or give a media type (RFC 2046)`
  const ds = a.dataschema
  if (ds !== undefined && (ds === '' || !URL.canParse(ds))) return `${where}dataschema ${JSON.stringify(ds)} is not an absolute URI`
  const time = a.time
  if (time !== undefined && !RFC3339.test(time)) return `${where}time ${JSON.stringify(time)} is not an RFC 3339 timestamp (e.g. 2018-04-05T17:31:00Z)`
  for (const k in a) {
    if (CONTROL.test(a[k]!) && k !== 'datacontenttype') return `${where}${k} holds a control character, which CloudEvents strings may not contain`
  }
  return null
}

/**
 * A `ce-` header value as the spec decodes it (§3.1.3.2): an RFC 7230 quoted-string is unquoted,
 * then one round of percent-decoding; the result must be valid UTF-8. Raw non-ASCII bytes (Node
 * hands header bytes over as latin1) are read as UTF-8. Null when invalid.
 */
export function decodeHeaderValue(v: string): string | null {
  let plain = true
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === 0x25 || c === 0x22 || c > 0x7e) { plain = false; break }
  }
  if (plain) return v
  if (v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22) v = v.slice(1, -1).replace(/\\(.)/g, '$1')
  const bytes = Buffer.from(v, 'latin1')
  // Percent-decode byte-wise, then check the whole as UTF-8 (decodeURIComponent would also
  // reject invalid UTF-8, but not raw latin1 bytes mixed in).
  const out = Buffer.allocUnsafe(bytes.length)
  let n = 0
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b === 0x25) {
      const h = hex(bytes[i + 1]), l = hex(bytes[i + 2])
      if (h < 0 || l < 0) return null
      out[n++] = h * 16 + l
      i += 2
    } else {
      out[n++] = b
    }
  }
  try {
    return UTF8.decode(out.subarray(0, n))
  } catch {
    return null
  }
}

function hex(c: number | undefined): number {
  if (c === undefined) return -1
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

const HEX = '0123456789ABCDEF'

/** Percent-encode a header value (§3.1.3.2): space, `"`, `%` and everything outside U+0021–U+007E, as UTF-8 %XX. */
export function encodeHeaderValue(v: string): string {
  let i = 0
  for (; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x25) break
  }
  if (i === v.length) return v
  const bytes = Buffer.from(v, 'utf8')
  let out = ''
  for (let j = 0; j < bytes.length; j++) {
    const b = bytes[j]!
    if (b <= 0x20 || b >= 0x7f || b === 0x22 || b === 0x25) out += '%' + HEX[b >> 4] + HEX[b & 15]
    else out += String.fromCharCode(b)
  }
  return out
}

/** Attributes never sent to a subscriber: the broker's TTL (Knative's filter strips it, §1.7). */
const HIDDEN = 'knativebrokerttl'

/**
 * Binary mode request headers (flat [name, value, …], appended to `into`): `ce-<name>` for every
 * attribute but datacontenttype, which becomes Content-Type.
 */
export function binaryHeaders(event: CloudEventRecord, into: string[]): string[] {
  const a = event.attributes
  for (const k in a) {
    if (k === 'datacontenttype') into.push('content-type', a[k]!)
    else if (k !== HIDDEN) into.push('ce-' + k, encodeHeaderValue(a[k]!))
  }
  return into
}

/** Structured JSON mode body (json-format.md): data as a JSON value, a string, or data_base64. */
export function structuredBody(event: CloudEventRecord): string {
  const a = event.attributes
  const out: Record<string, unknown> = {}
  for (const k in a) if (k !== HIDDEN) out[k] = a[k]
  let json = JSON.stringify(out)
  const data = event.data
  if (data === null) return json
  const dct = a.datacontenttype
  let member: string
  if (dct === undefined || isJsonType(dct)) {
    const text = data.toString('utf8')
    member = isJsonText(text) ? `"data":${text}` : `"data_base64":"${data.toString('base64')}"`
  } else if (isTextType(dct)) {
    const text = tryUtf8(data)
    member = text !== null ? `"data":${JSON.stringify(text)}` : `"data_base64":"${data.toString('base64')}"`
  } else {
    member = `"data_base64":"${data.toString('base64')}"`
  }
  json = json.length === 2 ? `{${member}}` : json.slice(0, -1) + ',' + member + '}'
  return json
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function isTextType(ct: string): boolean {
  const mt = mediaType(ct)
  return mt.startsWith('text/') || mt.endsWith('/xml') || mt.endsWith('+xml')
}

function tryUtf8(b: Buffer): string | null {
  try {
    return UTF8.decode(b)
  } catch {
    return null
  }
}

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8'

/**
 * The producer's headers that travel on to subscribers (Knative pkg/utils/headers.go plus W3C trace
 * context): x-request-id, retry-after, knative-*, x-b3-*, traceparent, tracestate. Null when none.
 */
export function passthroughHeaders(headers: IncomingHttpHeaders): string[] | null {
  let out: string[] | null = null
  for (const key in headers) {
    const c = key.charCodeAt(0)
    if (c !== 0x78 && c !== 0x6b && c !== 0x72 && c !== 0x74) continue // x k r t
    if (key === 'x-request-id' || key === 'retry-after' || key === 'traceparent' || key === 'tracestate' || key.startsWith('knative-') || key.startsWith('x-b3-')) {
      const v = headers[key]
      if (v === undefined) continue
      ;(out ??= []).push(key, Array.isArray(v) ? v.join(', ') : v)
    }
  }
  return out
}

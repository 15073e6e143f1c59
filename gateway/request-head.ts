// A deliberately narrow reader of the request head in a connection's first bytes. It only decides
// whether a new connection may wait parked (activator/parked-request.ts) and for which route:
// anything it does not fully understand gives null, and the connection goes to Node's HTTP server
// as usual. Node's parser stays the authority: a parked request is routed again from what Node
// parsed before it is sent anywhere.
//
// It is a second HTTP parser at the edge, so it must never drive forwarding or authorization: no
// header it reads may reach an upstream, a plugin, or a decision about who may do what. Only
// Node's parse (llhttp) does that. Its one promise, checked against llhttp by
// test/gateway/request-head-diff.test.ts: whatever it accepts, llhttp accepts too and reads the
// same method, target, Host and body framing; it may refuse more.
import { METHODS as METHOD_NAMES } from 'node:http'

export interface RequestHead {
  readonly method: string
  readonly url: string
  readonly host: string
  /** lower-case name → value; every name appears once */
  readonly headers: Record<string, string>
}

/** Node's own limit on the header section (HTTP1_OPTIONS.maxHeaderSize). */
const MAX_HEAD = 16 * 1024
const END_OF_HEAD = Buffer.from('\r\n\r\n')
// origin-form target only (absolute-form, `*` and CONNECT go the usual way), HTTP/1.1 only
const REQUEST_LINE = /^([A-Z-]+) (\/[!-~]*) HTTP\/1\.1$/
/** the methods Node's parser knows, less the ones that are not a plain request */
const METHODS = new Set(METHOD_NAMES.filter((m) => m !== 'CONNECT' && m !== 'PRI'))
const NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// visible ASCII, space, tab and obs-text; no other control characters (checked on the whole line)
const FIELD_LINE = /^[\t\x20-\x7e\x80-\xff]*$/
// Requests that change what the connection is (WebSocket, h2c upgrade) or that wait for a
// go-ahead before sending their body are handled by Node's server from the first byte.
const NOT_PARKED = new Set(['upgrade', 'expect'])
// At most 15 digits: a safe integer, far from llhttp's refusal past 2^64 - 1 (the fuzz test found
// that an unbounded digit string was accepted here and refused there).
const CONTENT_LENGTH = /^[0-9]{1,15}$/
/**
 * Header fields beyond this give null. llhttp under Node refuses a head of 1001 fields with
 * HPE_HEADER_OVERFLOW whatever its size (found by the fuzz test); real first requests carry a few
 * dozen at most.
 */
const MAX_FIELDS = 100

export function readRequestHead(chunk: Buffer): RequestHead | null {
  const end = chunk.indexOf(END_OF_HEAD)
  if (end < 0 || end > MAX_HEAD) return null
  const lines = chunk.toString('latin1', 0, end).split('\r\n', MAX_FIELDS + 2)
  if (lines.length > MAX_FIELDS + 1) return null
  const line = REQUEST_LINE.exec(lines[0]!)
  if (line === null || !METHODS.has(line[1]!)) return null
  const headers: Record<string, string> = Object.create(null)
  for (let i = 1; i < lines.length; i++) {
    const field = lines[i]!
    const colon = field.indexOf(':')
    if (colon <= 0 || !FIELD_LINE.test(field)) return null
    const rawName = field.slice(0, colon)
    if (!NAME.test(rawName)) return null
    const name = rawName.toLowerCase()
    // Node joins or picks among repeated fields by rules of its own: leave those to it.
    if (name in headers || NOT_PARKED.has(name)) return null
    headers[name] = trimWhitespace(field, colon + 1)
  }
  const host = headers.host
  if (host === undefined || host === '') return null
  // Body framing Node would refuse (RFC 9112 §6): leave the refusal to it, from the first byte.
  const length = headers['content-length']
  const coding = headers['transfer-encoding']
  if (length !== undefined && (coding !== undefined || !CONTENT_LENGTH.test(length))) return null
  if (coding !== undefined && coding.toLowerCase() !== 'chunked') return null
  return { method: line[1]!, url: line[2]!, host, headers }
}

/** The field value after `from`, without leading and trailing spaces and tabs (no regex: linear). */
function trimWhitespace(s: string, from: number): string {
  let start = from
  let end = s.length
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--
  return s.slice(start, end)
}

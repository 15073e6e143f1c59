// Node's own llhttp binding, the parser node:http drives (lib/_http_server.js, _http_client.js):
// the fast path parses requests and responses with it, so framing (Content-Length, chunked,
// close-delimited, HEAD, 1xx/204/304) is decided by exactly the code Node's server decides it with.
// This file only names the binding's slots and the numbers it returns; it parses nothing itself.
// @ts-expect-error node:_http_common is Node's internal module; it has no type declarations
import { HTTPParser as NodeHTTPParser } from 'node:_http_common'
import { METHODS as HTTP_METHODS } from 'node:http'

/** The binding's parser object, as far as the fast path drives it. */
export interface HttpParser {
  /** read by the binding: at most half this many header fields, else HPE_HEADER_OVERFLOW */
  maxHeaderPairs?: number
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | ParseError
  finish(): undefined | ParseError
  resume(): void
  remove(): void
  free(): void
  [slot: number]: unknown
}

export interface ParseError extends Error {
  code: string
  bytesParsed: number
}

interface ParserClass {
  new (): HttpParser
  readonly REQUEST: number
  readonly RESPONSE: number
  readonly kOnMessageBegin: number
  readonly kOnHeaders: number
  readonly kOnHeadersComplete: number
  readonly kOnBody: number
  readonly kOnMessageComplete: number
  readonly kOnExecute: number
  readonly kLenientNone: number
}

export const HTTPParser = NodeHTTPParser as ParserClass

export const REQUEST = HTTPParser.REQUEST
export const RESPONSE = HTTPParser.RESPONSE
export const kOnMessageBegin = HTTPParser.kOnMessageBegin
export const kOnHeaders = HTTPParser.kOnHeaders
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete
export const kOnBody = HTTPParser.kOnBody
export const kOnMessageComplete = HTTPParser.kOnMessageComplete
/** insecureHTTPParser off: Node's server default, and Sluice's */
export const STRICT = HTTPParser.kLenientNone

/** kOnHeadersComplete's answers to llhttp (llhttp.h, on_headers_complete) */
export const PROCEED = 0
/** the message has no body whatever its headers say (a response to HEAD) */
export const SKIP_BODY = 1
/**
 * HPE_PAUSED: stop right after this head. execute() then returns an error with that code whose
 * bytesParsed is where the head ends; resume() and execute() the rest to go on. This is how the
 * fast path knows each message's first byte without reading the bytes itself.
 */
export const PAUSE = 21
export const PAUSED = 'HPE_PAUSED'

/** the header section limit of Sluice's node:http server (plain-listener.ts HTTP1_OPTIONS) */
export const MAX_HEADER_SIZE = 16 * 1024

/** Node's parsers (_http_common's FreeList) carry maxHeaderPairs 2000: 1000 header fields */
export const MAX_HEADER_PAIRS = 2000

/**
 * llhttp's method numbers → names (the `method` argument of kOnHeadersComplete), asked of llhttp
 * itself: each method Node knows is parsed once and the number llhttp reports is recorded. (Node's
 * exported `methods` list is positional, not by number: QUERY is 46 in llhttp and 34 there.)
 */
export const METHODS: readonly string[] = (() => {
  const byCode: string[] = []
  const p = new HTTPParser()
  for (const name of HTTP_METHODS) {
    p.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone)
    p[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, _h: unknown, code: number) => {
      byCode[code] = name
      return 0
    }
    p.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'))
  }
  p.free()
  return byCode
})()

export function isParseError(r: unknown): r is ParseError {
  return r instanceof Error
}

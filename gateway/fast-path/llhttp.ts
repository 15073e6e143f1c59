// Node's own llhttp binding, the parser node:http drives (lib/_http_server.js, _http_client.js):
// the fast path parses requests and responses with it, so framing (Content-Length, chunked,
// close-delimited, HEAD, 1xx/204/304) is decided by exactly the code Node's server decides it with.
// This file only names the binding's slots and the numbers it returns; it parses nothing itself.
// @ts-expect-error node:_http_common is Node's internal module; it has no type declarations
import { HTTPParser as NodeHTTPParser, methods as NODE_METHODS } from 'node:_http_common'

/** The binding's parser object, as far as the fast path drives it. */
export interface HttpParser {
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
/** llhttp's method numbers → names (the `method` argument of kOnHeadersComplete) */
export const METHODS = NODE_METHODS as readonly string[]

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

export function isParseError(r: unknown): r is ParseError {
  return r instanceof Error
}

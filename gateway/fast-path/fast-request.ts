// A request read by the fast path: what llhttp reported of its head, with the header object built
// by Node's own IncomingMessage rules (_addHeaderLine: which duplicates join with ", " or "; ",
// which are dropped, set-cookie as an array), so routing, the forwarded-header contract, the
// access log and the network probe read exactly what they read of a node:http request.
import { IncomingMessage, type IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import type { RequestBody } from './request-body.ts'
import type { DownstreamRequest } from '../downstream.ts'

type AddHeaderLine = (this: { joinDuplicateHeaders?: boolean }, field: string, value: string, dest: IncomingHttpHeaders) => void
const addHeaderLine = (IncomingMessage.prototype as unknown as { _addHeaderLine: AddHeaderLine })._addHeaderLine
/** Node's server default (http.createServer without joinDuplicateHeaders), which Sluice's uses */
const NODE_DEFAULTS = Object.freeze({ joinDuplicateHeaders: false })

export class FastRequest {
  readonly method: string
  url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: string[]
  readonly httpVersion = '1.1'
  readonly httpVersionMajor = 1
  readonly httpVersionMinor = 1
  readonly socket: Socket
  /** the body's bytes, or null for a request without one */
  readonly body: RequestBody | null

  constructor(method: string, url: string, rawHeaders: string[], socket: Socket, body: RequestBody | null) {
    this.method = method
    this.url = url
    this.rawHeaders = rawHeaders
    this.socket = socket
    this.body = body
    const headers: IncomingHttpHeaders = {}
    for (let i = 0; i < rawHeaders.length; i += 2) addHeaderLine.call(NODE_DEFAULTS, rawHeaders[i]!, rawHeaders[i + 1]!, headers)
    this.headers = headers
  }

  /** some body byte went upstream (a failed request can then not be sent again) */
  get readableDidRead(): boolean {
    return this.body !== null && this.body.didRead
  }
}

export function isFastRequest(req: object): req is FastRequest {
  return req instanceof FastRequest
}

/**
 * The gateway's view of a fast-path request. FastRequest has every member of IncomingMessage that
 * the gateway reads on the path it is served by (Gateway.serveFast: no plugins, no tracing, no
 * eventing plane): method, url, headers, rawHeaders, httpVersion*, socket, readableDidRead. It is
 * not a stream; ProxyRequest hands it to the fast path's client, which reads `body`, never to undici.
 */
export function asDownstreamRequest(req: FastRequest): DownstreamRequest {
  return req as unknown as DownstreamRequest
}

// The RequestContext the gateway gives plugins: one object per request on routes with plugins.
import type { DownstreamRequest } from '../downstream.ts'
import type { RequestContext, RouteInfo } from '../../plugins/api.ts'
import { HeaderList } from '../../plugins/header-list.ts'
import { peerAddress } from '../forward-headers.ts'

export class PluginRequest implements RequestContext {
  readonly req: DownstreamRequest
  readonly method: string
  readonly url: string
  readonly path: string
  readonly host: string
  readonly remoteAddress: string
  readonly route: RouteInfo
  readonly startTime: number
  readonly requestHeaders: HeaderList
  readonly responseHeaders = new HeaderList()
  #state: Map<string, unknown> | null = null
  revision = ''
  status = 0
  error: Error | null = null

  /** made on first use: most plugins keep no per-request state */
  get state(): Map<string, unknown> {
    return (this.#state ??= new Map())
  }

  constructor(req: DownstreamRequest, url: string, host: string, route: RouteInfo, startTime: number, upstreamHeaders: string[]) {
    this.req = req
    this.method = req.method ?? 'GET'
    this.url = url
    const q = url.indexOf('?')
    this.path = q === -1 ? url : url.slice(0, q)
    this.host = host
    this.remoteAddress = peerAddress(req)
    this.route = route
    this.startTime = startTime
    this.requestHeaders = new HeaderList(upstreamHeaders)
  }
}

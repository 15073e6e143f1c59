// Helpers for plugin authors' tests: a RequestContext without a server, and a runner for phases.
import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import type { LocalResponse, PluginContext, RequestContext, RouteInfo } from './api.ts'
import { HeaderList } from './header-list.ts'

export interface FakeRequestOptions {
  method?: string
  url?: string
  host?: string
  remoteAddress?: string
  headers?: Record<string, string>
  route?: RouteInfo
}

/** A RequestContext as the gateway builds it, for unit tests of plugin phases. */
export function fakeRequest(o: FakeRequestOptions = {}): RequestContext {
  const socket = new Socket()
  Object.defineProperty(socket, 'remoteAddress', { value: o.remoteAddress ?? '127.0.0.1' })
  const req = new IncomingMessage(socket)
  req.method = o.method ?? 'GET'
  req.url = o.url ?? '/'
  const headers: Record<string, string> = { host: o.host ?? 'example.com', ...lower(o.headers ?? {}) }
  req.headers = headers
  const flat: string[] = []
  for (const [k, v] of Object.entries(headers)) flat.push(k, v)
  const url = req.url
  return {
    req,
    method: req.method,
    url,
    path: url.split('?')[0],
    host: headers.host,
    remoteAddress: o.remoteAddress ?? '127.0.0.1',
    route: o.route ?? { namespace: 'default', name: 'test' },
    startTime: performance.now(),
    requestHeaders: new HeaderList(flat),
    revision: '',
    status: 0,
    responseHeaders: new HeaderList(),
    error: null,
    state: new Map(),
  }
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))
}

export function fakePluginContext(route: RouteInfo = { namespace: 'default', name: 'test' }, baseDir = process.cwd()): PluginContext {
  const noop = (): void => {}
  return { route, baseDir, log: { info: noop, warn: noop, error: noop } }
}

export function isLocalResponse(v: unknown): v is LocalResponse {
  return typeof v === 'object' && v !== null && typeof (v as LocalResponse).status === 'number'
}

// The plugin API: everything a plugin author sees. A plugin is a module exporting a `Plugin`:
// a name, a priority, a config validator, and `create(config, ctx)`, which Sluice calls once per
// route when it compiles the route table. The instance it returns has optional phase methods; the
// gateway builds per-route phase arrays at compile time, so a phase no plugin uses costs nothing.
import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'

/** A reply a plugin writes itself instead of proxying (short-circuit), like Envoy's sendLocalReply. */
export interface LocalResponse {
  status: number
  headers?: Record<string, string | readonly string[]>
  body?: string | Buffer
}

/** What a phase may return: nothing (go on), a local response (stop here), or a promise of either. */
export type PhaseResult = void | LocalResponse | Promise<void | LocalResponse>

/** Case-insensitive header list with set/add/remove; names are stored lower-case. */
export interface Headers {
  get(name: string): string | undefined
  /** every value of a header (repeated headers, or one value) */
  getAll(name: string): string[]
  has(name: string): boolean
  /** replace every value */
  set(name: string, value: string): void
  /** add a value, keeping existing ones */
  add(name: string, value: string): void
  remove(name: string): void
  /** [name, value] pairs in order */
  entries(): IterableIterator<[string, string]>
}

/** Where a route lives, for plugin instances that key state by route. */
export interface RouteInfo {
  readonly namespace: string
  /** the Route/Service or KIngress name */
  readonly name: string
}

/** One request as plugins see it. The same object is passed to every phase of every plugin. */
export interface RequestContext {
  /** Node's request object: HTTP/1.1 (IncomingMessage) or HTTP/2 (Http2ServerRequest) */
  readonly req: IncomingMessage | Http2ServerRequest
  readonly method: string
  /** path and query as received */
  readonly url: string
  /** path without the query */
  readonly path: string
  readonly host: string
  /** the TCP peer address (use a trusted-hops setting to read X-Forwarded-For) */
  readonly remoteAddress: string
  readonly route: RouteInfo
  /** performance.now() at arrival */
  readonly startTime: number
  /** headers of the upstream request: change them in onRequest/onUpstream */
  readonly requestHeaders: Headers
  /** the revision (or Service) the request was sent to; '' before onUpstream */
  revision: string
  /** response status: the upstream's, or a local response's; 0 before the response */
  status: number
  /** response headers: change them in onResponseHeaders */
  readonly responseHeaders: Headers
  /** the error that ended the request, if any (seen in onComplete) */
  error: Error | null
  /** per-plugin scratch space, for state carried from one phase to the next */
  readonly state: Map<string, unknown>
}

export interface PluginInstance {
  /** after routing, before a backend is chosen; may short-circuit */
  onRequest?(ctx: RequestContext): PhaseResult
  /** the backend is chosen (ctx.revision is set); last chance to change the request or short-circuit */
  onUpstream?(ctx: RequestContext): PhaseResult
  /** response status and headers, before they are sent; may replace the response (reverse priority order) */
  onResponseHeaders?(ctx: RequestContext): PhaseResult
  /**
   * Opt-in, per body chunk, synchronous (reverse priority order). Return the chunk to send (the
   * same, a changed one, or an empty buffer); `last` is true once, with an empty chunk, at the end.
   */
  onResponseData?(ctx: RequestContext, chunk: Buffer, last: boolean): Buffer
  /** always runs once at the end: after a normal response, a short-circuit or an error */
  onComplete?(ctx: RequestContext): void
  /** the instance is no longer used by any route (its route or config changed): release sockets, timers */
  close?(): void
}

/** What create() gets besides its config. */
export interface PluginContext {
  readonly route: RouteInfo
  readonly log: {
    info(msg: string, fields?: Record<string, unknown>): void
    warn(msg: string, fields?: Record<string, unknown>): void
    error(msg: string, fields?: Record<string, unknown>): void
  }
  /** directory of the config file that declared the plugin, for relative paths (JWKS files…) */
  readonly baseDir: string
}

/** A config problem: `path` is relative to the plugin's `spec.config` (e.g. `origins[2]`). */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

export type Validation<C> = { readonly ok: true; readonly config: C } | { readonly ok: false; readonly issues: readonly ConfigIssue[] }

export interface Plugin<C = unknown> {
  readonly name: string
  /** higher runs first on the request side (Kong's convention); response phases run in reverse */
  readonly priority: number
  /** check and default the raw `spec.config`; runs when the configuration loads */
  validate(raw: unknown): Validation<C>
  /** called once per route the plugin is attached to, when the route table is compiled */
  create(config: C, ctx: PluginContext): PluginInstance
}

/** Identity helper that gives a plugin module its types. */
export function definePlugin<C>(plugin: Plugin<C>): Plugin<C> {
  return plugin
}

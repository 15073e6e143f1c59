// The request path on routes with plugins: onRequest → split → onUpstream → throttler, and on the
// way back onResponseHeaders → onResponseData → onComplete. Routes without plugins never come
// here. A plugin that throws or rejects fails its request with 500; the gateway goes on.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LocalResponse } from '../../plugins/api.ts'
import type { PathRoute, Split, VirtualHost } from '../route-table.ts'
import type { Logger } from '../log.ts'
import type { RouteSlot } from '../metrics/route-slots.ts'
import { ERR } from '../metrics/route-slots.ts'
import { pickSplit } from '../match.ts'
import { upstreamHeaders } from '../forward-headers.ts'
import { localReply } from '../local-reply.ts'
import { ProxyRequest, type ExchangeHooks } from '../proxy-request.ts'
import type { PluginChain } from './chain.ts'
import { PluginRequest } from './plugin-request.ts'
import { PluginFailure, runComplete, runPhase, type PhaseOutcome } from './run-phase.ts'

export interface PluginHost extends ExchangeHooks {
  readonly log: Logger
  /** a request entered the plugin path: it counts as in flight (drain waits for it) */
  localStart(): void
  /** a request answered without an upstream exchange is over */
  localDone(): void
}

/**
 * For a WebSocket upgrade: opens the tunnel once onRequest/onUpstream let it through, with the
 * upstream headers as the plugins left them; `done(status)` is called when the tunnel is over.
 */
export type OpenTunnel = (split: Split, headers: string[], done: (status: number) => void) => void

const NONE: readonly string[] = Object.freeze([])
const NO_NAMES: ReadonlySet<string> = new Set()

function then<T>(v: T | Promise<T>, next: (v: T) => void, fail: (err: unknown) => void): void {
  if (v instanceof Promise) v.then(next, fail)
  else next(v)
}

/** Everything about one request on the plugin path before it has an upstream exchange. */
class Flow {
  readonly host: PluginHost
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly vh: VirtualHost
  readonly path: PathRoute
  readonly chain: PluginChain
  readonly ctx: PluginRequest
  /** chosen up front so the upstream headers are built once; plugins see it from onUpstream on */
  readonly split: Split | null
  /** set for a WebSocket upgrade: `res` only carries local answers, the rest is a tunnel */
  readonly tunnel: OpenTunnel | null

  constructor(host: PluginHost, req: IncomingMessage, res: ServerResponse, vh: VirtualHost, path: PathRoute, url: string, hostName: string, start: number, scheme: 'http' | 'https', tunnel: OpenTunnel | null) {
    this.host = host
    this.req = req
    this.res = res
    this.vh = vh
    this.path = path
    this.chain = vh.plugins!
    this.tunnel = tunnel
    const split = this.split = pickSplit(path)
    const headers = split === null
      ? upstreamHeaders(req, scheme, null, NONE, NO_NAMES, false, host.table.trustedProxies)
      : upstreamHeaders(req, scheme, split.rewriteHost, split.setHeaders, split.setNames, tunnel === null && split.backend.protocol === 'h2c', host.table.trustedProxies)
    this.ctx = new PluginRequest(req, url, hostName, vh.route, start, headers)
  }

  start(): void {
    const c = this.chain
    this.host.localStart()
    if (c.onRequest.length === 0) return this.afterRequest(undefined)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try { r = runPhase(c.onRequest, 'onRequest', this.ctx) } catch (err) { return this.fail(err) }
    // Closures only for a phase that went asynchronous.
    if (r instanceof Promise) r.then((v) => this.afterRequest(v), (err) => this.fail(err))
    else this.afterRequest(r)
  }

  afterRequest(local: PhaseOutcome): void {
    if (local !== undefined) return this.local(local, this.vh.localSlot)
    const split = this.split
    if (split === null) return this.local({ status: 404, body: 'no route\n' }, this.vh.localSlot)
    const ctx = this.ctx
    ctx.revision = split.backend.revision
    if (this.chain.onUpstream.length === 0) return this.send(split)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try { r = runPhase(this.chain.onUpstream, 'onUpstream', ctx) } catch (err) { return this.fail(err) }
    if (r instanceof Promise) r.then((v) => (v === undefined ? this.send(split) : this.local(v, split.slot)), (err) => this.fail(err))
    else if (r === undefined) this.send(split)
    else this.local(r, split.slot)
  }

  send(split: Split): void {
    if (this.res.destroyed) return this.complete(499, this.vh.localSlot)
    const throttler = split.backend.throttler!
    if (!throttler.managed && throttler.routable.length === 0) {
      split.slot.errors[ERR.no_endpoints]++
      return this.local({ status: 503, headers: { 'retry-after': '1' }, body: `no ready instance for ${split.backend.revision}\n` }, split.slot)
    }
    if (this.tunnel !== null) {
      // The request part is over; the tunnel holds its own slot and reports how it ended.
      this.host.localDone()
      this.tunnel(split, this.ctx.requestHeaders.flat, (status) => {
        this.ctx.status = status
        this.runOnComplete()
      })
      return
    }
    // The in-flight count taken in start() now belongs to the exchange, which gives it back.
    const x = new ProxyRequest(this.host, this.req, this.res, split, this.ctx.url, this.ctx.requestHeaders.flat, this.ctx.startTime)
    x.plugins = this.chain
    x.pctx = this.ctx
    throttler.admit(x, performance.now())
  }

  /** A local response (short-circuit, plugin failure, no backend) still goes through the response phases. */
  local(lr: LocalResponse, slot: RouteSlot): void {
    setLocal(this.ctx, lr)
    const c = this.chain
    if (c.onResponseHeaders.length === 0) return this.writeLocal(lr.body, slot)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try { r = runPhase(c.onResponseHeaders, 'onResponseHeaders', this.ctx) } catch (err) { return this.failHard(err, slot) }
    then(r, (v) => {
      if (v !== undefined) setLocal(this.ctx, v)
      this.writeLocal(v !== undefined ? v.body : lr.body, slot)
    }, (err) => this.failHard(err, slot))
  }

  writeLocal(body: string | Buffer | undefined, slot: RouteSlot): void {
    const res = this.res
    if (!res.headersSent && !res.destroyed) {
      const flat = this.ctx.responseHeaders.flat
      const data = body === undefined ? '' : body
      // A plugin answering HEAD (a cache hit) sets the length of the body it does not send.
      // RFC 9110 §8.6: never a Content-Length on 1xx/204, and on a 304 only the 200's own (which
      // only the plugin can know), so none is made up for those.
      const status = this.ctx.status
      const bodiless = status < 200 || status === 204 || status === 304
      if (!bodiless && !this.ctx.responseHeaders.has('content-length')) flat.push('content-length', String(Buffer.byteLength(data)))
      if (this.host.draining) flat.push('connection', 'close')
      res.writeHead(this.ctx.status, flat)
      res.end(data)
    }
    this.complete(this.ctx.status, slot)
  }

  fail(err: unknown): void {
    const f = err instanceof PluginFailure ? err : new PluginFailure({ name: '(runner)', instance: {}, errors: 0 }, err)
    f.entry.errors++
    this.host.log.error('plugin failed; answering 500', { plugin: f.entry.name, route: `${this.vh.route.namespace}/${this.vh.route.name}`, err: f.cause })
    this.ctx.error = f
    this.local({ status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `plugin ${f.entry.name} failed\n` }, this.vh.localSlot)
  }

  /** A response phase failed while answering locally: plain 500, no more plugins. */
  failHard(err: unknown, slot: RouteSlot): void {
    const f = err instanceof PluginFailure ? err : new PluginFailure({ name: '(runner)', instance: {}, errors: 0 }, err)
    f.entry.errors++
    this.host.log.error('plugin failed; answering 500', { plugin: f.entry.name, err: f.cause })
    this.ctx.error = f
    this.ctx.status = 500
    localReply(this.res, 500, `plugin ${f.entry.name} failed\n`, this.host.draining)
    this.complete(500, slot)
  }

  complete(status: number, slot: RouteSlot): void {
    this.host.localDone()
    slot.record(status, (performance.now() - this.ctx.startTime) / 1000)
    this.runOnComplete()
  }

  runOnComplete(): void {
    runComplete(this.chain.onComplete, this.ctx, (f) => {
      f.entry.errors++
      this.host.log.error('plugin onComplete failed', { plugin: f.entry.name, err: f.cause })
    })
  }
}

function setLocal(ctx: PluginRequest, lr: LocalResponse): void {
  ctx.status = lr.status
  const flat: string[] = []
  if (lr.headers !== undefined) {
    for (const [k, v] of Object.entries(lr.headers)) {
      if (typeof v === 'string') flat.push(k.toLowerCase(), v)
      else for (const one of v) flat.push(k.toLowerCase(), one)
    }
  }
  ctx.responseHeaders.flat = flat
}

export function handleWithPlugins(host: PluginHost, req: IncomingMessage, res: ServerResponse, vh: VirtualHost, path: PathRoute, url: string, hostName: string, start: number, scheme: 'http' | 'https', tunnel: OpenTunnel | null = null): void {
  new Flow(host, req, res, vh, path, url, hostName, start, scheme, tunnel).start()
}

/** Body chunks through the opt-in onResponseData plugins (synchronous by contract). */
export function pluginResponseData(x: ProxyRequest, chunk: Buffer, last: boolean): Buffer {
  const ctx = x.pctx!
  let out = chunk
  for (const e of x.plugins!.onResponseData) {
    try {
      out = e.instance.onResponseData!(ctx, out, last)
    } catch (err) {
      throw new PluginFailure(e, err)
    }
  }
  return out
}

export function pluginComplete(x: ProxyRequest, log: Logger): void {
  runComplete(x.plugins!.onComplete, x.pctx!, (f) => {
    f.entry.errors++
    log.error('plugin onComplete failed', { plugin: f.entry.name, err: f.cause })
  })
}

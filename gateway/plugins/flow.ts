// The request path on routes with plugins: onRequest → split → onUpstream → throttler, and on the
// way back onResponseHeaders → onResponseData → onComplete. Routes without plugins never come
// here. A plugin that throws, rejects or returns what cannot be sent fails its request with 500;
// the gateway goes on.
import type { DownstreamRequest, DownstreamResponse } from '../downstream.ts'
import type { PathRoute, Split, VirtualHost } from '../route-table.ts'
import type { RouteSlot } from '../metrics/route-slots.ts'
import { ERR } from '../metrics/route-slots.ts'
import { pickSplit } from '../match.ts'
import { NO_EDITS, upstreamHeaders } from '../forward-headers.ts'
import { localReply } from '../local-reply.ts'
import { ProxyRequest, type ExchangeHooks } from '../proxy-request.ts'
import { noReadyInstance } from '../activator/throttler.ts'
import { networkProbeHash } from '../activator/network-probe.ts'
import type { PluginChain } from './chain.ts'
import type { CheckedResponse } from './local-response.ts'
import { PluginRequest } from './plugin-request.ts'
import { asFailure, runComplete, runPhase, type PhaseOutcome } from './run-phase.ts'
import type { RequestTrace, RequestTracer } from '../tracing/request-trace.ts'
import { startTrace } from '../tracing/start-trace.ts'

export interface PluginHost extends ExchangeHooks {
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

/** One request entering a route with plugins. */
export interface PluginFlowOptions {
  readonly host: PluginHost
  readonly req: DownstreamRequest
  /** where local answers go (for an upgrade, a response on the raw socket) */
  readonly res: DownstreamResponse
  readonly vh: VirtualHost
  readonly path: PathRoute
  /** origin-form target */
  readonly url: string
  /** the authority the request was routed by */
  readonly hostName: string
  readonly start: number
  readonly scheme: 'http' | 'https'
  /** set for a WebSocket upgrade: `res` only carries local answers, the rest is a tunnel */
  readonly tunnel: OpenTunnel | null
  /** the gateway's tracer, or null (tracing off; WebSockets are not traced) */
  readonly tracer: RequestTracer | null
}

const NONE: readonly string[] = Object.freeze([])
const TEXT = ['content-type', 'text/plain; charset=utf-8']

function then<T>(v: T | Promise<T>, next: (v: T) => void, fail: (err: unknown) => void): void {
  if (v instanceof Promise) v.then(next, fail)
  else next(v)
}

function answer(status: number, body: string, extra: readonly string[] = NONE): CheckedResponse {
  return { status, flat: [...TEXT, ...extra], body }
}

/** Everything about one request on the plugin path before it has an upstream exchange. */
class Flow {
  readonly #o: PluginFlowOptions
  readonly #chain: PluginChain
  readonly #ctx: PluginRequest
  /** chosen up front so the upstream headers are built once; plugins see it from onUpstream on */
  readonly #split: Split | null
  /** this request's spans, when traced; plugin decisions become events on them */
  readonly #trace: RequestTrace | null

  constructor(o: PluginFlowOptions) {
    this.#o = o
    this.#chain = o.vh.plugins!
    const split = this.#split = pickSplit(o.path)
    const headers = split === null
      ? upstreamHeaders(o.req, o.scheme, NO_EDITS, false, o.host.table.trustedProxies)
      : upstreamHeaders(o.req, o.scheme, split, o.tunnel === null && split.backend.protocol === 'h2c', o.host.table.trustedProxies)
    this.#ctx = new PluginRequest(o.req, o.url, o.hostName, o.vh.route, o.start, headers)
    this.#trace = o.tracer === null || split === null ? null : startTrace(o.tracer, o.req, o.hostName, o.vh.owner, split, o.start)
  }

  start(): void {
    const c = this.#chain
    this.#o.host.localStart()
    if (c.onRequest.length === 0) return this.#afterRequest(undefined)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try { r = runPhase(c.onRequest, 'onRequest', this.#ctx) } catch (err) { return this.#fail(err) }
    // Closures only for a phase that went asynchronous.
    if (r instanceof Promise) r.then((v) => this.#afterRequest(v), (err) => this.#fail(err))
    else this.#afterRequest(r)
  }

  #afterRequest(local: PhaseOutcome): void {
    const localSlot = this.#o.vh.localSlot
    if (this.#trace !== null && this.#chain.onRequest.length > 0) this.#trace.event(local === undefined ? 'onRequest passed' : 'onRequest answered', local === undefined ? '' : String(local.status))
    if (local !== undefined) return this.#local(local, localSlot)
    const split = this.#split
    if (split === null) return this.#local(answer(404, 'no route\n'), localSlot)
    const ctx = this.#ctx
    ctx.revision = split.backend.revision
    if (this.#chain.onUpstream.length === 0) return this.#send(split)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try { r = runPhase(this.#chain.onUpstream, 'onUpstream', ctx) } catch (err) { return this.#fail(err) }
    if (r instanceof Promise) r.then((v) => this.#afterUpstream(v, split), (err) => this.#fail(err))
    else this.#afterUpstream(r, split)
  }

  #afterUpstream(local: PhaseOutcome, split: Split): void {
    if (this.#trace !== null) this.#trace.event(local === undefined ? 'onUpstream passed' : 'onUpstream answered', local === undefined ? '' : String(local.status))
    if (local === undefined) this.#send(split)
    else this.#local(local, split.slot)
  }

  #send(split: Split): void {
    const o = this.#o
    if (o.res.destroyed) return this.#complete(499, o.vh.localSlot)
    const throttler = split.backend.throttler!
    const probe = split.backend.managed ? networkProbeHash(o.req, split) : null
    if (probe !== null) {
      return this.#local(probe === '' ? answer(400, 'no K-Network-Hash header\n') : answer(200, '', ['k-network-hash', probe]), split.slot)
    }
    if (noReadyInstance(throttler)) {
      split.slot.errors[ERR.no_endpoints]++
      return this.#local(answer(503, throttler.noInstanceAnswer(), ['retry-after', '1']), split.slot)
    }
    const ctx = this.#ctx
    if (o.tunnel !== null) {
      // The request part is over; the tunnel holds its own slot and reports how it ended.
      o.host.localDone()
      o.tunnel(split, ctx.requestHeaders.flat, (status) => {
        ctx.status = status
        this.#runOnComplete()
      })
      return
    }
    // The in-flight count taken in start() now belongs to the exchange, which gives it back.
    const x = new ProxyRequest({
      hooks: o.host, req: o.req, res: o.res, split, url: ctx.url, headers: ctx.requestHeaders.flat,
      arrived: ctx.startTime, scheme: o.scheme, plugins: this.#chain, pluginContext: ctx, trace: this.#trace,
    })
    throttler.admit(x, performance.now())
    if (this.#trace !== null && !x.sent) this.#trace.queued()
  }

  /** A local response (short-circuit, plugin failure, no backend) still goes through the response phases. */
  #local(lr: CheckedResponse, slot: RouteSlot): void {
    setLocal(this.#ctx, lr)
    const c = this.#chain
    if (c.onResponseHeaders.length === 0) return this.#writeLocal(lr.body, slot)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try { r = runPhase(c.onResponseHeaders, 'onResponseHeaders', this.#ctx) } catch (err) { return this.#failHard(err, slot) }
    then(r, (v) => {
      if (v !== undefined) setLocal(this.#ctx, v)
      this.#writeLocal(v !== undefined ? v.body : lr.body, slot)
    }, (err) => this.#failHard(err, slot))
  }

  #writeLocal(body: string | Buffer, slot: RouteSlot): void {
    const res = this.#o.res
    const ctx = this.#ctx
    if (!res.headersSent && !res.destroyed) {
      const flat = ctx.responseHeaders.flat
      // A plugin answering HEAD (a cache hit) sets the length of the body it does not send.
      // RFC 9110 §8.6: never a Content-Length on 1xx/204, and on a 304 only the 200's own (which
      // only the plugin can know), so none is made up for those.
      const status = ctx.status
      const bodiless = status < 200 || status === 204 || status === 304
      if (!bodiless && !ctx.responseHeaders.has('content-length')) flat.push('content-length', String(Buffer.byteLength(body)))
      if (this.#o.host.draining && this.#o.req.httpVersionMajor === 1) flat.push('connection', 'close')
      try {
        res.writeHead(status, flat)
        res.end(body)
      } catch (err) {
        // Checked answers do not throw here; if one still does, only this request pays.
        this.#o.host.log.error('cannot write a local answer; closing the request', { err })
        res.destroy()
      }
    }
    this.#complete(ctx.status, slot)
  }

  #fail(err: unknown): void {
    const f = asFailure(err)
    f.entry.errors++
    const route = this.#o.vh.route
    this.#o.host.log.error('plugin failed; answering 500', { plugin: f.entry.name, route: `${route.namespace}/${route.name}`, err: f.cause })
    this.#ctx.error = f
    if (this.#trace !== null) this.#trace.event('plugin failed', f.entry.name)
    this.#local(answer(500, `plugin ${f.entry.name} failed\n`), this.#o.vh.localSlot)
  }

  /** A response phase failed while answering locally: plain 500, no more plugins. */
  #failHard(err: unknown, slot: RouteSlot): void {
    const f = asFailure(err)
    f.entry.errors++
    this.#o.host.log.error('plugin failed; answering 500', { plugin: f.entry.name, err: f.cause })
    const ctx = this.#ctx
    ctx.error = f
    ctx.status = 500
    localReply(this.#o.res, 500, `plugin ${f.entry.name} failed\n`, this.#o.host.draining)
    this.#complete(500, slot)
  }

  #complete(status: number, slot: RouteSlot): void {
    if (this.#trace !== null) this.#trace.end(status, performance.now())
    this.#o.host.localDone()
    slot.record(status, (performance.now() - this.#ctx.startTime) / 1000)
    this.#runOnComplete()
  }

  #runOnComplete(): void {
    runComplete(this.#chain.onComplete, this.#ctx, (f) => {
      f.entry.errors++
      this.#o.host.log.error('plugin onComplete failed', { plugin: f.entry.name, err: f.cause })
    })
  }
}

function setLocal(ctx: PluginRequest, lr: CheckedResponse): void {
  ctx.status = lr.status
  ctx.responseHeaders.flat = lr.flat
}

export function handleWithPlugins(o: PluginFlowOptions): void {
  new Flow(o).start()
}

// One proxied exchange: an undici dispatch handler that streams the upstream response into the
// downstream ServerResponse with backpressure. One object per request, preshaped; listeners are
// shared functions that find the exchange through a symbol, so no closure is made per request.
//
// Timeouts follow Knative's handler (serving pkg/http/handler/timeout.go): timeoutSeconds and
// responseStartTimeoutSeconds bound the wait for the first byte (504); idleTimeoutSeconds bounds
// the silence between bytes (504 before the first byte, the stream is cut after it). undici's own
// headersTimeout/bodyTimeout enforce them, so no timer is created per request here.
import type { Dispatcher } from 'undici'
import type { DownstreamRequest, DownstreamResponse } from './downstream.ts'
import { RESPONSE_HOP_BY_HOP, RESPONSE_HOP_BY_HOP_AND_SERVER, upstreamHeaders } from './forward-headers.ts'
import { ERR } from './metrics/route-slots.ts'
import type { RouteTable, Split } from './route-table.ts'
import type { RevisionThrottler, Waiter } from './activator/throttler.ts'
import type { UpstreamInstance } from './activator/upstream-instance.ts'
import { LOCAL_FAILURE } from './activator/outlier-detector.ts'
import { DEFAULT_RETRY_POLICY, mayResend } from './activator/retry-budget.ts'
import type { Logger } from './log.ts'
import type { PluginChain } from './plugins/chain.ts'
import type { PluginRequest } from './plugins/plugin-request.ts'
import type { CheckedResponse } from './plugins/local-response.ts'
import { asFailure, runComplete, runPhase, runResponseData, type PhaseOutcome, type PluginFailure } from './plugins/run-phase.ts'
import { localReply } from './local-reply.ts'
import { isFastRequest } from './fast-path/fast-request.ts'
import type { RequestTrace } from './tracing/request-trace.ts'

const EMPTY = Buffer.alloc(0)

type Controller = Dispatcher.DispatchController

export interface ExchangeHooks {
  /** called once when the exchange is over, whatever the outcome */
  exchangeDone(): void
  /** the gateway is draining: responses ask the client to close the connection */
  readonly draining: boolean
  readonly log: Logger
  /** the table being served: its trusted proxies decide which forwarding headers are kept */
  readonly table: Pick<RouteTable, 'trustedProxies' | 'serverHeader'>
}

/** One request on its way to an upstream. */
export interface ExchangeOptions {
  readonly hooks: ExchangeHooks
  readonly req: DownstreamRequest
  readonly res: DownstreamResponse
  readonly split: Split
  /** origin-form target sent upstream */
  readonly url: string
  /** upstream headers already built (by the plugin path); null builds them when sent */
  readonly headers: string[] | null
  /** performance.now() at arrival (timeouts count from here, buffering included) */
  readonly arrived: number
  readonly scheme: 'http' | 'https'
  /** the route's plugins and this request's context, on routes with plugins */
  readonly plugins?: PluginChain
  readonly pluginContext?: PluginRequest
  /** this request's spans when tracing is on and it was sampled; null otherwise */
  readonly trace?: RequestTrace | null
}

const kExchange = Symbol('sluice.exchange')
type Tagged = DownstreamResponse & { [kExchange]?: ProxyRequest }

function onDownstreamClose(this: Tagged): void {
  this[kExchange]?.clientClosed()
}
function onDownstreamDrain(this: Tagged): void {
  this[kExchange]?.resume()
}

function flushIfIdle(x: ProxyRequest): void {
  x.flushIfIdle()
}

class ClientClosedError extends Error {
  override name = 'ClientClosedError'
}

export class ProxyRequest implements Dispatcher.DispatchHandler, Waiter {
  readonly #req: DownstreamRequest
  readonly #res: DownstreamResponse
  readonly #split: Split
  readonly #throttler: RevisionThrottler
  readonly #hooks: ExchangeHooks
  readonly #url: string
  /** the upstream request headers; null until sent, so a buffered request does not hold them */
  #headers: string[] | null
  readonly #scheme: 'http' | 'https'
  readonly arrived: number
  readonly deadline: number
  #instance: UpstreamInstance | null = null
  #controller: Controller | null = null
  #status = 0
  done = false
  #wroteBody = false
  /** times sent again after a connect failure or reset (at most the route's retry attempts) */
  #replays = 0
  /** counted in the revision's retrying requests (retry budget) */
  #retrying = false
  /** the instance a retry should avoid (read by the throttler) */
  avoid: UpstreamInstance | null = null
  /** a plugin answered instead of the upstream */
  #replaced = false
  /** set on routes with plugins */
  readonly #plugins: PluginChain | null
  readonly #pctx: PluginRequest | null
  /**
   * The upstream answered gRPC Trailers-Only (grpc-status in the response headers): the head is
   * held here until the end, so that it goes out as one HEADERS frame with END_STREAM.
   */
  #heldHead: string[] | null = null
  #grpcTrailersOnly = false
  readonly #trace: RequestTrace | null

  constructor(o: ExchangeOptions) {
    this.#hooks = o.hooks
    this.#req = o.req
    this.#res = o.res
    this.#split = o.split
    this.#throttler = o.split.backend.throttler!
    this.#url = o.url
    this.#headers = o.headers
    this.#scheme = o.scheme
    this.arrived = o.arrived
    this.#plugins = o.plugins ?? null
    this.#pctx = o.pluginContext ?? null
    this.#trace = o.trace ?? null
    // timeoutSeconds (or a shorter response-start/idle limit) covers the time spent buffered too.
    const firstByteMs = o.split.backend.firstByteMs
    this.deadline = firstByteMs > 0 ? o.arrived + firstByteMs : Infinity
    ;(o.res as Tagged)[kExchange] = this
    o.res.on('close', onDownstreamClose)
  }

  /** an instance was given (the request did not wait, or waited and was sent) */
  get sent(): boolean {
    return this.#instance !== null
  }

  /** Send the request to an instance that has a free slot for it. */
  send(instance: UpstreamInstance, now: number): void {
    this.#instance = instance
    const b = this.#split.backend
    let headersTimeout = b.firstByteMs
    if (headersTimeout > 0 && now > this.arrived) headersTimeout = Math.max(1, Math.ceil(this.deadline - now))
    const req = this.#req
    const split = this.#split
    const opts: TlsDispatchOptions = {
      path: this.#url,
      method: req.method ?? 'GET',
      headers: this.#headers ??= upstreamHeaders(req, this.#scheme, split, b.protocol === 'h2c', this.#hooks.table.trustedProxies),
      body: hasBody(req) ? req : null,
      headersTimeout,
      bodyTimeout: b.idleMs,
      upgrade: null,
      // without it undici takes the SNI name from the Host header (and reconnects when it changes)
      servername: instance.tls?.servername,
    }
    if (this.#trace !== null) this.#trace.send(opts.headers as string[], instance.origin, now)
    // The fast path's requests go through its lean client, everything else through undici.
    if (isFastRequest(req)) instance.lean.dispatch(opts, this)
    else instance.dispatcher.dispatch(opts, this)
  }

  /** Refuse a request that never reached an instance (queue full, waited too long, revision gone). */
  reject(status: 503 | 504, body: string, retryAfter?: string): void {
    if (this.done) return
    this.#status = status
    if (status === 504) this.#split.slot.errors[ERR.response_start_timeout]++
    localReply(this.#res, status, body, this.#hooks.draining, retryAfter === undefined ? undefined : ['retry-after', retryAfter])
    this.finish()
  }

  /** The client can take more: let the upstream body flow again. */
  resume(): void {
    if (this.#controller !== null && !this.done) this.#controller.resume()
  }

  /** Streams (SSE, chunked) show their headers even when no body byte follows yet. */
  flushIfIdle(): void {
    if (!this.#wroteBody && !this.done && !this.#res.destroyed) this.#res.flushHeaders?.()
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller
    if (this.done) controller.abort(new ClientClosedError('client closed the connection'))
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (statusCode > 599) return this.#badUpstream(controller, `status ${statusCode}`)
    if (statusCode < 200) {
      // 100 was answered by Node itself; other 1xx are not forwarded. llhttp reads any three
      // digits: below 100 is no HTTP status at all.
      if (statusCode < 100) this.#badUpstream(controller, `status ${statusCode}`)
      return
    }
    // outlier detection: what the instance answered (only 5xx streaks can eject it)
    this.#throttler.outcome(this.#instance!, statusCode)
    const out: string[] = []
    const connection = headers.connection
    const named = connection === undefined ? null : (typeof connection === 'string' ? connection : connection.join(',')).toLowerCase()
    // config-sluice disable-server-header: Sluice's `server` replaces the upstream's unless it is set.
    const server = this.#hooks.table.serverHeader ?? null
    const drop = server === null ? RESPONSE_HOP_BY_HOP : RESPONSE_HOP_BY_HOP_AND_SERVER
    for (const name in headers) {
      const value = headers[name]
      if (value === undefined || drop.has(name)) continue
      if (named !== null && named.includes(name) && listed(named, name)) continue
      if (typeof value === 'string') out.push(name, value)
      else for (const v of value) out.push(name, v)
    }
    if (server !== null) out.push('server', server)
    this.#status = statusCode
    this.#grpcTrailersOnly = headers['grpc-status'] !== undefined
    if (this.#plugins !== null) {
      this.#pluginHeaders(controller, statusCode, out, statusMessage)
      return
    }
    const http1 = this.#req.httpVersionMajor === 1
    if (this.#hooks.draining && http1) out.push('connection', 'close')
    if (this.#grpcTrailersOnly) {
      this.#heldHead = out
      return
    }
    if (statusMessage && http1) this.#res.writeHead(statusCode, statusMessage, out)
    else this.#res.writeHead(statusCode, out)
    // Streams (SSE, chunked) must show their headers now even if no byte follows yet. Node writes
    // headers together with the first chunk, so only flush when none came in this parser pass.
    if (headers['content-length'] === undefined) process.nextTick(flushIfIdle, this)
  }

  /** The upstream's answer is not HTTP we can forward: 502, counted as a protocol error. */
  #badUpstream(controller: Controller, what: string): void {
    if (this.done) return
    if (this.#status === 0 && this.#instance !== null) this.#throttler.outcome(this.#instance, LOCAL_FAILURE)
    this.#split.slot.errors[ERR.protocol]++
    if (this.#trace !== null) this.#trace.error = 'invalid_response'
    this.#status = 502
    localReply(this.#res, 502, `upstream failed: ${what}\n`, this.#hooks.draining)
    controller.abort(new ClientClosedError('invalid upstream response'))
    this.finish()
  }

  #pluginHeaders(controller: Controller, statusCode: number, out: string[], statusMessage: string | undefined): void {
    const ctx = this.#pctx!
    ctx.status = statusCode
    ctx.responseHeaders.flat = out
    const phase = this.#plugins!.onResponseHeaders
    if (phase.length === 0) return this.#writePluginHead(statusCode, statusMessage)
    let r: PhaseOutcome | Promise<PhaseOutcome>
    try {
      r = runPhase(phase, 'onResponseHeaders', ctx)
    } catch (err) {
      return this.#pluginFailed(err)
    }
    if (r instanceof Promise) {
      // An asynchronous phase: hold the upstream body until the headers are written.
      controller.pause()
      r.then((v) => {
        if (this.done) return
        if (v !== undefined) return this.#replace(controller, v)
        this.#writePluginHead(statusCode, statusMessage)
        controller.resume()
      }, (err: unknown) => this.#pluginFailed(err))
      return
    }
    if (r === undefined) this.#writePluginHead(statusCode, statusMessage)
    else this.#replace(controller, r)
  }

  #writePluginHead(upstreamStatus: number, statusMessage: string | undefined): void {
    const ctx = this.#pctx!
    this.#status = ctx.status
    const flat = ctx.responseHeaders.flat
    const http1 = this.#req.httpVersionMajor === 1
    if (this.#hooks.draining && http1) flat.push('connection', 'close')
    if (this.#grpcTrailersOnly) {
      this.#heldHead = flat
      return
    }
    if (statusMessage && ctx.status === upstreamStatus && http1) this.#res.writeHead(ctx.status, statusMessage, flat)
    else this.#res.writeHead(ctx.status, flat)
  }

  /** A plugin replaced the upstream response: answer with it and drop the upstream's. */
  #replace(controller: Controller, lr: CheckedResponse): void {
    this.#replaced = true
    this.#status = lr.status
    const flat = lr.flat
    let hasLength = false
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'content-length') hasLength = true
    if (!hasLength) flat.push('content-length', String(Buffer.byteLength(lr.body)))
    this.#res.writeHead(lr.status, flat)
    this.#res.end(lr.body)
    controller.abort(new ClientClosedError('response replaced by a plugin'))
    this.finish()
  }

  #pluginFailed(err: unknown): void {
    const f: PluginFailure = asFailure(err)
    f.entry.errors++
    this.#hooks.log.error('plugin failed; answering 500', { plugin: f.entry.name, err: f.cause })
    this.#pctx!.error = f
    if (!this.#res.headersSent) {
      this.#status = 500
      localReply(this.#res, 500, `plugin ${f.entry.name} failed\n`, this.#hooks.draining)
    } else {
      this.#res.destroy(f)
    }
    this.#controller?.abort(new ClientClosedError('plugin failed'))
    this.finish()
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#replaced || this.done) return
    this.#wroteBody = true
    if (this.#trace !== null) this.#trace.bytes += chunk.length
    if (this.#heldHead !== null) this.#releaseHead()
    const plugins = this.#plugins
    if (plugins !== null && plugins.onResponseData.length > 0) {
      try {
        chunk = runResponseData(plugins.onResponseData, this.#pctx!, chunk, false)
      } catch (err) {
        this.#pluginFailed(err)
        return
      }
      if (chunk.length === 0) return
    }
    if (!this.#res.write(chunk)) {
      controller.pause()
      this.#res.once('drain', onDownstreamDrain)
    }
  }

  onResponseEnd(_controller: Controller, trailers: Record<string, string | string[] | undefined>): void {
    if (this.#replaced || this.done) return
    const plugins = this.#plugins
    if (plugins !== null && plugins.onResponseData.length > 0) {
      let tail: Buffer
      try {
        tail = runResponseData(plugins.onResponseData, this.#pctx!, EMPTY, true)
      } catch (err) {
        this.#pluginFailed(err)
        return
      }
      if (tail.length > 0) {
        if (this.#heldHead !== null) this.#releaseHead()
        this.#res.write(tail)
      }
    }
    if (this.#heldHead !== null) {
      this.#endTrailersOnly(this.#heldHead, trailers)
      this.finish()
      return
    }
    for (const _ in trailers) {
      this.#res.addTrailers(trailers as Record<string, string>)
      break
    }
    this.#res.end()
    this.finish()
  }

  /** A held Trailers-Only head gets a body after all: send it as an ordinary head. */
  #releaseHead(): void {
    const flat = this.#heldHead!
    this.#heldHead = null
    this.#res.writeHead(this.#status, flat)
  }

  /**
   * Answer with the held head alone. Node's HTTP/2 compat writeHead() sends HEADERS at once
   * without END_STREAM; headers set before end() go out with it (one frame, END_STREAM set).
   */
  #endTrailersOnly(flat: string[], trailers: Record<string, string | string[] | undefined>): void {
    this.#heldHead = null
    const res = this.#res
    res.statusCode = this.#status
    const byName = new Map<string, string[]>()
    for (let i = 0; i < flat.length; i += 2) {
      const values = byName.get(flat[i]!)
      if (values === undefined) byName.set(flat[i]!, [flat[i + 1]!])
      else values.push(flat[i + 1]!)
    }
    // Trailers after a Trailers-Only head would be a protocol error; they belong to the one frame.
    for (const name in trailers) {
      const v = trailers[name]
      if (v !== undefined) byName.set(name, typeof v === 'string' ? [v] : v)
    }
    for (const [name, values] of byName) res.setHeader(name, values.length === 1 ? values[0]! : values)
    res.end()
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.done || this.#replaced) return
    const res = this.#res
    if (err instanceof ClientClosedError) {
      this.finish()
      return
    }
    const kind = classify(err)
    const inst = this.#instance
    const req = this.#req
    let counted = false
    if (inst !== null && this.#status === 0 && (kind === ERR.connect || kind === ERR.reset)
      && mayResend(kind === ERR.connect, req.method ?? 'GET', hasBody(req), req.readableDidRead)) {
      const t = this.#throttler
      if (kind === ERR.connect) {
        t.outcome(inst, LOCAL_FAILURE)
        counted = true
        if (t.managed) {
          // An instance Sluice runs is gone (crashed or stopping) and nothing was sent: the request
          // waits for another one in the activator's queue. Not a retry: no instance saw it.
          inst.unroutable = true
          this.#sendAgain(inst, null)
          return
        }
      }
      // A reset before any response byte on an idempotent request without a body is what a
      // kept-alive connection to an instance that just died looks like; a refused connection sent
      // nothing. Either goes to another instance (a revision Sluice runs: maybe a new connection to
      // the same one), a bounded number of times, within the revision's retry budget.
      const policy = this.#split.retry ?? DEFAULT_RETRY_POLICY
      if (this.#replays < policy.attempts && (t.managed || t.hasAlternative(inst)) && (this.#retrying || t.startRetry())) {
        this.#retrying = true
        this.#replays++
        t.retries++
        this.#sendAgain(inst, t.managed ? null : inst)
        return
      }
    }
    this.#split.slot.errors[kind]++
    // No response from the instance at all: a gateway error for outlier detection.
    if (this.#status === 0 && inst !== null && !counted) this.#throttler.outcome(inst, LOCAL_FAILURE)
    if (this.#trace !== null) this.#trace.error = errorLabel(err)
    if (!res.headersSent) {
      if (kind === ERR.response_start_timeout || kind === ERR.idle_timeout) {
        this.#status = 504
        localReply(res, 504, 'request timeout\n', this.#hooks.draining)
      } else {
        this.#status = 502
        localReply(res, 502, 'upstream failed: ' + errorLabel(err) + '\n', this.#hooks.draining)
      }
    } else {
      // Bytes were sent: the status cannot change, so the stream is cut and the client sees it.
      res.destroy(err)
    }
    this.finish()
  }

  /** Give the instance back and wait in the queue again, for another instance than `avoid` if there is one. */
  #sendAgain(inst: UpstreamInstance, avoid: UpstreamInstance | null): void {
    this.#throttler.putBack(inst)
    this.#instance = null
    this.#controller = null
    this.avoid = avoid
    this.#throttler.requeue(this)
  }

  /** The client went away before the exchange finished. */
  clientClosed(): void {
    if (this.done) return
    if (this.#status === 0) this.#status = 499
    if (this.#controller !== null) this.#controller.abort(new ClientClosedError('client closed the connection'))
    this.finish()
  }

  finish(): void {
    if (this.done) return
    this.done = true
    const now = performance.now()
    if (this.#retrying) {
      this.#retrying = false
      this.#throttler.retryOver()
    }
    this.#split.slot.record(this.#status, (now - this.arrived) / 1000)
    this.#throttler.leave(now, this.#instance)
    if (this.#trace !== null) this.#trace.end(this.#status, now)
    const plugins = this.#plugins
    if (plugins !== null) {
      const ctx = this.#pctx!
      ctx.status = this.#status
      runComplete(plugins.onComplete, ctx, (f) => {
        f.entry.errors++
        this.#hooks.log.error('plugin onComplete failed', { plugin: f.entry.name, err: f.cause })
      })
    }
    this.#hooks.exchangeDone()
  }
}

/** undici reads `servername` from dispatch options (lib/core/request.js) but its types omit it. */
type TlsDispatchOptions = Dispatcher.DispatchOptions & { servername?: string | undefined }


// HTTP/1.1 requests carry no body unless content-length/transfer-encoding says so. HTTP/2 frames
// the body itself (DATA frames up to END_STREAM) and content-length is optional (gRPC and
// streaming clients never send it): there a request has no body only when its HEADERS frame
// ended the stream, or when it says content-length: 0.
function hasBody(req: DownstreamRequest): boolean {
  const h = req.headers
  if (h['transfer-encoding'] !== undefined) return true
  const cl = h['content-length']
  if (cl !== undefined) return cl !== '0'
  return 'stream' in req && !req.stream.endAfterHeaders
}

function listed(connectionValue: string, name: string): boolean {
  for (const t of connectionValue.split(',')) if (t.trim() === name) return true
  return false
}

function classify(err: Error & { code?: string }): number {
  switch (err.code) {
    case 'UND_ERR_HEADERS_TIMEOUT': return ERR.response_start_timeout
    case 'UND_ERR_BODY_TIMEOUT': return ERR.idle_timeout
    case 'ECONNREFUSED': case 'ENOTFOUND': case 'EAI_AGAIN': case 'EHOSTUNREACH': case 'ENETUNREACH':
    case 'UND_ERR_CONNECT_TIMEOUT': case 'ECONNABORTED':
      return ERR.connect
    case 'ECONNRESET': case 'EPIPE': case 'UND_ERR_SOCKET': case 'UND_ERR_CLOSED':
      return ERR.reset
    case 'HPE_INVALID_CONSTANT': case 'HPE_INVALID_HEADER_TOKEN': case 'UND_ERR_INVALID_ARG': case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW': case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return ERR.protocol
    default:
      // undici's HTTPParserError usually has no code (it looks the number up in a name→number map)
      return (typeof err.code === 'string' && err.code.startsWith('HPE_')) || err.name === 'HTTPParserError' ? ERR.protocol : ERR.other
  }
}

function errorLabel(err: Error & { code?: string }): string {
  return err.code ?? err.name
}

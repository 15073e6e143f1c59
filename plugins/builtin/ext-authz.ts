// ext-authz: asks an authorization service about each request, like Envoy's ext_authz as Kourier
// configures it. `url: grpc://host:port` speaks Envoy's gRPC Authorization service
// (ext-authz-grpc.ts); `http://` / `https://` the HTTP mode described here. The check goes to `<url><pathPrefix><original path and query>` with the
// original method and a chosen set of headers; 2xx allows (copying chosen headers onto the upstream
// request), any other status denies with that status, its body and chosen headers; a timeout or
// connection error denies with statusOnError (403, as Envoy) unless failureModeAllow.
import { Pool } from 'undici'
import type { ConfigIssue, LocalResponse, PluginContext, PluginInstance, RequestContext } from '../api.ts'
import { definePlugin } from '../api.ts'
import { array, boolean, duration, number, object, record, string, validator } from '../schema.ts'
import { HEADER_PATTERN, headerMatcher, type HeaderMatcher } from './ext-authz-match.ts'
import { bufferBody, type BufferedBody } from './ext-authz-body.ts'
import { GrpcExtAuthz } from './ext-authz-grpc.ts'

const schema = object({
  /** the auth service: http://host:port (optionally with a base path), https://…, or grpc://host:port */
  url: string(),
  /** inserted between the url and the original path (Kourier's extauthz-path-prefix) */
  pathPrefix: string({ default: '' }),
  timeout: duration({ default: 2_000, min: 1 }),
  failureModeAllow: boolean({ default: false }),
  statusOnError: number({ default: 403, integer: true, min: 200, max: 599 }),
  /** request headers sent to the auth service; `prefix-*` patterns allowed */
  allowedRequestHeaders: array(string({ nonEmpty: true }), { default: ['authorization', 'cookie', 'x-forwarded-*'] }),
  /** headers of an allowing response copied onto the upstream request (overwriting) */
  allowedUpstreamHeaders: array(string({ nonEmpty: true }), { default: [] }),
  /** headers of a denying response passed to the client; `*` = all but hop-by-hop */
  allowedClientHeaders: array(string({ nonEmpty: true }), { default: ['*'] }),
  /** fixed headers added to every check (Kourier sends context such as client and visibility); secret, as they may carry the auth service's credentials */
  extraHeaders: record(string({ secret: true }), { default: {} }),
  /** a denial body longer than this is cut */
  maxBodyBytes: number({ default: 8_192, integer: true, min: 0 }),
  /** keep-alive connections to the auth service, per route */
  connections: number({ default: 32, integer: true, min: 1 }),
  /** send the first bytes of the request body with the check (Envoy's with_request_body, partial allowed); 0 = none */
  maxRequestBodyBytes: number({ default: 0, integer: true, min: 0, max: 64 * 1024 * 1024 }),
  /** gRPC only: the body goes in `raw_body` (bytes) instead of `body` (a UTF-8 string) */
  packAsBytes: boolean({ default: false }),
  /** gRPC only: the CheckRequest's context_extensions (Kourier: client, visibility and the KIngress labels) */
  contextExtensions: record(string(), { default: {} }),
  /** gRPC only: add context_extensions.visibility, ClusterLocal for *.svc hosts and ExternalIP otherwise */
  visibility: boolean({ default: false }),
  /**
   * skip Knative readiness probes (K-Network-Probe: probe on /healthz, answered by the gateway, the
   * activator or queue-proxy, never by the app) and ACME HTTP-01 challenges, as Kourier's ext_authz
   * is off on its status vhost and acme-challenge routes
   */
  skipProbes: boolean({ default: false }),
})

export type ExtAuthzConfig = ReturnType<typeof schema.parse>

const NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function check(c: ExtAuthzConfig, issues: ConfigIssue[]): void {
  const u = parseUrl(c.url)
  if (u === null) issues.push({ path: 'url', message: `must be an http://, https:// or grpc:// URL such as http://authz.example:8080, got ${JSON.stringify(c.url)}` })
  else if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') issues.push({ path: 'url', message: 'must not have a query, fragment or credentials' })
  else if (u.protocol === 'grpc:') {
    if (u.port === '') issues.push({ path: 'url', message: `a grpc:// URL needs a port, such as grpc://authz.example:9001, got ${JSON.stringify(c.url)}` })
    if (u.pathname !== '' && u.pathname !== '/') issues.push({ path: 'url', message: 'a grpc:// URL has no path: the service is envoy.service.auth.v3.Authorization' })
    if (c.pathPrefix !== '') issues.push({ path: 'pathPrefix', message: 'applies to http:// and https:// only; remove it or use an http:// url' })
  }
  if (u !== null && u.protocol !== 'grpc:' && c.packAsBytes) issues.push({ path: 'packAsBytes', message: 'applies to grpc:// only (an HTTP check carries the body as its own body)' })
  if (c.pathPrefix !== '' && !c.pathPrefix.startsWith('/')) issues.push({ path: 'pathPrefix', message: `must start with /, got ${JSON.stringify(c.pathPrefix)}` })
  for (const list of ['allowedRequestHeaders', 'allowedUpstreamHeaders', 'allowedClientHeaders'] as const) {
    c[list].forEach((p, i) => {
      if (!HEADER_PATTERN.test(p)) issues.push({ path: `${list}[${i}]`, message: `${JSON.stringify(p)} is not a header name or name-prefix* pattern` })
    })
  }
  for (const [k, v] of Object.entries(c.extraHeaders)) {
    if (!NAME.test(k)) issues.push({ path: `extraHeaders.${k}`, message: 'not a valid header name' })
    else if (!/^[\t\x20-\x7e]*$/.test(v)) issues.push({ path: `extraHeaders.${k}`, message: 'value must be printable ASCII' })
  }
}

function parseUrl(s: string): URL | null {
  try {
    const u = new URL(s)
    return u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'grpc:' ? u : null
  } catch {
    return null
  }
}

/** A request ext-authz leaves alone with skipProbes. */
export function exempt(ctx: RequestContext): boolean {
  return (ctx.path === '/healthz' && ctx.req.headers['k-network-probe'] === 'probe') || ctx.path.startsWith('/.well-known/acme-challenge/')
}

class ExtAuthzInstance implements PluginInstance {
  readonly pool: Pool
  private readonly base: string
  private readonly timeout: number
  private readonly failureModeAllow: boolean
  private readonly onError: LocalResponse
  private readonly sendHeader: HeaderMatcher
  private readonly upstreamHeader: HeaderMatcher | null
  private readonly clientHeader: HeaderMatcher
  private readonly extra: readonly string[]
  private readonly maxBody: number
  private readonly maxRequestBody: number
  private readonly skipProbes: boolean
  private readonly log: PluginContext['log']
  private lastLog = 0
  private quiet = 0

  constructor(c: ExtAuthzConfig, ctx: PluginContext) {
    const u = new URL(c.url)
    this.pool = new Pool(u.origin, { connections: c.connections, connect: { timeout: c.timeout } })
    this.base = u.pathname.replace(/\/$/, '') + c.pathPrefix.replace(/\/$/, '')
    this.timeout = c.timeout
    this.failureModeAllow = c.failureModeAllow
    this.onError = Object.freeze({ status: c.statusOnError })
    this.sendHeader = headerMatcher(c.allowedRequestHeaders)
    this.upstreamHeader = c.allowedUpstreamHeaders.length > 0 ? headerMatcher(c.allowedUpstreamHeaders) : null
    this.clientHeader = headerMatcher(c.allowedClientHeaders)
    this.extra = Object.entries(c.extraHeaders).flatMap(([k, v]) => [k.toLowerCase(), v])
    this.maxBody = c.maxBodyBytes
    this.maxRequestBody = c.maxRequestBodyBytes
    this.skipProbes = c.skipProbes
    this.log = ctx.log
  }

  onRequest(ctx: RequestContext): Promise<LocalResponse | undefined> | undefined {
    if (this.skipProbes && exempt(ctx)) return undefined
    if (this.maxRequestBody === 0) return this.check(ctx, this.headers(ctx), null)
    const body = bufferBody(ctx.req, this.maxRequestBody, this.timeout)
    if (body instanceof Promise) return body.then((b) => this.withBody(ctx, b))
    return this.withBody(ctx, body)
  }

  private withBody(ctx: RequestContext, body: BufferedBody): Promise<LocalResponse | undefined> {
    const headers = this.headers(ctx)
    if (body.bytes.length === 0) return this.check(ctx, headers, null)
    headers.push('x-envoy-auth-partial-body', body.partial ? 'true' : 'false')
    return this.check(ctx, headers, body.bytes)
  }

  private headers(ctx: RequestContext): string[] {
    const headers: string[] = []
    let forwardedHost = false
    for (const [k, v] of ctx.requestHeaders.entries()) {
      if (!this.sendHeader(k)) continue
      headers.push(k, v)
      if (k === 'x-forwarded-host') forwardedHost = true
    }
    // the service sees its own Host; the one the client asked for travels as x-forwarded-host
    if (!forwardedHost) headers.push('x-forwarded-host', ctx.host)
    for (const h of this.extra) headers.push(h)
    return headers
  }

  private async check(ctx: RequestContext, headers: string[], body: Buffer | null): Promise<LocalResponse | undefined> {
    let res
    try {
      res = await this.pool.request({
        path: this.base + ctx.url,
        method: ctx.method,
        headers,
        body,
        signal: AbortSignal.timeout(this.timeout),
      })
    } catch (err) {
      return this.failed(ctx, err)
    }
    try {
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump()
        const pick = this.upstreamHeader
        if (pick !== null) {
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined || !pick(k)) continue
            if (typeof v === 'string') ctx.requestHeaders.set(k, v)
            else {
              ctx.requestHeaders.remove(k)
              for (const one of v) ctx.requestHeaders.add(k, one)
            }
          }
        }
        return undefined
      }
      const out: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && this.clientHeader(k)) out[k] = v
      return { status: res.statusCode, headers: out, body: await readUpTo(res.body, this.maxBody) }
    } catch (err) {
      res.body.destroy()
      return this.failed(ctx, err)
    }
  }

  private failed(ctx: RequestContext, err: unknown): LocalResponse | undefined {
    const now = Date.now()
    // one line per 10 s at most: an auth service outage should not flood the log
    if (now - this.lastLog >= 10_000) {
      const e = err as { name?: string; message?: string; code?: string }
      this.log.warn('ext-authz: check failed', {
        route: `${ctx.route.namespace}/${ctx.route.name}`,
        error: e.name === 'TimeoutError' ? `timed out after ${this.timeout} ms` : (e.code ?? e.message ?? String(err)),
        suppressed: this.quiet,
        failureModeAllow: this.failureModeAllow,
      })
      this.lastLog = now
      this.quiet = 0
    } else {
      this.quiet++
    }
    return this.failureModeAllow ? undefined : this.onError
  }

  /** Not part of the plugin API: lets tests (and a future dispose hook) release the pool. */
  close(): Promise<void> {
    return this.pool.close()
  }
}

/** The body up to `limit` bytes; the rest is discarded and the stream destroyed. */
async function readUpTo(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const room = limit - size
    if (chunk.length >= room) {
      if (room > 0) parts.push(chunk.subarray(0, room))
      size = limit
      body.destroy()
      break
    }
    parts.push(chunk)
    size += chunk.length
  }
  return Buffer.concat(parts, size)
}

export default definePlugin<ExtAuthzConfig>({
  name: 'ext-authz',
  priority: 1100,
  validate: validator(schema, check),
  create(config, ctx) {
    const u = new URL(config.url)
    if (u.protocol !== 'grpc:') return new ExtAuthzInstance(config, ctx)
    return new GrpcExtAuthz({
      address: u.host, timeout: config.timeout, failureModeAllow: config.failureModeAllow, statusOnError: config.statusOnError,
      maxRequestBodyBytes: config.maxRequestBodyBytes, packAsBytes: config.packAsBytes, metadata: config.extraHeaders,
      contextExtensions: config.contextExtensions, visibility: config.visibility, skipProbes: config.skipProbes,
    }, ctx)
  },
})

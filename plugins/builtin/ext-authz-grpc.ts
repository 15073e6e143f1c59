// ext-authz over gRPC: Envoy's `envoy.service.auth.v3.Authorization/Check`, Kourier's default
// extauthz-protocol. The CheckRequest carries what Envoy's CheckRequestUtils puts in it (peers,
// method, path with query, host, scheme, protocol, every request header including the pseudo
// headers, the buffered body as `body` or `raw_body`, context_extensions); initial metadata carries
// `extraHeaders` (Kourier sends `client: kourier`). An OK status allows and applies ok_response's
// header edits to the upstream request; any other status denies with denied_response's status
// (403 when unset), headers and body; a transport error or the deadline fails like the HTTP mode.
// @grpc/grpc-js and @grpc/proto-loader load on first use, so Sluice without a gRPC ext-authz
// never loads them.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type * as Grpc from '@grpc/grpc-js'
import type { LocalResponse, PluginContext, PluginInstance, RequestContext } from '../api.ts'
import { bufferBody, NO_BODY, type BufferedBody } from './ext-authz-body.ts'
import { HOP_BY_HOP } from './ext-authz-match.ts'
import { exempt } from './ext-authz.ts'

export interface GrpcAuthzOptions {
  /** host:port of the Authorization service */
  readonly address: string
  readonly timeout: number
  readonly failureModeAllow: boolean
  readonly statusOnError: number
  readonly maxRequestBodyBytes: number
  readonly packAsBytes: boolean
  /** gRPC initial metadata on every Check */
  readonly metadata: Readonly<Record<string, string>>
  readonly contextExtensions: Readonly<Record<string, string>>
  /** add context_extensions.visibility (ClusterLocal | ExternalIP) from the request host, as Kourier's per-vhost context */
  readonly visibility: boolean
  /** leave Knative probes and ACME challenges alone (see ext-authz.ts) */
  readonly skipProbes: boolean
}

interface HeaderValueOption {
  header?: { key?: string; value?: string; raw_value?: Buffer }
  append?: { value?: boolean } | null
  append_action?: number
}
interface CheckResponse {
  status?: { code?: number; message?: string } | null
  denied_response?: { status?: { code?: number } | null; headers?: HeaderValueOption[]; body?: string } | null
  ok_response?: { headers?: HeaderValueOption[]; headers_to_remove?: string[] } | null
}
type CheckFn = (req: unknown, md: Grpc.Metadata, opts: Grpc.CallOptions, cb: (err: Grpc.ServiceError | null, res?: CheckResponse) => void) => Grpc.ClientUnaryCall
interface AuthorizationClient extends Grpc.Client { Check: CheckFn }
type AuthorizationCtor = new (address: string, creds: Grpc.ChannelCredentials, options?: Grpc.ChannelOptions) => AuthorizationClient

/** The vendored protos, next to this file (and copied next to the compiled one in dist/). */
export const PROTO_DIR = fileURLToPath(new URL('./protos/', import.meta.url))

let loaded: { grpc: typeof Grpc; Authorization: AuthorizationCtor } | null = null

function load(): { grpc: typeof Grpc; Authorization: AuthorizationCtor } {
  if (loaded !== null) return loaded
  const require = createRequire(import.meta.url)
  const grpc = require('@grpc/grpc-js') as typeof Grpc
  const protoLoader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader')
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: [PROTO_DIR], keepCase: true, longs: Number, enums: Number, defaults: false, oneofs: false,
  })
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: AuthorizationCtor } } } } }
  loaded = { grpc, Authorization: pkg.envoy.service.auth.v3.Authorization }
  return loaded
}

/** The gRPC status code OK (google.rpc.Code). */
const OK = 0
const APPEND_ACTION = { APPEND_IF_EXISTS_OR_ADD: 0, ADD_IF_ABSENT: 1, OVERWRITE_IF_EXISTS_OR_ADD: 2, OVERWRITE_IF_EXISTS: 3 } as const

export class GrpcExtAuthz implements PluginInstance {
  readonly #client: AuthorizationClient
  readonly #metadata: Grpc.Metadata
  readonly #o: GrpcAuthzOptions
  readonly #onError: LocalResponse
  readonly #denied: LocalResponse
  readonly #log: PluginContext['log']
  #lastLog = 0
  #quiet = 0

  constructor(o: GrpcAuthzOptions, ctx: PluginContext) {
    const { grpc, Authorization } = load()
    this.#o = o
    // Each route has its own client; grpc-js shares the connection (subchannel) among them.
    this.#client = new Authorization(o.address, grpc.credentials.createInsecure(), { 'grpc.keepalive_time_ms': 60_000 })
    // connect now, so the first request does not pay for the connection inside its deadline
    this.#client.getChannel().getConnectivityState(true)
    this.#metadata = new grpc.Metadata()
    for (const [k, v] of Object.entries(o.metadata)) this.#metadata.set(k.toLowerCase(), v)
    this.#onError = Object.freeze({ status: o.statusOnError })
    this.#denied = Object.freeze({ status: 403 })
    this.#log = ctx.log
  }

  onRequest(ctx: RequestContext): Promise<LocalResponse | undefined> | LocalResponse | undefined {
    if (this.#o.skipProbes && exempt(ctx)) return undefined
    const body = bufferBody(ctx.req, this.#o.maxRequestBodyBytes, this.#o.timeout)
    if (body instanceof Promise) return body.then((b) => this.#check(ctx, b))
    return this.#check(ctx, body)
  }

  #check(ctx: RequestContext, body: BufferedBody): Promise<LocalResponse | undefined> {
    const request = this.#request(ctx, body)
    return new Promise((resolve) => {
      this.#client.Check(request, this.#metadata.clone(), { deadline: Date.now() + this.#o.timeout }, (err, res) => {
        if (err !== null || res === undefined) resolve(this.#failed(ctx, err))
        else resolve(this.#apply(ctx, res))
      })
    })
  }

  /** The CheckRequest Envoy's CheckRequestUtils::createHttpCheck builds. */
  #request(ctx: RequestContext, body: BufferedBody): unknown {
    const req = ctx.req
    const headers: Record<string, string> = {}
    const scheme = 'encrypted' in req.socket && req.socket.encrypted === true ? 'https' : 'http'
    headers[':authority'] = ctx.host
    headers[':method'] = ctx.method
    headers[':path'] = ctx.url
    headers[':scheme'] = scheme
    // Repeated headers are joined with ',', as Envoy's header map does for the check.
    for (const [k, v] of ctx.requestHeaders.entries()) headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`
    if (body !== NO_BODY && body.bytes.length > 0) headers['x-envoy-auth-partial-body'] = body.partial ? 'true' : 'false'
    const len = ctx.requestHeaders.get('content-length')
    const ext = this.#o.visibility ? { ...this.#o.contextExtensions, visibility: visibilityOf(ctx.host) } : this.#o.contextExtensions
    const now = Date.now()
    return {
      attributes: {
        source: peer(req.socket.remoteAddress ?? ctx.remoteAddress, req.socket.remotePort),
        destination: peer(req.socket.localAddress, req.socket.localPort),
        request: {
          time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 },
          http: {
            id: ctx.requestHeaders.get('x-request-id') ?? '',
            method: ctx.method,
            headers,
            path: ctx.url,
            host: ctx.host,
            scheme,
            protocol: req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
            size: len !== undefined && /^\d+$/.test(len) ? Number(len) : -1,
            ...(body.bytes.length === 0 ? {} : this.#o.packAsBytes ? { raw_body: body.bytes } : { body: body.bytes.toString('utf8') }),
          },
        },
        context_extensions: ext,
      },
    }
  }

  #apply(ctx: RequestContext, res: CheckResponse): LocalResponse | undefined {
    if ((res.status?.code ?? OK) === OK) {
      const ok = res.ok_response
      if (ok != null) {
        for (const name of ok.headers_to_remove ?? []) {
          const l = name.toLowerCase()
          // Envoy refuses to remove the pseudo headers and Host.
          if (!l.startsWith(':') && l !== 'host') ctx.requestHeaders.remove(l)
        }
        for (const h of ok.headers ?? []) editHeader(ctx.requestHeaders, h)
      }
      return undefined
    }
    const denied = res.denied_response
    if (denied == null) return this.#denied
    const out: Record<string, string | string[]> = {}
    for (const h of denied.headers ?? []) {
      const k = h.header?.key?.toLowerCase()
      if (k === undefined || k === '' || HOP_BY_HOP.has(k)) continue
      const v = headerValue(h)
      const prev = out[k]
      out[k] = prev === undefined || !appends(h) ? v : [...(Array.isArray(prev) ? prev : [prev]), v]
    }
    const code = denied.status?.code ?? 0
    return { status: code >= 200 && code <= 599 ? code : 403, headers: out, body: denied.body ?? '' }
  }

  #failed(ctx: RequestContext, err: Grpc.ServiceError | null): LocalResponse | undefined {
    const now = Date.now()
    // one line per 10 s at most: an auth service outage should not flood the log
    if (now - this.#lastLog >= 10_000) {
      this.#log.warn('ext-authz: check failed', {
        route: `${ctx.route.namespace}/${ctx.route.name}`,
        error: err === null ? 'empty response' : err.details || err.message,
        suppressed: this.#quiet,
        failureModeAllow: this.#o.failureModeAllow,
      })
      this.#lastLog = now
      this.#quiet = 0
    } else {
      this.#quiet++
    }
    return this.#o.failureModeAllow ? undefined : this.#onError
  }

  close(): void {
    this.#client.close()
  }
}

function peer(address: string | undefined, port: number | undefined): unknown {
  return { address: { socket_address: { address: address ?? '', port_value: port ?? 0 } } }
}

/** Knative's cluster-local hosts end in .svc or .svc.<cluster domain>; every other host is public. */
export function visibilityOf(host: string): 'ClusterLocal' | 'ExternalIP' {
  const h = host.endsWith('.') ? host.slice(0, -1) : host
  return h.endsWith('.svc') || h.includes('.svc.') ? 'ClusterLocal' : 'ExternalIP'
}

function headerValue(h: HeaderValueOption): string {
  const raw = h.header?.raw_value
  return raw !== undefined && raw.length > 0 ? raw.toString('latin1') : (h.header?.value ?? '')
}

/** `append: true` (deprecated but what most servers send) adds a value; unset means overwrite, as Envoy's ext_authz. */
function appends(h: HeaderValueOption): boolean {
  if (h.append != null) return h.append.value === true
  return false
}

function editHeader(headers: RequestContext['requestHeaders'], h: HeaderValueOption): void {
  const k = h.header?.key?.toLowerCase()
  if (k === undefined || k === '' || k.startsWith(':') || HOP_BY_HOP.has(k)) return
  const v = headerValue(h)
  if (h.append != null) {
    if (h.append.value === true) headers.add(k, v)
    else headers.set(k, v)
    return
  }
  switch (h.append_action ?? 0) {
    case APPEND_ACTION.ADD_IF_ABSENT: if (!headers.has(k)) headers.set(k, v); return
    case APPEND_ACTION.OVERWRITE_IF_EXISTS: if (headers.has(k)) headers.set(k, v); return
    // APPEND_IF_EXISTS_OR_ADD is the proto default, which Envoy's ext_authz has always read as
    // "set" for OkHttpResponse headers unless `append` says otherwise.
    default: headers.set(k, v)
  }
}

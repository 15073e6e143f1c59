// A kept-alive connection pool to the API server for the requests Sluice makes by the thousand (the
// status writes: control/status/status-writes.ts), with the kubeconfig's server, TLS material and
// credentials. @kubernetes/client-node 2.0 builds a new undici Agent for every request it sends
// with TLS options (any real cluster, and insecure-skip-tls-verify), so each status write opened a
// new connection (a TLS handshake in a cluster) and went through its ObjectSerializer and
// middleware: ~1 ms of CPU per write before the request left, 2,000 of them at start-up.
//
// What client-node does per request is done here per batch: `kc.applyToHTTPSOptions` (the same
// function client-node's own callers use) gives the CA, client certificate, key and the headers
// (bearer token from the kubeconfig, a token file such as the pod's service-account token, exec or
// OIDC plugins, impersonation); it is asked again when the last answer is older than
// `credentialsTtlMs` (1 s) and after a 401, so a rotated service-account token or an expiring exec
// credential is picked up as client-node would. When the TLS material changes (a rotated client
// certificate) the pool is replaced; the old one finishes what it has in flight.
//
// A cluster reached through a proxy (`proxy-url` in the kubeconfig) is not handled here:
// `ApiPool.for` returns undefined and the caller keeps client-node's path for it.
import type { OutgoingHttpHeaders } from 'node:http'
import type { RequestOptions } from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node'
import { Pool } from 'undici'

export interface ApiPoolOptions {
  /** connections to the API server at most (HTTP/1.1: one request each at a time; more wait in the pool) */
  readonly connections?: number
  /** re-read the kubeconfig's credentials when the last read is older than this (default 1 s) */
  readonly credentialsTtlMs?: number
  /** no response headers, or a pause in the body, for this long fails the request (default 30 s) */
  readonly timeoutMs?: number
}

/** An answer from the API server that is not 2xx: `code` is the HTTP status, `message` the Status message. */
export class ApiError extends Error {
  readonly code: number
  readonly body: unknown
  constructor(code: number, message: string, body: unknown) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.body = body
  }
}

interface Credentials {
  readonly headers: Record<string, string>
  /** the TLS material the pool was made with: a change makes a new pool */
  readonly tls: string
  readonly connect: Record<string, unknown>
}

const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const

export class ApiPool {
  readonly #kc: KubeConfig
  readonly #origin: string
  /** the server URL's path (a kubeconfig may name https://host/prefix), without a trailing slash */
  readonly #prefix: string
  readonly #o: ApiPoolOptions
  #pool: Pool | undefined
  #poolTls: string | undefined
  #credentials: Promise<Credentials> | undefined
  #readAt = 0
  #closed = false

  /** undefined when this kubeconfig's cluster needs what only client-node's path has (a proxy) */
  static for(kc: KubeConfig, o: ApiPoolOptions = {}): ApiPool | undefined {
    const cluster = kc.getCurrentCluster()
    if (cluster === null || (cluster.proxyUrl ?? '') !== '') return undefined
    if (cluster.server.startsWith('http:') && cluster.skipTLSVerify !== true) return undefined // client-node's own error
    return new ApiPool(kc, new URL(cluster.server), o)
  }

  private constructor(kc: KubeConfig, server: URL, o: ApiPoolOptions) {
    this.#kc = kc
    this.#origin = server.origin
    this.#prefix = server.pathname.replace(/\/+$/, '')
    this.#o = o
  }

  /**
   * One request; resolves with the parsed JSON answer of a 2xx, rejects with an ApiError (HTTP
   * status and the Status message) otherwise, or with undici's error when there was no answer.
   */
  async request(method: 'PUT' | 'PATCH' | 'POST' | 'GET', path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
    const creds = await this.#credentialsNow()
    const pool = this.#poolFor(creds)
    const headers: OutgoingHttpHeaders = { ...creds.headers, accept: 'application/json', 'user-agent': 'sluice' }
    let payload: string | undefined
    if (body !== undefined) {
      payload = JSON.stringify(body)
      headers['content-type'] = contentType
    }
    const res = await pool.request({ method, path: this.#prefix + path, headers, body: payload })
    const text = await res.body.text()
    let parsed: unknown
    try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = text }
    if (res.statusCode >= 200 && res.statusCode < 300) return parsed
    // A rejected token: read the credentials again before the retry.
    if (res.statusCode === 401) this.#credentials = undefined
    const message = (parsed as { message?: unknown } | undefined)?.message
    throw new ApiError(res.statusCode, typeof message === 'string' ? message : `HTTP ${res.statusCode} from ${method} ${path}`, parsed)
  }

  /** Requests in flight finish; nothing new starts. */
  close(): Promise<void> {
    this.#closed = true
    const p = this.#pool
    this.#pool = undefined
    return p === undefined ? Promise.resolve() : p.close().catch(() => {})
  }

  #credentialsNow(): Promise<Credentials> {
    const now = performance.now()
    if (this.#credentials === undefined || now - this.#readAt > (this.#o.credentialsTtlMs ?? 1000)) {
      this.#readAt = now
      const p = this.#read()
      // a failure is not kept: the next request reads again
      p.catch(() => { if (this.#credentials === p) this.#credentials = undefined })
      this.#credentials = p
    }
    return this.#credentials
  }

  async #read(): Promise<Credentials> {
    const opts: RequestOptions = {}
    await this.#kc.applyToHTTPSOptions(opts)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v)
    }
    // username/password users: client-node sets `auth` for https.request
    if (typeof opts.auth === 'string' && headers['authorization'] === undefined) {
      headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`
    }
    const connect: Record<string, unknown> = {}
    const parts: string[] = []
    for (const f of TLS_FIELDS) {
      const v = opts[f]
      if (v === undefined || v === null) continue
      connect[f] = v
      parts.push(`${f}=${Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(String).join(',') : String(v)}`)
    }
    return { headers, tls: parts.join('\n'), connect }
  }

  #poolFor(c: Credentials): Pool {
    if (this.#closed) throw new Error('the API server connection pool is closed')
    if (this.#pool !== undefined && this.#poolTls === c.tls) return this.#pool
    // new TLS material: new connections with it; the old pool finishes its requests
    void this.#pool?.close().catch(() => {})
    const timeout = this.#o.timeoutMs ?? 30_000
    this.#pool = new Pool(this.#origin, {
      connections: this.#o.connections ?? 8,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 30_000,
      connect: { ...c.connect, keepAlive: true, keepAliveInitialDelay: 30_000 },
    })
    this.#poolTls = c.tls
    return this.#pool
  }
}

// Shared pieces of the gateway integration tests: YAML builders for KIngress routes and their core
// Service/Endpoints backends, an HTTP client that can set any Host and see everything (status,
// headers, trailers, 100-continue, cuts), raw sockets for malformed requests, and metric reads.
import http from 'node:http'
import net from 'node:net'
import { Readable } from 'node:stream'
import { stringify } from 'yaml'
import type { SluiceProcess } from '../fixtures/sluice.ts'
import { metric } from '../fixtures/sluice.ts'

/** a port nothing listens on (bound, then released) */
export async function closedPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

/** Several objects as one multi-document YAML file. */
export function yamlDocs(...objects: object[]): string {
  return objects.map((o) => stringify(o)).join('---\n')
}

/**
 * A core v1 Service `name` (port 80 → targetPort) with legacy Endpoints at 127.0.0.1:<port>, or an
 * EndpointSlice when `slice` is set; `port` null gives Endpoints without any ready address.
 */
export function coreBackend(name: string, port: number | null, opts: { namespace?: string; slice?: boolean } = {}): object[] {
  const namespace = opts.namespace ?? 'default'
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 80, targetPort: port ?? 8080 }] } }
  if (opts.slice) {
    return [svc, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-abc`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: port === null ? [] : [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
      ports: [{ port: port ?? 8080 }],
    }]
  }
  return [svc, {
    apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace },
    subsets: port === null ? [] : [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port }] }],
  }]
}

export interface SplitSpec { service: string; percent?: number; appendHeaders?: Record<string, string> }
export interface PathSpec {
  path?: string
  headers?: Record<string, string>
  appendHeaders?: Record<string, string>
  rewriteHost?: string
  splits: SplitSpec[]
}
export interface RuleSpec { hosts: string[]; visibility?: 'ExternalIP' | 'ClusterLocal'; paths: PathSpec[] }

/** A KIngress (networking.internal.knative.dev/v1alpha1 Ingress) in namespace default. */
export function kingress(name: string, rules: RuleSpec[], namespace = 'default'): object {
  return {
    apiVersion: 'networking.internal.knative.dev/v1alpha1',
    kind: 'Ingress',
    metadata: { name, namespace, annotations: { 'networking.knative.dev/ingress.class': 'sluice.ingress.networking.knative.dev' } },
    spec: {
      rules: rules.map((r) => ({
        hosts: r.hosts,
        visibility: r.visibility ?? 'ExternalIP',
        http: {
          paths: r.paths.map((p) => ({
            ...(p.path !== undefined ? { path: p.path } : {}),
            ...(p.headers !== undefined ? { headers: Object.fromEntries(Object.entries(p.headers).map(([k, v]) => [k, { exact: v }])) } : {}),
            ...(p.appendHeaders !== undefined ? { appendHeaders: p.appendHeaders } : {}),
            ...(p.rewriteHost !== undefined ? { rewriteHost: p.rewriteHost } : {}),
            splits: p.splits.map((s) => ({
              serviceName: s.service,
              serviceNamespace: namespace,
              servicePort: 80,
              ...(s.percent !== undefined ? { percent: s.percent } : {}),
              ...(s.appendHeaders !== undefined ? { appendHeaders: s.appendHeaders } : {}),
            })),
          })),
        },
      })),
    },
  }
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  trailers: NodeJS.Dict<string>
  body: Buffer
  text: string
  /** body bytes received (also with discardBody) */
  length: number
  /** the response ended normally (false: the stream was cut) */
  complete: boolean
  /** the error seen after the response started, if any */
  error?: Error
  /** a 100 Continue arrived before the response */
  continued: boolean
  /** ms from sending to the response head, and to the first body byte */
  headMs: number
  firstByteMs: number
  totalMs: number
}

export interface SendOptions {
  method?: string
  path?: string
  headers?: http.OutgoingHttpHeaders | [string, string][]
  body?: string | Buffer | Readable | (() => AsyncIterable<Buffer | string>)
  agent?: http.Agent | false
  /** connect from this loopback address (127.0.0.2 is a different peer than 127.0.0.1) */
  localAddress?: string
  /** wait for 100 Continue before writing the body */
  expectContinue?: boolean
  timeoutMs?: number
  /** keep only the body length, not the bytes (large downloads) */
  discardBody?: boolean
  /** called for every body chunk with the ms since sending */
  onData?: (chunk: Buffer, ms: number) => void
}

/**
 * One HTTP/1.1 exchange with 127.0.0.1:port and any Host. Resolves on end or on a cut after the
 * head (complete: false); rejects on connection errors before a head and after timeoutMs.
 */
export function send(port: number, host: string, opts: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let headers: http.OutgoingHttpHeaders | string[]
    if (Array.isArray(opts.headers)) headers = [...opts.headers.flat(), 'host', host]
    else headers = { ...opts.headers, host }
    // Node's client frames a one-shot body with Content-Length only for methods that expect one
    const b = opts.body
    if (typeof b === 'string' || Buffer.isBuffer(b)) {
      const has = Array.isArray(headers) ? headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-length')
        : Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')
      if (!has) {
        const n = String(Buffer.byteLength(b))
        if (Array.isArray(headers)) headers.push('content-length', n)
        else headers['content-length'] = n
      }
    }
    if (opts.expectContinue) {
      if (Array.isArray(headers)) headers.push('expect', '100-continue')
      else headers.expect = '100-continue'
    }
    const req = http.request({
      host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET',
      headers, agent: opts.agent ?? false, setHost: false, localAddress: opts.localAddress,
    })
    let continued = false
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      req.destroy()
      reject(new Error(`${opts.method ?? 'GET'} ${host}${opts.path ?? '/'} did not finish in ${opts.timeoutMs ?? 10_000} ms`))
    }, opts.timeoutMs ?? 10_000)
    const writeBody = (): void => {
      const b = opts.body
      if (b === undefined) { req.end(); return }
      if (typeof b === 'string' || Buffer.isBuffer(b)) { req.end(b); return }
      const src = typeof b === 'function' ? Readable.from(b()) : b
      src.on('error', (e) => req.destroy(e))
      src.pipe(req)
    }
    req.on('continue', () => {
      continued = true
      if (opts.expectContinue) writeBody()
    })
    req.on('response', (res) => {
      const headMs = performance.now() - t0
      let firstByteMs = -1
      const chunks: Buffer[] = []
      let length = 0
      let error: Error | undefined
      res.on('data', (c: Buffer) => {
        const ms = performance.now() - t0
        if (firstByteMs < 0) firstByteMs = ms
        length += c.length
        if (!opts.discardBody) chunks.push(c)
        opts.onData?.(c, ms)
      })
      const done = (complete: boolean): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        const body = opts.discardBody ? Buffer.alloc(0) : Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, trailers: res.trailers,
          body, text: body.toString('utf8'), length, complete, continued, headMs, firstByteMs, totalMs: performance.now() - t0,
          ...(error !== undefined ? { error } : {}),
        })
      }
      res.on('end', () => done(res.complete))
      res.on('error', (e) => { error = e })
      res.on('aborted', () => { error ??= new Error('aborted') })
      res.on('close', () => done(res.complete && error === undefined))
    })
    req.on('error', (e) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(e)
    })
    if (!opts.expectContinue) writeBody()
    else req.flushHeaders()
  })
}

/**
 * Writes raw bytes to the port and collects everything until the server closes the connection
 * (closed: true) or timeoutMs passes (closed: false, with what came so far).
 */
export function rawConversation(port: number, data: string | Buffer, timeoutMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const text = (): string => Buffer.concat(chunks).toString('latin1')
    const timer = setTimeout(() => { sock.destroy(); resolve({ text: text(), closed: false }) }, timeoutMs)
    sock.on('connect', () => sock.write(data))
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // the server may reset after answering; what was received is the answer
      if (chunks.length > 0 || e.code === 'ECONNRESET' || e.code === 'EPIPE') return
      clearTimeout(timer)
      reject(e)
    })
    sock.on('close', () => { clearTimeout(timer); resolve({ text: text(), closed: true }) })
  })
}

/** rawConversation, just the bytes received. */
export async function rawExchange(port: number, data: string | Buffer, timeoutMs = 3000): Promise<string> {
  return (await rawConversation(port, data, timeoutMs)).text
}

/** The status code of the first response in a raw HTTP/1.1 answer (0 when there is none). */
export function rawStatus(answer: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer)
  return m === null ? 0 : Number(m[1])
}

/** The admin /metrics text. */
export async function scrape(s: SluiceProcess): Promise<string> {
  const r = await s.admin('/metrics')
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return r.body
}

/** One sample from /metrics (0 when the series does not exist yet). */
export async function sample(s: SluiceProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metric(await scrape(s), name, labels) ?? 0
}

/** What the fixture backend answers by default: the request it saw. */
export interface Echo {
  backend: string
  method: string
  url: string
  httpVersion: string
  headers: Record<string, string | string[] | undefined>
}

export function echo(r: Reply): Echo {
  try {
    return JSON.parse(r.text) as Echo
  } catch {
    throw new Error(`expected the backend's JSON echo, got ${r.status}: ${r.text.slice(0, 300)}`)
  }
}

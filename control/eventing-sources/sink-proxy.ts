// A loopback address for sinks a local process cannot resolve. Knative injects K_SINK as
// `http://broker-ingress.knative-eventing.svc.cluster.local/<ns>/<broker>` or
// `http://<svc>.<ns>.svc.cluster.local`, names only cluster DNS knows. Here K_SINK becomes
// `http://127.0.0.1:<port>/<host>/<path>`, and this proxy forwards each request to the gateway's
// internal listener with `Host: <host>`, so the event reaches the same Broker or Service (through
// the activator) as Knative's URL would. Only hosts of currently bound sinks are forwarded.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import type { Destination } from '../../gateway/eventing/types.ts'

const TIMEOUT_MS = 60_000
const MAX_CONNECTIONS = 256
/** hop-by-hop headers, and host (set from the path) */
const DROP = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length'])

export class SinkProxy {
  readonly #server: http.Server
  readonly #agent = new Agent({ connections: 64, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, connectTimeout: 10_000 })
  readonly #internalOrigin: () => string | undefined
  #hosts: ReadonlySet<string> = new Set()
  #port = 0

  constructor(internalOrigin: () => string | undefined) {
    this.#internalOrigin = internalOrigin
    this.#server = http.createServer((req, res) => void this.#forward(req, res))
    this.#server.requestTimeout = TIMEOUT_MS
    this.#server.headersTimeout = 10_000
    this.#server.keepAliveTimeout = 5_000
    this.#server.maxConnections = MAX_CONNECTIONS
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(0, '127.0.0.1', () => { this.#server.off('error', reject); resolve() })
    })
    this.#port = (this.#server.address() as AddressInfo).port
    return this.#port
  }

  /** the hosts that may be forwarded (those of the destinations handed out by the last configuration) */
  allow(hosts: ReadonlySet<string>): void {
    this.#hosts = hosts
  }

  /** What a local process should POST to for `dest`: the URL itself when it is directly reachable. */
  urlFor(dest: Destination): string {
    if (dest.connectTo === null || this.#port === 0) return dest.url
    const u = new URL(dest.url)
    return `http://127.0.0.1:${this.#port}/${u.host}${u.pathname}${u.search}`
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((r) => this.#server.close(() => r()))
    await this.#agent.close()
  }

  async #forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const slash = url.indexOf('/', 1)
    const host = slash < 0 ? url.slice(1) : url.slice(1, slash)
    if (!this.#hosts.has(host)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no bound sink for host ${JSON.stringify(host)}\n`)
      req.resume()
      return
    }
    const origin = this.#internalOrigin()
    if (origin === undefined) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('the gateway is not listening yet\n')
      req.resume()
      return
    }
    const headers: Record<string, string | string[]> = { host }
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP.has(k)) headers[k] = v
    try {
      const upstream = await request(origin + (slash < 0 ? '/' : url.slice(slash)), {
        method: (req.method ?? 'POST') as 'POST', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req, dispatcher: this.#agent,
      })
      const out: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(upstream.headers)) if (v !== undefined && !DROP.has(k)) out[k] = v
      res.writeHead(upstream.statusCode, out)
      for await (const chunk of upstream.body) res.write(chunk)
      res.end()
    } catch (err) {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`sink unreachable: ${(err as Error).message}\n`)
      else res.destroy()
    }
  }
}

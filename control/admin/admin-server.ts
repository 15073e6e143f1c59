// The admin listener (127.0.0.1:9090 by default): Prometheus metrics, health and readiness, and
// JSON views of the compiled table and of every resource with its computed status.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { Gateway } from '../../gateway/gateway.ts'
import { describeTable } from '../../gateway/describe.ts'
import type { ControlLoop } from '../control-loop.ts'
import { formatError } from '../sources/format-error.ts'
import type { ScalingLoop } from '../scaling/scaling-loop.ts'

export interface AdminOptions {
  port: number
  host: string
  gateway: Gateway
  loop: ControlLoop
  registry: Registry
  scaling?: ScalingLoop
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}

function json(res: ServerResponse, value: unknown): void {
  send(res, 200, 'application/json; charset=utf-8', JSON.stringify(value, null, 2) + '\n')
}

export class AdminServer {
  readonly #opts: AdminOptions
  readonly #server: http.Server

  constructor(opts: AdminOptions) {
    this.#opts = opts
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err) => send(res, 500, 'text/plain', String(err) + '\n'))
    })
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#opts.port, this.#opts.host, () => resolve((this.#server.address() as AddressInfo).port))
    })
  }

  close(): Promise<void> {
    this.#server.closeAllConnections()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { gateway, loop, registry } = this.#opts
    const path = (req.url ?? '/').split('?')[0]
    switch (path) {
      case '/metrics': {
        const body = await registry.metrics()
        send(res, 200, registry.contentType, body)
        return
      }
      case '/healthz':
        send(res, 200, 'text/plain', 'ok\n')
        return
      case '/readyz': {
        const errors = loop.errors.map(formatError)
        if (gateway.draining) send(res, 503, 'text/plain', 'draining: shutting down\n')
        else if (!loop.ready) send(res, 503, 'text/plain', ['not ready: no valid configuration loaded yet', ...errors].join('\n') + '\n')
        else if (errors.length > 0) {
          // Still serving, so still ready; the detail says what is wrong with the latest edit.
          send(res, 200, 'text/plain', ['ready: serving the last good configuration; the latest load has errors:', ...errors].join('\n') + '\n')
        } else send(res, 200, 'text/plain', 'ready\n')
        return
      }
      case '/debug/routes':
        json(res, describeTable(gateway.table))
        return
      case '/debug/instances':
        json(res, this.#opts.scaling?.describeInstances() ?? {})
        return
      case '/debug/autoscaler':
        json(res, this.#opts.scaling?.describeAutoscaler() ?? {})
        return
      case '/debug/resources':
        json(res, {
          loadedAt: loop.loadedAt?.toISOString() ?? null,
          errors: loop.errors.map(formatError),
          objects: loop.resources(),
        })
        return
      default:
        send(res, 404, 'text/plain', 'not found; try /metrics, /healthz, /readyz, /debug/routes, /debug/resources, /debug/instances, /debug/autoscaler\n')
    }
  }
}

// The admin listener (127.0.0.1:9090 by default): Prometheus metrics, health and readiness, and
// JSON views of the compiled table and of every resource with its computed status, and the live
// dashboard at `/` (dashboard/dashboard.ts). Access is
// checked first (admin-access.ts: Host, then the optional token); every view is redacted
// (redact.ts) so no credential from the configuration leaves through it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { isIP, type AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { Gateway } from '../../gateway/gateway.ts'
import { describeTable } from '../../gateway/describe.ts'
import type { ControlLoop } from '../control-loop.ts'
import { formatError } from '../sources/format-error.ts'
import type { ScalingLoop } from '../scaling/scaling-loop.ts'
import { AdminAccess, type AdminAccessOptions } from './admin-access.ts'
import { LiveRedaction, type Redactor } from './redact.ts'
import type { AppLogLine } from '../runtime/app-logs.ts'
import { describeEventing } from './describe-eventing.ts'
import { Dashboard } from './dashboard/dashboard.ts'
import { BASIC_CHALLENGE, bearerFromBasic, isDashboardPath } from './dashboard/browser-auth.ts'
import type { EventStreamOptions } from './dashboard/event-stream.ts'
import { send } from './send.ts'
import type { WorkerPool } from '../workers/worker-pool.ts'

export interface AdminOptions {
  port: number
  host: string
  gateway: Gateway
  loop: ControlLoop
  registry: Registry
  scaling?: ScalingLoop
  /** Host names, token and exemptions (admin-access.ts); the default accepts IP and localhost Hosts, no token */
  access?: AdminAccessOptions
  /** shared with the logger (serve.ts); by default the admin server's own */
  redaction?: LiveRedaction
  /** bounds of the dashboard's event streams (dashboard/event-stream.ts has the defaults) */
  dashboardStreams?: EventStreamOptions
  /** sluice serve --workers: /metrics merges theirs, /debug/workers shows each */
  workers?: WorkerPool | null
}

export class AdminServer {
  readonly #opts: AdminOptions
  readonly #server: http.Server
  readonly #access: AdminAccess
  readonly #redaction: LiveRedaction
  readonly #dashboard: Dashboard

  /** open `/debug/logs?follow=1` responses, ended on close */
  readonly #following = new Set<ServerResponse>()

  constructor(opts: AdminOptions) {
    this.#opts = opts
    this.#redaction = opts.redaction ?? new LiveRedaction(() => opts.loop)
    // A name the listener is bound to is one of its names too.
    const bound = isIP(opts.host) === 0 ? [opts.host] : []
    this.#access = new AdminAccess({ ...opts.access, allowedHosts: [...bound, ...(opts.access?.allowedHosts ?? [])] })
    const workers = opts.workers
    this.#dashboard = new Dashboard({ loop: opts.loop, registry: opts.registry, ...(workers != null ? { metrics: () => workers.merged(opts.registry) } : {}), scaling: opts.scaling, redactor: () => this.#redactor(), stream: opts.dashboardStreams })
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err) => send(res, 500, 'text/plain', this.#redactor().scrubText(String(err)) + '\n'))
    })
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#dashboard.start()
        resolve((this.#server.address() as AddressInfo).port)
      })
    })
  }

  close(): Promise<void> {
    for (const res of this.#following) res.end()
    this.#dashboard.stop()
    this.#server.closeAllConnections()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  #redactor(): Redactor {
    return this.#redaction.current
  }

  /**
   * `/debug/logs?revision=ns/name[&revision=…][&tail=N][&follow=1]`: what the revisions' processes
   * wrote, as NDJSON ({time, revision, instance, stream, line}), redacted like every admin answer.
   * With follow the response stays open and streams new lines until the client leaves.
   */
  #logs(req: IncomingMessage, res: ServerResponse): void {
    const appLogs = this.#opts.scaling?.runtime.appLogs
    const q = new URL(req.url ?? '/', 'http://admin').searchParams
    const revisions = q.getAll('revision').filter((r) => /^[^/]+\/[^/]+$/.test(r))
    if (revisions.length === 0) {
      send(res, 400, 'text/plain', 'name at least one revision: /debug/logs?revision=NAMESPACE/NAME\n')
      return
    }
    const tailText = q.get('tail')
    const tail = tailText === null ? 100 : Number(tailText)
    if (!Number.isInteger(tail) || tail < 0) {
      send(res, 400, 'text/plain', `tail must be a whole number, got ${JSON.stringify(tailText)}\n`)
      return
    }
    const redactor = this.#redactor()
    const json = (l: AppLogLine): string => JSON.stringify({ ...l, time: new Date(l.time).toISOString(), line: redactor.scrubText(l.line) }) + '\n'
    const kept = appLogs?.read(revisions, tail) ?? []
    if (q.get('follow') !== '1' || appLogs === undefined) {
      send(res, 200, 'application/x-ndjson', kept.map(json).join(''))
      return
    }
    const stop = appLogs.follow(revisions, (l) => { res.write(json(l)) })
    if (stop === null) {
      send(res, 503, 'text/plain', 'too many log followers; stop one and retry\n', { 'retry-after': '5' })
      return
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    res.write(kept.map(json).join(''))
    this.#following.add(res)
    res.once('close', () => { stop(); this.#following.delete(res) })
  }

  #json(res: ServerResponse, value: unknown): void {
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.#redactor().scrub(value), null, 2) + '\n')
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { gateway, loop, registry } = this.#opts
    const path = (req.url ?? '/').split('?')[0]
    const access = this.#access
    if (!access.hostAllowed(req.headers.host)) {
      send(res, 421, 'text/plain', `misdirected request: ${JSON.stringify(req.headers.host)} is not a name of the admin listener; ` +
        'use an IP address or localhost, or start sluice with --admin-allowed-host NAME\n')
      return
    }
    // A browser showing the dashboard sends the token as a Basic password (dashboard/browser-auth.ts).
    const dashboard = isDashboardPath(path)
    const authorized = access.authorized(dashboard ? bearerFromBasic(req.headers.authorization) : req.headers.authorization)
    if (!authorized && access.needsToken(path)) {
      const error = req.headers.authorization === undefined ? '' : ', error="invalid_token"'
      const bearer = `Bearer realm="sluice-admin"${error}`
      send(res, 401, 'text/plain', 'unauthorized: send Authorization: Bearer <the SLUICE_ADMIN_TOKEN value>' +
        (dashboard ? ' (a browser: the token as the password, any user name)' : '') + '\n',
      { 'www-authenticate': dashboard ? [bearer, BASIC_CHALLENGE] : bearer })
      return
    }
    if (dashboard) {
      this.#dashboard.handle(req, res, path)
      return
    }
    switch (path) {
      case '/metrics': {
        const workers = this.#opts.workers
        if (workers != null) {
          const merged = await workers.metrics(registry)
          send(res, 200, merged.contentType, merged.body)
          return
        }
        const body = await registry.metrics()
        send(res, 200, registry.contentType, body)
        return
      }
      case '/debug/workers':
        this.#json(res, this.#opts.workers != null ? await this.#opts.workers.describe() : { count: 0, workers: [] })
        return
      case '/healthz':
        send(res, 200, 'text/plain', 'ok\n')
        return
      case '/readyz': {
        // Probes carry no token: without it they get the verdict, not the configuration's errors.
        const n = loop.errors.length
        const errors = authorized ? loop.errors.map((e) => this.#redactor().scrubText(formatError(e)))
          : n === 0 ? [] : [`${n} error${n === 1 ? '' : 's'}; send the admin token to see them`]
        if (gateway.draining) send(res, 503, 'text/plain', 'draining: shutting down\n')
        else if (!loop.ready) send(res, 503, 'text/plain', ['not ready: no valid configuration loaded yet', ...errors].join('\n') + '\n')
        else if (errors.length > 0) {
          // Still serving, so still ready; the detail says what is wrong with the latest edit.
          send(res, 200, 'text/plain', ['ready: serving the last good configuration; the latest load has errors:', ...errors].join('\n') + '\n')
        } else send(res, 200, 'text/plain', 'ready\n')
        return
      }
      case '/debug/routes':
        this.#json(res, describeTable(gateway.table))
        return
      case '/debug/instances':
        this.#json(res, this.#opts.scaling?.describeInstances() ?? {})
        return
      case '/debug/autoscaler':
        this.#json(res, this.#opts.scaling?.describeAutoscaler() ?? {})
        return
      case '/debug/logs':
        this.#logs(req, res)
        return
      case '/debug/builds':
        this.#json(res, loop.describeBuilds())
        return
      case '/debug/resources':
        this.#json(res, {
          loadedAt: loop.loadedAt?.toISOString() ?? null,
          errors: loop.errors.map(formatError),
          objects: this.#redactor().resources(loop.resources()),
        })
        return
      case '/debug/eventing':
        this.#json(res, describeEventing(loop.last?.eventing, gateway.eventing, gateway.eventingStats()))
        return
      default:
        send(res, 404, 'text/plain', 'not found; try / (the dashboard), /metrics, /healthz, /readyz, /debug/routes, /debug/resources, /debug/eventing, /debug/instances, /debug/autoscaler, /debug/logs, /debug/builds, /debug/workers\n')
    }
  }
}

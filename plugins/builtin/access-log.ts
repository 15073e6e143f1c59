// One JSON line per request, written in onComplete (so short-circuits and errors are logged too).
// Lines are batched per event-loop turn and handed to a stream in one write; nothing waits on the
// disk. When the stream falls too far behind, lines are dropped and counted rather than queued
// without bound.
import { createWriteStream, writeSync, appendFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { definePlugin } from '../api.ts'
import type { PluginContext, PluginInstance, RequestContext } from '../api.ts'
import { boolean, number, object, string, validator } from '../schema.ts'

const schema = object({
  /** file to append to, relative to the config file's directory; empty: stdout */
  path: string({ default: '' }),
  /** share of requests logged, from 0 to 1 */
  sampling: number({ min: 0, max: 1, default: 1 }),
  /** count body bytes as they are sent (a per-chunk phase); otherwise `bytes` is the Content-Length */
  countBytes: boolean({ default: false }),
})

export type AccessLogConfig = ReturnType<typeof schema.parse>

/** past this many unwritten bytes, lines are dropped */
const MAX_BACKLOG = 8 * 1024 * 1024

interface Target {
  write(s: string, done?: (err?: Error | null) => void): void
  readonly backlog: number
  /** last resort at process exit: write synchronously */
  writeSync(s: string): void
}

/** Lines gathered during one event-loop turn, written together at setImmediate. */
class Sink {
  pending = ''
  scheduled = false
  dropped = 0
  readonly target: Target
  readonly name: string

  constructor(name: string, target: Target) {
    this.name = name
    this.target = target
  }

  write(line: string, log: PluginContext['log']): void {
    if (this.target.backlog + this.pending.length > MAX_BACKLOG) {
      if (this.dropped++ % 10_000 === 0) log.warn('access log is behind; dropping lines', { path: this.name, dropped: this.dropped })
      return
    }
    this.pending += line
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  flush(done?: () => void): void {
    this.scheduled = false
    const s = this.pending
    this.pending = ''
    // an empty write still matters to a flush: its callback runs once the earlier writes are done
    if (s !== '' || done !== undefined) this.target.write(s, done)
  }
}

// One sink per destination, shared by every route that logs there (instances have no close hook,
// so per-instance streams would leak a file descriptor per reload).
const sinks = new Map<string, Sink>()

function stdoutTarget(): Target {
  // looked up at each write, so tests (and whoever redirects stdout) see the current stream
  return {
    write: (s, done) => { process.stdout.write(s, done) },
    get backlog() { return process.stdout.writableLength },
    writeSync: (s) => { writeSync(1, s) },
  }
}

function fileTarget(path: string, log: PluginContext['log']): Target {
  const stream = createWriteStream(path, { flags: 'a' })
  stream.on('error', (err) => log.error('access log write failed', { path, error: err.message }))
  return {
    write: (s, done) => { stream.write(s, done) },
    get backlog() { return stream.writableLength },
    writeSync: (s) => { appendFileSync(path, s) },
  }
}

function sinkFor(path: string, ctx: PluginContext): Sink {
  const name = path === '' ? '-' : resolve(ctx.baseDir, path)
  let sink = sinks.get(name)
  if (sink === undefined) {
    sink = new Sink(name, name === '-' ? stdoutTarget() : fileTarget(name, ctx.log))
    sinks.set(name, sink)
  }
  return sink
}

// lines still gathered at exit are written synchronously (the stream's own queue may be lost)
process.on('exit', () => {
  for (const s of sinks.values()) if (s.pending !== '') s.target.writeSync(s.pending)
})

/** Write every gathered line and wait until the streams took them (for shutdown and tests). */
export function flushAccessLogs(): Promise<void> {
  return Promise.all([...sinks.values()].map((s) => new Promise<void>((done) => s.flush(done)))).then(() => undefined)
}

const q = JSON.stringify
const BYTES = 'access-log'

function line(ctx: RequestContext, route: string, bytes: number): string {
  const now = performance.now()
  const h = ctx.requestHeaders
  const requestId = h.get('x-request-id')
  const ua = h.get('user-agent')
  return `{"time":${q(new Date(Date.now() - (now - ctx.startTime)).toISOString())},"method":${q(ctx.method)},"host":${q(ctx.host)},` +
    `"path":${q(ctx.path)},"status":${ctx.status},"durationMs":${Math.round((now - ctx.startTime) * 1000) / 1000},` +
    `"revision":${q(ctx.revision)},"route":${route},"remote":${q(ctx.remoteAddress)}` +
    (requestId === undefined ? '' : `,"requestId":${q(requestId)}`) +
    (ua === undefined ? '' : `,"userAgent":${q(ua)}`) +
    (bytes < 0 ? '' : `,"bytes":${bytes}`) +
    (ctx.error === null ? '' : `,"error":${q(ctx.error.message)}`) + '}\n'
}

export default definePlugin<AccessLogConfig>({
  name: 'access-log',
  priority: 5,
  validate: validator(schema),
  create(c, pctx) {
    const instance: PluginInstance = {}
    if (c.sampling === 0) return instance
    const sink = sinkFor(c.path, pctx)
    const route = q(`${pctx.route.namespace}/${pctx.route.name}`)
    const sampling = c.sampling
    if (c.countBytes) {
      instance.onResponseData = (ctx, chunk) => {
        if (chunk.length > 0) ctx.state.set(BYTES, ((ctx.state.get(BYTES) as number | undefined) ?? 0) + chunk.length)
        return chunk
      }
    }
    instance.onComplete = (ctx) => {
      if (sampling < 1 && Math.random() >= sampling) return
      let bytes = c.countBytes ? (ctx.state.get(BYTES) as number | undefined) ?? -1 : -1
      if (bytes < 0) {
        const cl = ctx.responseHeaders.get('content-length')
        if (cl !== undefined && /^\d+$/.test(cl)) bytes = Number(cl)
      }
      sink.write(line(ctx, route, bytes), pctx.log)
    }
    return instance
  },
})

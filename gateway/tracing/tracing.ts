// Turns a TracingConfig into the gateway's tracer. With protocol none (the default) the tracer is
// null and the OpenTelemetry SDK is never loaded: the request path checks one field. Otherwise the
// SDK is imported here, once, and a new configuration replaces the tracer (the old one flushes
// what it holds in the background).
import type { Logger } from '../log.ts'
import type { RequestTracer } from './request-trace.ts'
import { sameTracingConfig, TRACING_OFF, type TracingConfig } from './tracing-config.ts'
import type { TracingCounters } from './tracing-counters.ts'

export class Tracing {
  readonly counters: TracingCounters
  #config: TracingConfig = TRACING_OFF
  #tracer: RequestTracer | null = null
  /** the last configure's work; a later one waits for it */
  #pending: Promise<void> = Promise.resolve()

  constructor(counters: TracingCounters) {
    this.counters = counters
  }

  get tracer(): RequestTracer | null { return this.#tracer }

  /**
   * Apply a configuration; `install` gets the tracer to use (null: off) once it is ready.
   * Resolves when it is installed. A configuration equal to the current one changes nothing.
   */
  configure(config: TracingConfig, log: Logger, install: (t: RequestTracer | null) => void): Promise<void> {
    this.#pending = this.#pending.then(async () => {
      if (sameTracingConfig(config, this.#config)) return
      this.#config = config
      const old = this.#tracer
      let next: RequestTracer | null = null
      if (config.protocol !== 'none') {
        try {
          const { createTracer } = await import('./otel-tracer.ts')
          next = await createTracer(config, this.counters)
          log.info('tracing on', { protocol: config.protocol, endpoint: config.endpoint, samplingRate: config.samplingRate })
        } catch (err) {
          log.error('tracing could not start; requests are not traced', { err })
        }
      } else if (old !== null) log.info('tracing off')
      this.#tracer = next
      install(next)
      old?.shutdown().catch((err: unknown) => log.warn('tracing: flushing the previous exporter failed', { err }))
    })
    return this.#pending
  }

  /** Export what is queued and stop (shutdown), waiting at most `boundMs` for the collector. */
  async close(boundMs = 2_000): Promise<void> {
    await this.#pending
    const t = this.#tracer
    this.#tracer = null
    if (t === null) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([t.shutdown(), new Promise<void>((resolve) => { timer = setTimeout(resolve, boundMs).unref() })])
    clearTimeout(timer)
  }
}

// The main thread's side of the export thread (export-thread.ts): a SpanExporter for the batch
// processor that sends the finished spans there as plain data and reports what the real exporter
// answered. The thread does not keep the process alive; if it dies, exports fail (and are counted
// as failed) instead of waiting.
import { Worker } from 'node:worker_threads'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace'
import { toWire, type ExportThreadData, type FromExportThread, type ToExportThread } from './export-wire.ts'

// The checkout runs the .ts sources; the packed dist/ has them compiled to .js.
const THREAD = new URL(import.meta.url.endsWith('.ts') ? './export-thread.ts' : './export-thread.js', import.meta.url)

export class ThreadExporter implements SpanExporter {
  readonly #worker: Worker
  readonly #pending = new Map<number, (r: FromExportThread) => void>()
  #next = 1
  #gone = ''

  constructor(config: ExportThreadData) {
    const data: ExportThreadData = { protocol: config.protocol, endpoint: config.endpoint, serviceName: config.serviceName }
    this.#worker = new Worker(THREAD, { workerData: data })
    this.#worker.unref()
    this.#worker.on('message', (m: FromExportThread) => {
      const done = this.#pending.get(m.id)
      this.#pending.delete(m.id)
      done?.(m)
    })
    this.#worker.on('error', (err) => this.#fail(`the export thread failed: ${err.message}`))
    this.#worker.on('exit', (code) => this.#fail(`the export thread exited (code ${code})`))
  }

  #fail(why: string): void {
    if (this.#gone === '') this.#gone = why
    for (const [id, done] of this.#pending) {
      this.#pending.delete(id)
      done({ id, code: ExportResultCode.FAILED, error: why })
    }
  }

  #send(m: ToExportThread, done: (r: FromExportThread) => void): void {
    if (this.#gone !== '') {
      done({ id: m.id, code: ExportResultCode.FAILED, error: this.#gone })
      return
    }
    this.#pending.set(m.id, done)
    this.#worker.postMessage(m)
  }

  #call(op: 'flush' | 'shutdown'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#send({ op, id: this.#next++ }, (r) => (r.code === ExportResultCode.SUCCESS ? resolve() : reject(new Error(r.error))))
    })
  }

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.#send({ op: 'export', id: this.#next++, spans: spans.map(toWire) }, (r) => {
      done(r.code === ExportResultCode.SUCCESS ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error(r.error) })
    })
  }

  forceFlush(): Promise<void> {
    return this.#call('flush')
  }

  async shutdown(): Promise<void> {
    if (this.#gone !== '') return
    try {
      await this.#call('shutdown')
    } finally {
      await this.#worker.terminate()
    }
  }
}

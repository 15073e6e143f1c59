// The last line of defence for user code: an exception or rejection that escapes every handler
// (a plugin's forgotten promise, a throw inside a plugin's timer) is logged and counted instead of
// ending the process. The request paths already turn plugin failures into 500s; what reaches here
// has no request left to fail, and a gateway that exits takes every other request down with it.
import type { Registry } from 'prom-client'
import { Counter } from 'prom-client'
import type { Logger } from '../gateway/log.ts'

export interface ProcessGuard {
  /** stop guarding (tests, or a process that embeds serve() and has its own handlers) */
  remove(): void
}

export function guardProcess(log: Logger, registry: Registry): ProcessGuard {
  const escaped = new Counter({
    name: 'sluice_unhandled_errors_total',
    help: 'Exceptions and promise rejections no handler caught (logged, not fatal), by kind.',
    labelNames: ['kind'],
    registers: [registry],
  })
  escaped.inc({ kind: 'exception' }, 0)
  escaped.inc({ kind: 'rejection' }, 0)
  const onRejection = (reason: unknown): void => {
    escaped.inc({ kind: 'rejection' })
    log.error('unhandled promise rejection (ignored)', { err: reason })
  }
  const onException = (err: Error): void => {
    escaped.inc({ kind: 'exception' })
    log.error('uncaught exception (ignored)', { err })
  }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return {
    remove() {
      process.off('unhandledRejection', onRejection)
      process.off('uncaughtException', onException)
    },
  }
}

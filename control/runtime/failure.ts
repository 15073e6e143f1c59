// Why a revision's instances are not coming up, in Knative's vocabulary (`ExitCode<N>`,
// `ProgressDeadline`) so reconcilers can put it on the Revision's conditions unchanged.
import { constants } from 'node:os'
import type { ExitInfo } from './instance.ts'
import type { RuntimeFailure } from './types.ts'

/** Kubernetes reports death by signal N as exit code 128+N. */
export function exitCode(exit: ExitInfo): number | undefined {
  if (exit.code !== null) return exit.code
  if (exit.signal !== null) return 128 + (constants.signals[exit.signal] ?? 0)
  return undefined
}

export function describeExit(exit: ExitInfo): string {
  if (exit.error !== undefined) return `could not start: ${exit.error.message}`
  if (exit.signal !== null) return `was killed by ${exit.signal}`
  return `exited with code ${exit.code}`
}

function lastWords(exit: ExitInfo): string {
  const line = exit.lastStderr ?? exit.lastStdout
  return line === undefined ? '' : `; last output: ${line}`
}

/** The process could not be spawned at all: no point waiting for three crashes. */
export function startFailure(instanceId: string, exit: ExitInfo): RuntimeFailure {
  const missing = exit.error?.code === 'ENOENT'
  return {
    reason: missing ? 'ContainerMissing' : 'ContainerCannotRun',
    message: `instance ${instanceId} ${describeExit(exit)}`,
  }
}

export function crashLoopFailure(instanceId: string, exit: ExitInfo, crashes: number): RuntimeFailure {
  return {
    reason: `ExitCode${exitCode(exit) ?? ''}`,
    message: `instance ${instanceId} ${describeExit(exit)} before becoming ready (${crashes} exits in a row without readiness)${lastWords(exit)}`,
  }
}

export function progressDeadlineFailure(revisionName: string, deadlineMs: number, probe: string, lastOutput: string | undefined): RuntimeFailure {
  const seconds = Math.round(deadlineMs / 100) / 10
  return {
    reason: 'ProgressDeadline',
    message: `no instance of ${revisionName} passed its readiness probe (${probe}) within ${seconds}s` +
      (lastOutput === undefined ? '' : `; last output: ${lastOutput}`),
  }
}

// Why a revision's instances are not coming up, in Knative's vocabulary (`ExitCode<N>`,
// `ProgressDeadline`) so reconcilers can put it on the Revision's conditions unchanged.
import { constants } from 'node:os'
import type { ExitInfo } from './instance.ts'
import type { RuntimeFailure } from './types.ts'
import { ERROR_LINE } from './output.ts'

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
  return exit.lastOutput === undefined ? '' : `; last output: ${exit.lastOutput}`
}

/** Lines of an app's output kept per stream to find its last words in. */
const TAIL_LINES = 64
/** lines that say nothing about the failure: Node's version banner, its --trace-uncaught hint, stack frames */
const NOISE = /^(?:Node\.js v\d|\(Use `node --trace-|\s+at |\s*$)/

/**
 * The last words of one instance, for crash summaries: the first line of the last error report in
 * its output (`Error: Cannot find module './index.js'`, not the `Node.js v24.x` banner Node prints
 * after it), else its last line that is not noise. stderr speaks first; stdout when stderr said nothing.
 */
export class LastWords {
  readonly #tails = { stdout: new Tail(), stderr: new Tail() }

  /** one line, or a record of several joined with \n */
  push(stream: 'stdout' | 'stderr', text: string): void {
    const tail = this.#tails[stream]
    if (text.indexOf('\n') === -1) tail.push(text)
    else for (const line of text.split('\n')) tail.push(line)
  }

  quote(): string | undefined {
    return quoteTail(this.#tails.stderr.lines()) ?? quoteTail(this.#tails.stdout.lines())
  }
}

class Tail {
  readonly #lines: string[] = []
  #next = 0
  push(line: string): void {
    if (this.#lines.length < TAIL_LINES) this.#lines.push(line)
    else this.#lines[this.#next] = line
    this.#next = (this.#next + 1) % TAIL_LINES
  }
  /** oldest first */
  lines(): string[] {
    return this.#lines.length < TAIL_LINES ? this.#lines : [...this.#lines.slice(this.#next), ...this.#lines.slice(0, this.#next)]
  }
}

export function quoteTail(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) if (ERROR_LINE.test(lines[i]!)) return lines[i]
  for (let i = lines.length - 1; i >= 0; i--) if (!NOISE.test(lines[i]!)) return lines[i]
  return undefined
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

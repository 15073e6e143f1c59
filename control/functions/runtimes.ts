// Where Sluice's function runtimes and templates live, and the command that serves a function with
// them. Found next to this module (control/functions/ in a checkout, dist/control/functions/ in an
// installed package, where `npm pack` copies runtime/ and templates/), never from the working
// directory, so `sluice` serves functions from wherever it is installed.
import path from 'node:path'

export const LANGUAGES = ['node', 'typescript', 'python'] as const
export type Language = (typeof LANGUAGES)[number]

export const FUNCTIONS_DIR = import.meta.dirname
export const TEMPLATES_DIR = path.join(FUNCTIONS_DIR, 'templates')
export const NODE_RUNTIME = path.join(FUNCTIONS_DIR, 'runtime', 'node-runtime.mjs')
export const PYTHON_RUNTIME = path.join(FUNCTIONS_DIR, 'runtime', 'python_runtime.py')

/**
 * The process that serves the function in `dir`: Sluice's runtime for its language. `python` is
 * the interpreter (a snapshot's venv, so the function's own requirements import). Node runs as this
 * Node (24, which runs a TypeScript handler itself).
 */
export function runtimeCommand(language: Language, dir: string, python = 'python3'): string[] {
  if (language === 'python') return [python, PYTHON_RUNTIME, dir]
  return [process.execPath, NODE_RUNTIME, dir]
}

/** Whether a command is one of Sluice's function runtimes (as `sluice func deploy` once wrote it). */
export function isRuntimeCommand(command: readonly unknown[]): boolean {
  return command.some((a) => typeof a === 'string' && (a.endsWith('/node-runtime.mjs') || a.endsWith('/python_runtime.py')))
}

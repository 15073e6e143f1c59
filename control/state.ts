// Revision history that must survive restarts: which template each configuration generation had,
// so revision names (`hello-00002`) stay stable and old revisions stay routable by name.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { RevisionTemplate } from './resources/types.ts'

export interface StoredRevision {
  name: string
  generation: number
  templateHash: string
  template: RevisionTemplate
  createdAt: string
  /** sluice.dev/source: the folder resolved when the revision was created, and its snapshot once built */
  /** `command`: the template names its own command (the source need not say how to start) */
  source?: { dir: string; snapshot?: string; command?: boolean }
}

export interface ConfigurationState {
  generation: number
  templateHash: string
  latestReadyRevisionName?: string
  revisions: StoredRevision[]
}

export interface RevisionState {
  version: 1
  configurations: Record<string /* ns/name */, ConfigurationState>
}

export const STATE_FILE = 'state.json'

export function emptyState(): RevisionState {
  return { version: 1, configurations: {} }
}

/** Reads `<dir>/state.json`; a missing file is an empty history, a corrupt one an error naming the file. */
export function loadState(dir: string): RevisionState {
  const file = join(dir, STATE_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
    throw new Error(`cannot read revision state ${file}: ${(err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`revision state ${file} is corrupt (not JSON: ${(err as Error).message}); move it away to start a fresh history`)
  }
  const problem = checkState(doc)
  if (problem !== undefined) throw new Error(`revision state ${file} is corrupt (${problem}); move it away to start a fresh history`)
  return doc as RevisionState
}

/** Writes atomically: a temporary file in the same directory, flushed, then renamed over the old one. */
export function saveState(dir: string, state: RevisionState): void {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, STATE_FILE)
  const tmp = join(dir, `.${STATE_FILE}.${process.pid}.${Date.now()}.tmp`)
  const fd = openSync(tmp, 'w', 0o644)
  try {
    writeSync(fd, JSON.stringify(state, null, 2) + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(tmp, file)
  } catch (err) {
    try { unlinkSync(tmp) } catch { /* already gone */ }
    throw err
  }
}

function checkState(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'top level is not an object'
  const d = doc as Record<string, unknown>
  if (d.version !== 1) return `unsupported version ${JSON.stringify(d.version)}, expected 1`
  const cfgs = d.configurations
  if (typeof cfgs !== 'object' || cfgs === null || Array.isArray(cfgs)) return '"configurations" is not an object'
  for (const [key, c] of Object.entries(cfgs)) {
    const where = `configurations[${JSON.stringify(key)}]`
    if (typeof c !== 'object' || c === null) return `${where} is not an object`
    const cs = c as Record<string, unknown>
    if (!Number.isInteger(cs.generation) || typeof cs.templateHash !== 'string' || !Array.isArray(cs.revisions)) {
      return `${where} needs generation, templateHash and revisions`
    }
    for (const [i, r] of (cs.revisions as unknown[]).entries()) {
      const rv = r as Record<string, unknown> | null
      if (typeof rv !== 'object' || rv === null || typeof rv.name !== 'string' || !Number.isInteger(rv.generation) ||
        typeof rv.templateHash !== 'string' || typeof rv.template !== 'object' || rv.template === null || typeof rv.createdAt !== 'string') {
        return `${where}.revisions[${i}] needs name, generation, templateHash, template and createdAt`
      }
    }
  }
  return undefined
}

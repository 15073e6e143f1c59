// Runs one phase over a chain's entries. Synchronous plugins cost a call each; only a phase that
// returns a promise makes the rest of the phase asynchronous (Fastify's hook runner does the same).
import type { LocalResponse, RequestContext } from '../../plugins/api.ts'
import type { PluginEntry } from './chain.ts'

export type RequestPhase = 'onRequest' | 'onUpstream' | 'onResponseHeaders'
export type PhaseOutcome = LocalResponse | undefined

/** A plugin threw or rejected: the request fails with 500, the gateway goes on. */
export class PluginFailure extends Error {
  readonly entry: PluginEntry
  override readonly cause: unknown
  constructor(entry: PluginEntry, cause: unknown) {
    super(`plugin ${entry.name} failed: ${cause instanceof Error ? cause.message : String(cause)}`)
    this.name = 'PluginFailure'
    this.entry = entry
    this.cause = cause
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function'
}

export function runPhase(entries: readonly PluginEntry[], phase: RequestPhase, ctx: RequestContext, from = 0): PhaseOutcome | Promise<PhaseOutcome> {
  for (let i = from; i < entries.length; i++) {
    const entry = entries[i]
    let r: unknown
    try {
      r = entry.instance[phase]!(ctx)
    } catch (err) {
      throw new PluginFailure(entry, err)
    }
    if (r === undefined || r === null) continue
    if (isThenable(r)) {
      return Promise.resolve(r).then(
        (v) => (v === undefined || v === null ? runPhase(entries, phase, ctx, i + 1) : v as LocalResponse),
        (err: unknown) => { throw new PluginFailure(entry, err) },
      )
    }
    return r as LocalResponse
  }
  return undefined
}

/** onComplete never fails the request (it is over); errors are reported through `onError`. */
export function runComplete(entries: readonly PluginEntry[], ctx: RequestContext, onError: (f: PluginFailure) => void): void {
  for (const entry of entries) {
    try {
      entry.instance.onComplete!(ctx)
    } catch (err) {
      onError(new PluginFailure(entry, err))
    }
  }
}

// Runs one phase over a chain's entries. Synchronous plugins cost a call each; only a phase that
// returns a promise makes the rest of the phase asynchronous (Fastify's hook runner does the same).
// Whatever a plugin does (throw, reject, return garbage, set a status Node cannot write) becomes a
// PluginFailure naming it, raised here, where the caller turns it into a 500 for that request.
import type { RequestContext } from '../../plugins/api.ts'
import type { PluginEntry } from './chain.ts'
import { checkLocalResponse, isFinalStatus, type CheckedResponse } from './local-response.ts'

export type RequestPhase = 'onRequest' | 'onUpstream' | 'onResponseHeaders'
export type PhaseOutcome = CheckedResponse | undefined

/** A plugin threw, rejected or returned what cannot be sent: the request fails with 500, the gateway goes on. */
export class PluginFailure extends Error {
  readonly entry: PluginEntry
  override readonly cause: unknown
  constructor(entry: PluginEntry, cause: unknown) {
    super(`plugin ${entry.name} failed: ${describeCause(cause)}`)
    this.name = 'PluginFailure'
    this.entry = entry
    this.cause = cause
  }
}

/** The runner's own failures (no plugin to blame) are reported under this name. */
export const RUNNER_ENTRY: PluginEntry = { name: '(runner)', instance: {}, errors: 0 }

export function asFailure(err: unknown): PluginFailure {
  return err instanceof PluginFailure ? err : new PluginFailure(RUNNER_ENTRY, err)
}

function describeCause(cause: unknown): string {
  try {
    return cause instanceof Error ? cause.message : String(cause)
  } catch {
    return 'an unprintable value' // a thrown object whose toString throws
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  try {
    return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function'
  } catch {
    return false // a throwing `then` getter: checkLocalResponse reports the object
  }
}

/** A plugin's answer, checked; a bad one is that plugin's failure. */
function outcome(entry: PluginEntry, v: unknown): PhaseOutcome {
  if (v === undefined || v === null) return undefined
  try {
    return checkLocalResponse(v)
  } catch (err) {
    throw new PluginFailure(entry, err)
  }
}

/** onResponseHeaders may set ctx.status: it must stay a status Node can write. */
function checkStatus(entry: PluginEntry, phase: RequestPhase, ctx: RequestContext): void {
  if (phase === 'onResponseHeaders' && !isFinalStatus(ctx.status)) {
    throw new PluginFailure(entry, new TypeError(`ctx.status must be a whole number from 200 to 599, got ${String(ctx.status)}`))
  }
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
    if (r === undefined || r === null) {
      checkStatus(entry, phase, ctx)
      continue
    }
    if (isThenable(r)) {
      return Promise.resolve(r).then(
        (v) => {
          if (v !== undefined && v !== null) return outcome(entry, v)
          checkStatus(entry, phase, ctx)
          return runPhase(entries, phase, ctx, i + 1)
        },
        (err: unknown) => { throw err instanceof PluginFailure ? err : new PluginFailure(entry, err) },
      )
    }
    return outcome(entry, r)
  }
  return undefined
}

/** onComplete never fails the request (it is over); errors, rejections included, go to `onError`. */
export function runComplete(entries: readonly PluginEntry[], ctx: RequestContext, onError: (f: PluginFailure) => void): void {
  for (const entry of entries) {
    try {
      const r: unknown = entry.instance.onComplete!(ctx)
      // Typed void, but an async onComplete returns a promise: a rejection must not go unhandled.
      if (isThenable(r)) r.then(undefined, (err: unknown) => onError(new PluginFailure(entry, err)))
    } catch (err) {
      onError(new PluginFailure(entry, err))
    }
  }
}

/** Body chunks through the opt-in onResponseData plugins (synchronous by contract). */
export function runResponseData(entries: readonly PluginEntry[], ctx: RequestContext, chunk: Buffer, last: boolean): Buffer {
  let out = chunk
  for (const e of entries) {
    try {
      out = e.instance.onResponseData!(ctx, out, last)
    } catch (err) {
      throw new PluginFailure(e, err)
    }
    if (!Buffer.isBuffer(out)) throw new PluginFailure(e, new TypeError(`onResponseData must return a Buffer, got ${out === null ? 'null' : typeof out}`))
  }
  return out
}

// A JSON Web Key Set from a file (jose's createLocalJWKSet) or a URL (jose's createRemoteJWKSet),
// with the loading policy kept here rather than in jose, on an injectable clock:
// - a request never waits on more than one load: concurrent callers share the one in flight, and
//   a load is bounded by `timeout` (jose aborts the fetch), so a slow key endpoint delays only the
//   requests that need keys it has not given yet, never by more than the timeout;
// - past the TTL the next request starts a background reload and is served with the keys it has;
// - load attempts (failed loads, and reloads forced by an unknown `kid`) are at least `cooldown`
//   apart, so random kids or a down endpoint cannot turn into a fetch storm;
// - a failed load keeps the previous keys: a flaky key endpoint should not log everyone out.
// jose's own cache and cooldown are switched off (Infinity) so that jose never fetches by itself.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, type FetchImplementation, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { Agent, fetch as undiciFetch } from 'undici'
import type { PluginContext } from '../api.ts'

export interface JwksOptions {
  /** https:// (or, when allowed, http://) URL, or '' for a file */
  readonly url: string
  /** absolute path, or '' for a URL */
  readonly file: string
  /** ms before a background reload */
  readonly ttl: number
  /** ms for one fetch, connect to body */
  readonly timeout: number
  /** ms between two load attempts (failed loads and unknown kids) */
  readonly cooldown: number
  /** PEM certificates to trust for the URL instead of the system ones ('' for the system's) */
  readonly ca: string
}

type Log = PluginContext['log']
/** milliseconds on any monotonic-enough scale; Date.now by default */
export type Clock = () => number

const RESOLVED: Promise<void> = Promise.resolve()
// a key set is a few kilobytes; anything much bigger is not one
const MAX_JWKS_BYTES = 1 << 20

export class Jwks {
  readonly source: string
  readonly #opts: JwksOptions
  readonly #log: Log
  readonly #clock: Clock
  readonly #load: () => Promise<JWTVerifyGetKey>
  readonly #agent: Agent | null
  #keys: JWTVerifyGetKey | null = null
  #loadedAt = -Infinity
  #attemptedAt = -Infinity
  #inflight: Promise<void> | null = null
  #closed = false
  /** route instances using this set (URL sets are shared) */
  users = 0

  constructor(opts: JwksOptions, log: Log, clock: Clock) {
    this.#opts = opts
    this.#log = log
    this.#clock = clock
    this.source = opts.url !== '' ? opts.url : opts.file
    if (opts.url === '') {
      this.#agent = null
      this.#load = async () => localSet(await readFile(opts.file, 'utf8'))
      return
    }
    // undici with our own pool: a private CA when configured, and a bounded response size
    const ms = Math.max(1, Math.ceil(opts.timeout))
    const agent = new Agent({
      connect: { timeout: ms, ...(opts.ca !== '' ? { ca: opts.ca } : {}) },
      headersTimeout: ms,
      bodyTimeout: ms,
      maxResponseSize: MAX_JWKS_BYTES,
    })
    this.#agent = agent
    // jose passes the global Headers; undici's own fetch takes them as plain pairs
    const fetchVia: FetchImplementation = (url, init) =>
      undiciFetch(url, { method: init.method, redirect: init.redirect, signal: init.signal, headers: [...init.headers], dispatcher: agent }) as unknown as Promise<Response>
    const remote = createRemoteJWKSet(new URL(opts.url), {
      timeoutDuration: ms,
      cacheMaxAge: Infinity,
      cooldownDuration: Infinity,
      [customFetch]: fetchVia,
    })
    // an unusable JWK (bad parameters, a private key) is "no key" for this token, like a missing one
    const keys: JWTVerifyGetKey = (header, token) => remote(header, token).catch((err: unknown) => {
      throw err instanceof errors.JOSEError ? err : new errors.JWKSNoMatchingKey(undefined, { cause: err })
    })
    this.#load = () => remote.reload().then(() => keys)
  }

  /** Load a key file now (at create time, so a bad file fails the route, not its requests). */
  loadSync(): void {
    this.#keys = localSet(readFileSync(this.#opts.file, 'utf8'))
    this.#loadedAt = this.#attemptedAt = this.#clock()
  }

  /** At least one load succeeded. */
  get loaded(): boolean {
    return this.#keys !== null
  }

  /** The keys to use now (null before any load succeeded); past the TTL this starts a background reload. */
  current(): JWTVerifyGetKey | null {
    const now = this.#clock()
    if (now - this.#loadedAt >= this.#opts.ttl) void this.refresh()
    return this.#keys
  }

  /** Reload, unless a load is under way (then share it) or the last attempt is within the cooldown. */
  refresh(): Promise<void> {
    if (this.#inflight !== null) return this.#inflight
    const now = this.#clock()
    if (now - this.#attemptedAt < this.#opts.cooldown) return RESOLVED
    this.#attemptedAt = now
    const p = this.#load().then(
      (keys) => {
        this.#keys = keys
        this.#loadedAt = this.#clock()
      },
      (err: unknown) => {
        if (!this.#closed) this.#log.warn('jwt: cannot load JWKS', { source: this.source, error: reason(err) })
      },
    ).finally(() => {
      this.#inflight = null
    })
    this.#inflight = p
    return p
  }

  /** No route uses the set any more: drop its connections, and a fetch still under way. */
  close(): void {
    this.#closed = true
    void this.#agent?.destroy()
  }
}

function reason(err: unknown): string {
  if (err instanceof errors.JWKSTimeout) return 'timed out'
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
  return `${err.message}${cause}`
}

/** jose's local set over a JWKS document; throws with a readable reason when it is not one. */
export function localSet(text: string): JWTVerifyGetKey {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new Error('not JSON')
  }
  const list = typeof doc === 'object' && doc !== null ? (doc as { keys?: unknown }).keys : undefined
  if (!Array.isArray(list)) throw new Error('not a JWKS: no "keys" list')
  const set = createLocalJWKSet(doc as JSONWebKeySet)
  return (header, token) => set(header, token).catch((err: unknown) => {
    throw err instanceof errors.JOSEError ? err : new errors.JWKSNoMatchingKey(undefined, { cause: err })
  })
}

/** Routes sharing one JWKS URL (and settings) share one set and one fetch; files stay per route. */
export class JwksCache {
  readonly #byKey = new Map<string, Jwks>()
  readonly #clock: Clock

  constructor(clock: Clock) {
    this.#clock = clock
  }

  acquire(opts: JwksOptions, log: Log): Jwks {
    if (opts.url === '') {
      const j = new Jwks(opts, log, this.#clock)
      j.loadSync()
      j.users++
      return j
    }
    const key = JSON.stringify([opts.url, opts.ttl, opts.timeout, opts.cooldown, opts.ca])
    let j = this.#byKey.get(key)
    if (j === undefined) {
      j = new Jwks(opts, log, this.#clock)
      this.#byKey.set(key, j)
      void j.refresh() // warm up so the first request rarely waits
    }
    j.users++
    return j
  }

  /** A route instance is done with `j`: the last user closes its connections. */
  release(j: Jwks): void {
    if (--j.users > 0) return
    for (const [k, v] of this.#byKey) if (v === j) this.#byKey.delete(k)
    j.close()
  }
}

// A JSON Web Key Set from a file or a URL, cached for a TTL. Requests never wait on more than one
// load at a time: concurrent callers share the in-flight promise, and reloads forced by an unknown
// `kid` are limited by a cooldown so random kids cannot turn into a fetch storm.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { PluginContext } from '../api.ts'
import { parseJwk, type VerifyKey } from './jwt-keys.ts'

export interface JwksOptions {
  /** http(s) URL, or '' for a file */
  readonly url: string
  /** absolute path, or '' for a URL */
  readonly file: string
  /** ms before a background reload */
  readonly ttl: number
  /** ms for one fetch */
  readonly timeout: number
  /** ms between two load attempts (failed loads and unknown kids) */
  readonly cooldown: number
}

type Log = PluginContext['log']
const RESOLVED: Promise<void> = Promise.resolve()

export class Jwks {
  keys: readonly VerifyKey[] = []
  /** at least one load succeeded */
  loaded = false
  readonly source: string
  private readonly opts: JwksOptions
  private readonly log: Log
  private loadedAt = 0
  private attemptedAt = -Infinity
  private inflight: Promise<void> | null = null

  constructor(opts: JwksOptions, log: Log) {
    this.opts = opts
    this.log = log
    this.source = opts.url !== '' ? opts.url : opts.file
  }

  /** Load a key file now (at create time, so a bad file fails the route, not its requests). */
  loadSync(): void {
    this.keys = parseJwks(readFileSync(this.opts.file, 'utf8'))
    this.loaded = true
    this.loadedAt = this.attemptedAt = Date.now()
  }

  /** The keys to use now; past the TTL this starts a background reload and keeps the old keys meanwhile. */
  current(now: number): readonly VerifyKey[] {
    if (now - this.loadedAt >= this.opts.ttl) void this.refresh(now)
    return this.keys
  }

  /** Reload, unless a load is under way (then share it) or the last attempt is within the cooldown. */
  refresh(now: number): Promise<void> {
    if (this.inflight !== null) return this.inflight
    if (now - this.attemptedAt < this.opts.cooldown) return RESOLVED
    this.attemptedAt = now
    const p = this.load().then(
      (keys) => {
        this.keys = keys
        this.loaded = true
        this.loadedAt = Date.now()
      },
      (err: unknown) => {
        // keep serving the previous keys: a flaky key endpoint should not log everyone out
        this.log.warn('jwt: cannot load JWKS', { source: this.source, error: err instanceof Error ? err.message : String(err) })
      },
    ).finally(() => {
      this.inflight = null
    })
    this.inflight = p
    return p
  }

  private async load(): Promise<VerifyKey[]> {
    if (this.opts.url === '') return parseJwks(await readFile(this.opts.file, 'utf8'))
    const res = await fetch(this.opts.url, { signal: AbortSignal.timeout(this.opts.timeout), headers: { accept: 'application/json' } })
    if (!res.ok) {
      await res.body?.cancel()
      throw new Error(`HTTP ${res.status}`)
    }
    return parseJwks(await res.text())
  }
}

/** The usable signing keys of a JWKS document; throws when there are none. */
export function parseJwks(text: string): VerifyKey[] {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new Error('not JSON')
  }
  const list = typeof doc === 'object' && doc !== null ? (doc as { keys?: unknown }).keys : undefined
  if (!Array.isArray(list)) throw new Error('not a JWKS: no "keys" list')
  const keys: VerifyKey[] = []
  for (const jwk of list) {
    const k = parseJwk(jwk)
    if (k !== null) keys.push(k)
  }
  if (keys.length === 0) throw new Error('no usable signing keys')
  return keys
}

// Routes sharing one JWKS URL share one cache and one fetch; files are cheap and stay per route.
const byUrl = new Map<string, Jwks>()

export function jwksFor(opts: JwksOptions, log: Log): Jwks {
  if (opts.url === '') {
    const j = new Jwks(opts, log)
    j.loadSync()
    return j
  }
  const key = `${opts.url}\n${opts.ttl}\n${opts.timeout}\n${opts.cooldown}`
  let j = byUrl.get(key)
  if (j === undefined) {
    j = new Jwks(opts, log)
    byUrl.set(key, j)
    void j.refresh(Date.now()) // warm up so the first request rarely waits
  }
  return j
}

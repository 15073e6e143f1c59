// cache: an in-memory shared HTTP cache for GET/HEAD (an RFC 9111 subset). Fresh stored responses
// are answered by the gateway in onRequest; misses are collected in onResponseData and stored at
// the end when the response says how long it stays fresh. Bounded in bytes by an LRU per route.
import { LRUCache } from 'lru-cache'
import type { Headers, LocalResponse, PluginInstance, RequestContext } from '../api.ts'
import { definePlugin } from '../api.ts'
import { validator } from '../schema.ts'
import { cacheSchema, checkCache, type CacheConfig } from './cache-config.ts'
import { freshnessLifetime, initialAge, parseCacheControl, UNSTORED, varyNames, type CacheControl } from './cache-policy.ts'

const NAME = 'cache'
// ctx.state values that need no object per request
const HIT = 'hit'
const BYPASS = 'bypass'

interface Stored {
  readonly status: number
  /** as sent, minus per-delivery headers; content-length set to the body's */
  readonly headers: Readonly<Record<string, string | string[]>>
  readonly body: Buffer
  readonly etag: string | undefined
  /** ms */
  readonly storedAt: number
  /** s: the Age it arrived with */
  readonly initialAge: number
  /** ms */
  readonly expiresAt: number
  readonly size: number
}

/** Stored under the plain key when responses vary: which request headers pick the variant. */
interface VaryMarker {
  readonly vary: readonly string[]
  readonly size: number
}

type Slot = Stored | VaryMarker

/** A miss on its way: what onResponseHeaders decided, and the body so far. */
interface Pending {
  readonly key: string
  readonly head: boolean
  readonly auth: boolean
  collecting: boolean
  chunks: Buffer[]
  bytes: number
  status: number
  headers: Record<string, string | string[]>
  headerBytes: number
  /** content-length the upstream announced, or -1 */
  declared: number
  vary: readonly string[]
  varyKey: string
  etag: string | undefined
  storedAt: number
  initialAge: number
  expiresAt: number
}

const NO_DIRECTIVES: CacheControl = Object.freeze(parseCacheControl([]))
const PRAGMA_NO_CACHE: CacheControl = Object.freeze(parseCacheControl(['no-cache']))

class CacheInstance implements PluginInstance {
  readonly lru: LRUCache<string, Slot>
  private readonly maxEntry: number
  private readonly statuses: ReadonlySet<number>
  private readonly maxTtl: number
  private readonly cacheSetCookie: boolean
  private readonly honorNoCache: boolean
  private readonly statusHeader: string

  constructor(c: CacheConfig) {
    this.lru = new LRUCache<string, Slot>({ maxSize: c.maxSize, sizeCalculation: (v) => v.size })
    this.maxEntry = c.maxEntrySize
    this.statuses = new Set(c.statuses)
    this.maxTtl = c.maxTtl
    this.cacheSetCookie = c.cacheSetCookie
    this.honorNoCache = c.honorRequestNoCache
    this.statusHeader = c.statusHeader.toLowerCase()
  }

  onRequest(ctx: RequestContext): LocalResponse | undefined {
    const h = ctx.requestHeaders
    const method = ctx.method
    // ranges would need partial-content logic; let the upstream answer them
    if ((method !== 'GET' && method !== 'HEAD') || h.has('range')) return this.bypass(ctx)
    const cc = requestDirectives(h)
    if (cc.noStore) return this.bypass(ctx)
    const key = baseKey(ctx)
    const now = Date.now()
    if (!(this.honorNoCache && (cc.noCache || cc.maxAge === 0))) {
      const hit = this.lookup(key, h, now)
      if (hit !== undefined && (cc.maxAge === -1 || ageOf(hit, now) <= cc.maxAge)) return this.serve(ctx, hit, now)
    }
    if (cc.onlyIfCached) {
      ctx.state.set(NAME, BYPASS)
      return { status: 504 }
    }
    const p: Pending = {
      key, head: method === 'HEAD', auth: h.has('authorization'), collecting: false, chunks: [], bytes: 0, status: 0, headers: {},
      headerBytes: 0, declared: -1, vary: [], varyKey: key, etag: undefined, storedAt: 0, initialAge: 0, expiresAt: 0,
    }
    ctx.state.set(NAME, p)
    return undefined
  }

  onResponseHeaders(ctx: RequestContext): void {
    const s = ctx.state.get(NAME)
    // undefined: a plugin before us answered (401, 429…); HIT: our own answer, already marked
    if (s === undefined || s === HIT) return
    if (s === BYPASS) return this.mark(ctx, 'BYPASS')
    const p = s as Pending
    if (!this.admit(ctx, p)) return this.mark(ctx, 'BYPASS')
    this.mark(ctx, 'MISS')
    // a HEAD response has no body to serve GETs with; only GETs fill the cache
    p.collecting = !p.head
  }

  onResponseData(ctx: RequestContext, chunk: Buffer, last: boolean): Buffer {
    const s = ctx.state.get(NAME)
    if (typeof s !== 'object') return chunk
    const p = s as Pending
    if (!p.collecting) return chunk
    if (!last) {
      if (p.bytes + chunk.length > this.maxEntry) {
        p.collecting = false
        p.chunks = []
      } else {
        p.chunks.push(chunk)
        p.bytes += chunk.length
      }
      return chunk
    }
    p.collecting = false
    // a later plugin may have replaced the response, or the upstream may have died mid-body
    if (ctx.error === null && ctx.status === p.status && (p.declared === -1 || p.declared === p.bytes)) this.store(p)
    return chunk
  }

  private bypass(ctx: RequestContext): undefined {
    ctx.state.set(NAME, BYPASS)
    return undefined
  }

  private mark(ctx: RequestContext, what: string): void {
    if (this.statusHeader !== '') ctx.responseHeaders.set(this.statusHeader, what)
  }

  private lookup(key: string, h: Headers, now: number): Stored | undefined {
    let k = key
    let slot = this.lru.get(k)
    if (slot !== undefined && 'vary' in slot) {
      k = key + variant(slot.vary, h)
      slot = this.lru.get(k)
    }
    if (slot === undefined || 'vary' in slot) return undefined
    if (now >= slot.expiresAt) {
      this.lru.delete(k)
      return undefined
    }
    return slot
  }

  private serve(ctx: RequestContext, e: Stored, now: number): LocalResponse {
    ctx.state.set(NAME, HIT)
    const headers: Record<string, string | string[]> = { ...e.headers, age: String(ageOf(e, now)) }
    if (this.statusHeader !== '') headers[this.statusHeader] = 'HIT'
    if (e.etag !== undefined && e.status === 200 && etagMatches(ctx.requestHeaders.get('if-none-match'), e.etag)) {
      delete headers['content-length']
      return { status: 304, headers }
    }
    return ctx.method === 'HEAD' ? { status: e.status, headers } : { status: e.status, headers, body: e.body }
  }

  /** Whether this response may be stored (RFC 9111 §3); fills in the pending entry if so. */
  private admit(ctx: RequestContext, p: Pending): boolean {
    if (!this.statuses.has(ctx.status)) return false
    const rh = ctx.responseHeaders
    const cc = parseCacheControl(rh.getAll('cache-control'))
    // response no-cache would need revalidation on every use, which this cache does not do
    if (cc.noStore || cc.private || cc.noCache) return false
    // §3.5: answers to authenticated requests are stored only when they say a shared cache may
    if (p.auth && !(cc.public || cc.sMaxAge !== -1 || cc.mustRevalidate)) return false
    if (!this.cacheSetCookie && rh.has('set-cookie')) return false
    if (rh.has('content-range')) return false
    const vary = varyNames(rh.getAll('vary'))
    if (vary[0] === '*') return false
    const cl = rh.get('content-length')
    const declared = cl === undefined ? -1 : Number(cl)
    if (declared > this.maxEntry) return false
    const now = Date.now()
    const lifetime = freshnessLifetime(cc, rh, now)
    const age = initialAge(rh)
    let ttl = lifetime - age
    if (this.maxTtl > 0) ttl = Math.min(ttl, this.maxTtl / 1000)
    if (lifetime <= 0 || ttl <= 0) return false

    const headers: Record<string, string | string[]> = {}
    let headerBytes = 0
    for (const [k, v] of rh.entries()) {
      if (UNSTORED.has(k) || k === this.statusHeader) continue
      const prev = headers[k]
      headers[k] = prev === undefined ? v : typeof prev === 'string' ? [prev, v] : [...prev, v]
      headerBytes += k.length + v.length + 4
    }
    p.status = ctx.status
    p.headers = headers
    p.headerBytes = headerBytes
    p.declared = Number.isInteger(declared) ? declared : -1
    p.vary = vary
    p.varyKey = vary.length === 0 ? p.key : p.key + variant(vary, ctx.requestHeaders)
    p.etag = rh.get('etag')
    p.storedAt = now
    p.initialAge = age
    p.expiresAt = now + ttl * 1000
    return true
  }

  private store(p: Pending): void {
    const body = Buffer.concat(p.chunks, p.bytes) // a copy: chunks may be views of larger socket buffers
    p.chunks = []
    // RFC 9110 §8.6: no Content-Length on 204
    if (p.status !== 204) p.headers['content-length'] = String(body.length)
    const size = body.length + p.headerBytes + p.varyKey.length + 64
    const entry: Stored = { status: p.status, headers: p.headers, body, etag: p.etag, storedAt: p.storedAt, initialAge: p.initialAge, expiresAt: p.expiresAt, size }
    this.lru.set(p.varyKey, entry)
    if (p.vary.length > 0) this.lru.set(p.key, { vary: p.vary, size: p.key.length + 64 })
  }
}

function requestDirectives(h: Headers): CacheControl {
  const lines = h.getAll('cache-control')
  if (lines.length > 0) return parseCacheControl(lines)
  // HTTP/1.0 clients (RFC 9111 §5.4): Pragma counts only without Cache-Control
  const pragma = h.get('pragma')
  return pragma !== undefined && pragma.toLowerCase().includes('no-cache') ? PRAGMA_NO_CACHE : NO_DIRECTIVES
}

/**
 * GET and HEAD share it. Built from what Sluice decided, never from what a client claims: the
 * listener's scheme (which also keeps http→https redirects from looping), the Host the request
 * was routed on, and the target. X-Forwarded-Host/-Proto as the upstream got them are added only
 * where they differ from those, which can happen only behind a trusted proxy (config-sluice
 * trusted-proxies; from anyone else Sluice overwrites them): a proxy that passes a client's
 * X-Forwarded-Host through then gets a variant of its own instead of changing everyone's page.
 */
function baseKey(ctx: RequestContext): string {
  const scheme = (ctx.req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http'
  const host = ctx.host.toLowerCase()
  const h = ctx.requestHeaders
  const xfh = h.get('x-forwarded-host')
  const xfp = h.get('x-forwarded-proto')
  if ((xfh === undefined || xfh.toLowerCase() === host) && (xfp === undefined || xfp === scheme)) return `${scheme}://${host}${ctx.url}`
  // \x01 cannot be in a host or a target, and variant keys go on with \0: no collisions
  return `${scheme}://${host}\x01${xfp ?? ''}\x01${(xfh ?? '').toLowerCase()}${ctx.url}`
}

function variant(names: readonly string[], h: Headers): string {
  let s = ''
  for (const n of names) s += '\0' + h.getAll(n).join(', ')
  return s
}

function ageOf(e: Stored, now: number): number {
  return e.initialAge + Math.max(0, Math.floor((now - e.storedAt) / 1000))
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2). */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  const want = etag.startsWith('W/') ? etag.slice(2) : etag
  for (const part of header.split(',')) {
    const t = part.trim()
    if (t === '*' || (t.startsWith('W/') ? t.slice(2) : t) === want) return true
  }
  return false
}

export default definePlugin<CacheConfig>({
  name: NAME,
  priority: 100,
  validate: validator(cacheSchema, checkCache),
  create(config) {
    return new CacheInstance(config)
  },
})

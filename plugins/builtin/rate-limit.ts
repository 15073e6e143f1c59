// Token-bucket rate limiting per client IP, per route or per header value, with the IETF
// RateLimit / RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers) on every answer.
// State lives in the instance, which the gateway keeps across reloads of an unchanged route.
// A request under the limit costs one cache lookup and no allocation (it is in a benchmark).
import { LRUCache } from 'lru-cache'
import { clientAddress } from './client-address.ts'
import { definePlugin } from '../api.ts'
import type { ConfigIssue, Headers, LocalResponse, PluginInstance, RequestContext } from '../api.ts'
import { duration, number, object, string, validator } from '../schema.ts'
import type { Field } from '../schema.ts'

/** set, but a plain add when absent (the usual case): set's removal pass costs more than a lookup */
const put = (h: Headers, name: string, value: string): void => { if (h.has(name)) h.set(name, value); else h.add(name, value) }

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function keyField(): Field<string> {
  const base = string({ default: 'ip' })
  return {
    description: '"ip", "route" or "header:<name>"',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      const ok = s === 'ip' || s === 'route' || (s.startsWith('header:') && TOKEN.test(s.slice(7)))
      if (typeof raw === 'string' && !ok) issues.push({ path, message: `must be "ip", "route" or "header:<name>", got ${JSON.stringify(s)}` })
      return s
    },
  }
}

const schema = object({
  requests: number({ integer: true, min: 1, max: 1_000_000 }),
  period: duration({ default: 1000 }),
  /** bucket size: how many requests may come at once; 0 (the default) means `requests` */
  burst: number({ integer: true, min: 1, max: 1_000_000, default: 0 }),
  key: keyField(),
  /** for key "ip": how many proxies in front of Sluice append to X-Forwarded-For (0: the TCP peer); needs config-sluice trusted-proxies */
  trustedHops: number({ integer: true, min: 0, max: 32, default: 0 }),
  /** how many buckets to keep; the least recently used go first (an idle, full bucket loses nothing) */
  maxKeys: number({ integer: true, min: 1, default: 100_000 }),
})

export type RateLimitConfig = ReturnType<typeof schema.parse>

function check(c: RateLimitConfig, issues: ConfigIssue[]): void {
  // the policy advertises the window in whole seconds (an sf-integer)
  if (c.period < 1000 || c.period % 1000 !== 0) issues.push({ path: 'period', message: `must be a whole number of seconds (at least 1s), got ${c.period}ms` })
}

class Bucket {
  tokens: number
  last: number
  constructor(tokens: number, last: number) {
    this.tokens = tokens
    this.last = last
  }
}

// RateLimit values repeat a lot (same remaining/reset pairs): a small direct-mapped memo avoids
// building the same string on every response.
const MEMO = 1024
const memoKey = new Float64Array(MEMO).fill(-1)
const memoVal: string[] = new Array<string>(MEMO).fill('')
function rateLimitField(r: number, t: number): string {
  const k = r * 4_294_967_296 + t
  const i = (r * 31 + t) & (MEMO - 1)
  if (memoKey[i] === k) return memoVal[i]
  const v = `"default";r=${r};t=${t}`
  memoKey[i] = k
  memoVal[i] = v
  return v
}

export default definePlugin<RateLimitConfig>({
  name: 'rate-limit',
  priority: 901,
  validate: validator(schema, check),
  create(c) {
    const burst = c.burst === 0 ? c.requests : c.burst
    const perMs = c.requests / c.period // tokens refilled per millisecond
    const policy = `"default";q=${c.requests};w=${c.period / 1000}`
    const hops = c.trustedHops
    const header = c.key.startsWith('header:') ? c.key.slice(7).toLowerCase() : ''
    const byIp = c.key === 'route' ? undefined : new LRUCache<string, Bucket>({ max: c.maxKeys })
    // header values get their own cache, so a client cannot name someone else's IP as its key
    const byHeader = header === '' ? undefined : new LRUCache<string, Bucket>({ max: c.maxKeys })
    const routeBucket = new Bucket(burst, performance.now())

    function lookup(cache: LRUCache<string, Bucket>, key: string, now: number): Bucket {
      let b = cache.get(key)
      if (b === undefined) cache.set(key, (b = new Bucket(burst, now)))
      return b
    }

    function bucketFor(ctx: RequestContext, now: number): Bucket {
      if (byIp === undefined) return routeBucket
      if (byHeader !== undefined) {
        const v = ctx.requestHeaders.get(header)
        if (v !== undefined) return lookup(byHeader, v, now)
      }
      return lookup(byIp, clientAddress(ctx, hops), now)
    }

    /** the bucket, if any, without creating it or touching its recency */
    function peekBucket(ctx: RequestContext): Bucket | undefined {
      if (byIp === undefined) return routeBucket
      if (byHeader !== undefined) {
        const v = ctx.requestHeaders.get(header)
        if (v !== undefined) return byHeader.peek(v)
      }
      return byIp.peek(clientAddress(ctx, hops))
    }

    /** tokens now, refilled since the last take, without changing the bucket */
    const level = (b: Bucket, now: number): number => Math.min(burst, b.tokens + (now - b.last) * perMs)
    /** whole seconds until the next token */
    const nextToken = (tokens: number): number => Math.max(1, Math.ceil((Math.floor(tokens) + 1 - tokens) / perMs / 1000))

    function limited(tokens: number): LocalResponse {
      const wait = nextToken(tokens)
      return {
        status: 429,
        headers: {
          'ratelimit-policy': policy,
          ratelimit: rateLimitField(0, wait),
          'retry-after': String(wait),
          'content-type': 'text/plain',
        },
        body: 'Too Many Requests\n',
      }
    }

    const instance: PluginInstance = {
      onRequest(ctx) {
        const now = performance.now()
        const b = bucketFor(ctx, now)
        const tokens = level(b, now)
        b.last = now
        if (tokens < 1) {
          b.tokens = tokens
          return limited(tokens)
        }
        b.tokens = tokens - 1
      },
      // The bucket is found again rather than carried in ctx.state (a Map made on first use: an
      // allocation per request). On a 429, from here or from elsewhere, this states the same quota.
      onResponseHeaders(ctx) {
        const b = peekBucket(ctx)
        const tokens = b === undefined ? burst : level(b, performance.now())
        const r = Math.floor(tokens)
        // t: seconds until more quota is available (draft -10); 0 when the bucket is full
        put(ctx.responseHeaders, 'ratelimit-policy', policy)
        put(ctx.responseHeaders, 'ratelimit', rateLimitField(r, r >= burst ? 0 : nextToken(tokens)))
      },
    }
    return instance
  },
})

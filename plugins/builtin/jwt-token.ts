// Reading a compact JWS (header.payload.signature) and checking its registered claims. Error
// texts are fixed strings (never echo token content), so they are safe in WWW-Authenticate and
// the plugin can keep one prebuilt 401 per text.
import type { Headers } from '../api.ts'

export interface Token {
  readonly alg: string
  readonly kid: string
  readonly payload: Record<string, unknown>
  /** the signing input, `header.payload`, as bytes */
  readonly data: Buffer
  readonly sig: Buffer
}

const B64URL = /^[A-Za-z0-9_-]+$/

export function decodeToken(token: string): Token | string {
  const a = token.indexOf('.')
  const b = a === -1 ? -1 : token.indexOf('.', a + 1)
  if (a <= 0 || b === -1 || token.indexOf('.', b + 1) !== -1) return 'malformed token'
  const h = token.slice(0, a)
  const p = token.slice(a + 1, b)
  const s = token.slice(b + 1)
  if (!B64URL.test(h) || !B64URL.test(p) || (s !== '' && !B64URL.test(s))) return 'malformed token'
  const header = decodeJson(h)
  const payload = decodeJson(p)
  if (header === null || payload === null) return 'malformed token'
  if (typeof header.alg !== 'string') return 'malformed token'
  // RFC 7515 §4.1.11: extensions we do not understand must make the token invalid
  if (header.crit !== undefined) return 'unsupported token header'
  return {
    alg: header.alg,
    kid: typeof header.kid === 'string' ? header.kid : '',
    payload,
    data: Buffer.from(token.slice(0, b), 'latin1'),
    sig: Buffer.from(s, 'base64url'),
  }
}

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null
  } catch {
    return null
  }
}

export interface ClaimRules {
  /** null: any issuer */
  readonly issuers: ReadonlySet<string> | null
  /** null: any audience */
  readonly audiences: ReadonlySet<string> | null
  readonly required: readonly string[]
  /** seconds of clock skew allowed on exp and nbf */
  readonly skew: number
}

/** null when the claims pass, or why they do not. `now` is in seconds. */
export function checkClaims(c: Record<string, unknown>, rules: ClaimRules, now: number): string | null {
  for (const name of rules.required) if (c[name] === undefined || c[name] === null) return `missing claim ${name}`
  if (c.exp !== undefined) {
    if (typeof c.exp !== 'number') return 'invalid exp claim'
    if (now > c.exp + rules.skew) return 'token expired'
  }
  if (c.nbf !== undefined) {
    if (typeof c.nbf !== 'number') return 'invalid nbf claim'
    if (now + rules.skew < c.nbf) return 'token not yet valid'
  }
  if (rules.issuers !== null && (typeof c.iss !== 'string' || !rules.issuers.has(c.iss))) return 'issuer not allowed'
  if (rules.audiences !== null && !audienceMatches(c.aud, rules.audiences)) return 'audience not allowed'
  return null
}

function audienceMatches(aud: unknown, allowed: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return allowed.has(aud)
  if (!Array.isArray(aud)) return false
  for (const a of aud) if (typeof a === 'string' && allowed.has(a)) return true
  return false
}

/** Where to look for the token, in this order: a header, a query parameter, a cookie ('' skips one). */
export interface TokenSources {
  readonly header: string
  readonly queryParam: string
  readonly cookie: string
}

export function extractToken(headers: Headers, url: string, src: TokenSources): string | null {
  if (src.header !== '') {
    const v = headers.get(src.header)
    if (v !== undefined) {
      const t = bearer(v)
      if (t !== null) return t
      // a custom header may carry the bare token; Authorization must say Bearer (Basic is not ours)
      if (src.header !== 'authorization' && v.trim() !== '') return v.trim()
    }
  }
  if (src.queryParam !== '') {
    const q = url.indexOf('?')
    if (q !== -1) {
      const v = new URLSearchParams(url.slice(q + 1)).get(src.queryParam)
      if (v !== null && v !== '') return v
    }
  }
  if (src.cookie !== '') {
    for (const line of headers.getAll('cookie')) {
      const v = cookieValue(line, src.cookie)
      if (v !== null) return v
    }
  }
  return null
}

function bearer(v: string): string | null {
  if (v.length < 8 || v.slice(0, 7).toLowerCase() !== 'bearer ') return null
  const t = v.slice(7).trim()
  return t === '' ? null : t
}

function cookieValue(line: string, name: string): string | null {
  for (const part of line.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue
    let v = part.slice(eq + 1).trim()
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
    return v === '' ? null : v
  }
  return null
}

/** A claim as a header value (Envoy's claim_to_headers style): strings, numbers, booleans, lists joined by ','. */
export function claimHeaderValue(v: unknown): string | null {
  let s: string
  if (typeof v === 'string') s = v
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v)
  else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) s = v.join(',')
  else if (typeof v === 'object' && v !== null) s = JSON.stringify(v)
  else return null
  // header values must be visible ASCII; anything else goes percent-encoded rather than failing the request
  return /^[\t\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s)
}

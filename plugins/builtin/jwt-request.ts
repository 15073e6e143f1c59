// Where the jwt plugin finds a bearer token in a request (a header, a query parameter, a cookie)
// and how a verified claim becomes an upstream header value. Verifying the token is jose's job.
import type { Headers } from '../api.ts'

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

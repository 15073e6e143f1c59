// CORS at the gateway: preflights are answered here (they never reach the upstream), and actual
// requests from an allowed origin get Access-Control-* headers on the way back, also on local
// responses such as a 401 (priority 2000 puts it first, so its response phase runs last).
import { definePlugin } from '../api.ts'
import type { ConfigIssue, Headers, LocalResponse, RequestContext } from '../api.ts'
import { array, boolean, duration, object, string, validator } from '../schema.ts'
import type { Field } from '../schema.ts'

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// scheme://host[:port], where host may start with "*." (any subdomain)
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i
const NO_MAX_AGE = -1

/** set, but a plain add when absent (the usual case): set's removal pass costs more than a lookup */
const put = (h: Headers, name: string, value: string): void => { if (h.has(name)) h.set(name, value); else h.add(name, value) }

function origin(): Field<string> {
  const base = string()
  return {
    description: 'an origin',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      if (typeof raw === 'string' && s !== '*' && !ORIGIN.test(s)) {
        issues.push({ path, message: `${JSON.stringify(s)} is not an origin: use "*", scheme://host[:port] or https://*.example.com` })
      }
      return s
    },
  }
}

function token(what: string): Field<string> {
  const base = string()
  return {
    description: what,
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      if (typeof raw === 'string' && !TOKEN.test(s)) issues.push({ path, message: `${JSON.stringify(s)} is not ${what}` })
      return s
    },
  }
}

const schema = object({
  origins: array(origin(), { default: ['*'], minItems: 1 }),
  methods: array(token('a method name'), { default: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'], minItems: 1 }),
  /** empty: echo the preflight's Access-Control-Request-Headers */
  allowHeaders: array(token('a header name'), { default: [] }),
  exposeHeaders: array(token('a header name'), { default: [] }),
  credentials: boolean({ default: false }),
  maxAge: duration({ default: NO_MAX_AGE }),
})

export type CorsConfig = ReturnType<typeof schema.parse>

function check(c: CorsConfig, issues: ConfigIssue[]): void {
  if (c.origins.includes('*') && c.origins.length > 1) issues.push({ path: 'origins', message: '"*" allows every origin; list it alone' })
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Compiled origin matcher: a Set of exact origins plus one RegExp per wildcard. */
function originMatcher(origins: readonly string[]): (o: string) => boolean {
  if (origins.includes('*')) return () => true
  const exact = new Set<string>()
  const wild: RegExp[] = []
  for (const o of origins) {
    const m = ORIGIN.exec(o) as RegExpExecArray
    if (m[2] === undefined) { exact.add(o.toLowerCase()); continue }
    wild.push(new RegExp(`^${esc(m[1])}://[a-z0-9-]+(?:\\.[a-z0-9-]+)*\\.${esc(m[3])}${esc(m[4] ?? '')}$`, 'i'))
  }
  return (o) => {
    if (exact.has(o)) return true
    for (const re of wild) if (re.test(o)) return true
    return false
  }
}

export default definePlugin<CorsConfig>({
  name: 'cors',
  priority: 2000,
  validate: validator(schema, check),
  create(c) {
    const allowed = originMatcher(c.origins)
    // '*' is only sent as such without credentials; otherwise the origin is echoed and responses vary by it
    const star = c.origins.includes('*') && !c.credentials
    const methods = c.methods.join(', ')
    const allowHeaders = c.allowHeaders.join(', ')
    const expose = c.exposeHeaders.join(', ')
    const maxAge = c.maxAge === NO_MAX_AGE ? '' : String(Math.floor(c.maxAge / 1000))

    function preflight(ctx: RequestContext, o: string): LocalResponse {
      if (!allowed(o)) return { status: 403, headers: { vary: 'Origin', 'content-type': 'text/plain' }, body: 'CORS origin not allowed\n' }
      const h: Record<string, string> = {
        'access-control-allow-origin': star ? '*' : o,
        'access-control-allow-methods': methods,
      }
      // echoed values make the answer depend on those request headers
      if (allowHeaders === '') h.vary = star ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers'
      else if (!star) h.vary = 'Origin'
      const headers = allowHeaders !== '' ? allowHeaders : ctx.requestHeaders.get('access-control-request-headers')
      if (headers !== undefined && headers !== '') h['access-control-allow-headers'] = headers
      if (c.credentials) h['access-control-allow-credentials'] = 'true'
      if (maxAge !== '') h['access-control-max-age'] = maxAge
      return { status: 204, headers: h }
    }

    const isPreflight = (ctx: RequestContext): boolean => ctx.method === 'OPTIONS' && ctx.requestHeaders.has('access-control-request-method')

    // Both phases read Origin again rather than passing it through ctx.state: the state Map is
    // made on first use, and this plugin runs on every request of its routes.
    return {
      onRequest(ctx) {
        const o = ctx.requestHeaders.get('origin')
        if (o !== undefined && isPreflight(ctx)) return preflight(ctx, o)
      },
      onResponseHeaders(ctx) {
        const o = ctx.requestHeaders.get('origin')
        const h = ctx.responseHeaders
        if (o !== undefined && isPreflight(ctx)) return // answered complete in onRequest
        // the answer depends on Origin (unless it is a constant '*'), so caches must key on it
        if (!star) h.add('vary', 'Origin')
        if (o === undefined || !allowed(o)) return
        put(h, 'access-control-allow-origin', star ? '*' : o)
        if (c.credentials) put(h, 'access-control-allow-credentials', 'true')
        if (expose !== '') put(h, 'access-control-expose-headers', expose)
      },
    }
  },
})

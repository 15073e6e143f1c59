// Static header edits on the upstream request and on the response: remove, then set (overwrite),
// then add (append). Names and values are checked at load time, so the hot path only applies a
// precomputed list of edits.
import { definePlugin } from '../api.ts'
import type { Headers, PluginInstance } from '../api.ts'
import { array, object, record, string, validator } from '../schema.ts'
import type { Field } from '../schema.ts'

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// what Node's validateHeaderValue refuses (CR, LF, NUL and other controls) would fail the request
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
// framing and hop-by-hop headers belong to the gateway; editing them would corrupt the exchange
const MANAGED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection'])

function nameProblem(name: string): string | undefined {
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a header name`
  if (MANAGED.has(name.toLowerCase())) return `${JSON.stringify(name)} is managed by the gateway and cannot be changed`
  return undefined
}

function value(): Field<string> {
  const base = string()
  return {
    description: 'a header value',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      if (BAD_VALUE.test(s)) issues.push({ path, message: 'header values cannot hold control characters (CR, LF, NUL…) or characters beyond Latin-1' })
      return s
    },
  }
}

/** add: one value or a list of values (several Set-Cookie, say) */
function values(): Field<string[]> {
  const one = value()
  const many = array(value())
  return {
    description: 'a header value or a list of them',
    parse(raw, path, issues) {
      return Array.isArray(raw) ? many.parse(raw, path, issues) : [one.parse(raw, path, issues)]
    },
  }
}

/** a map keyed by header name; each key is checked before its value */
function headerMap<T>(of: Field<T>): Field<Record<string, T>> {
  const shape = record(of)
  return {
    description: shape.description,
    parse(raw, path, issues) {
      if (raw === undefined || raw === null) return {}
      if (typeof raw !== 'object' || Array.isArray(raw)) return shape.parse(raw, path, issues)
      const out: Record<string, T> = {}
      for (const [k, v] of Object.entries(raw)) {
        const p = nameProblem(k)
        if (p !== undefined) issues.push({ path: `${path}.${k}`, message: p })
        out[k] = of.parse(v, `${path}.${k}`, issues)
      }
      return out
    },
  }
}

function headerName(): Field<string> {
  const base = string()
  return {
    description: 'a header name',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      const p = typeof raw === 'string' ? nameProblem(s) : undefined
      if (p !== undefined) issues.push({ path, message: p })
      return s
    },
  }
}

const edits = () => object({ set: headerMap(value()), add: headerMap(values()), remove: array(headerName(), { default: [] }) }, { optional: true })
const schema = object({ request: edits(), response: edits() })

export type HeadersConfig = ReturnType<typeof schema.parse>
type Edits = HeadersConfig['request']

/** The edits as flat arrays of lower-case names and values, applied without allocating. */
function compile(e: Edits): ((h: Headers) => void) | undefined {
  const remove = e.remove.map((n) => n.toLowerCase())
  const set: string[] = []
  for (const [n, v] of Object.entries(e.set)) set.push(n.toLowerCase(), v)
  const add: string[] = []
  for (const [n, vs] of Object.entries(e.add)) for (const v of vs) add.push(n.toLowerCase(), v)
  if (remove.length + set.length + add.length === 0) return undefined
  // has() first: a removal pass over the whole list costs more than a lookup, and most of the
  // time the header is not there
  return (h) => {
    for (let i = 0; i < remove.length; i++) if (h.has(remove[i])) h.remove(remove[i])
    for (let i = 0; i < set.length; i += 2) {
      if (h.has(set[i])) h.set(set[i], set[i + 1])
      else h.add(set[i], set[i + 1])
    }
    for (let i = 0; i < add.length; i += 2) h.add(add[i], add[i + 1])
  }
}

export default definePlugin<HeadersConfig>({
  name: 'headers',
  priority: 800,
  validate: validator(schema),
  create(c) {
    const req = compile(c.request)
    const res = compile(c.response)
    // only the phases in use, so the gateway's per-route phase arrays stay short
    const instance: PluginInstance = {}
    if (req) instance.onRequest = (ctx) => { req(ctx.requestHeaders) }
    if (res) instance.onResponseHeaders = (ctx) => { res(ctx.responseHeaders) }
    return instance
  },
})

// The global access log (config-sluice enable-service-access-logging, Kourier's key): one line per
// request on stdout, for every route, in the format of service-access-log-template, a subset of
// Envoy's access-log format strings. The template is compiled once per configuration into a list
// of small functions; a request costs one 'close' listener and the line's formatting.
import type { DownstreamRequest, DownstreamResponse } from './downstream.ts'

/** What a line is made from. */
export interface AccessEvent {
  readonly req: DownstreamRequest
  readonly res: DownstreamResponse
  /** performance.now() at arrival */
  readonly start: number
  /** performance.now() when the response closed */
  readonly end: number
}

type Part = (e: AccessEvent) => string

/** Envoy's default format, less the fields Sluice has no value for (flags, byte counts, upstream host). */
export const DEFAULT_TEMPLATE = '[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% %DURATION% ' +
  '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%DOWNSTREAM_REMOTE_ADDRESS%"\n'

/** Envoy commands Sluice accepts but has no value for: written as "-", as Envoy writes a missing value. */
const DASH = new Set(['RESPONSE_FLAGS', 'BYTES_RECEIVED', 'BYTES_SENT', 'UPSTREAM_HOST', 'UPSTREAM_CLUSTER'])

const SIMPLE: Record<string, Part> = {
  START_TIME: (e) => new Date(Date.now() - (e.end - e.start)).toISOString(),
  RESPONSE_CODE: (e) => String(e.res.headersSent ? e.res.statusCode : 0),
  DURATION: (e) => String(Math.round(e.end - e.start)),
  PROTOCOL: (e) => `HTTP/${e.req.httpVersion}`,
  DOWNSTREAM_REMOTE_ADDRESS: (e) => {
    const s = socketOf(e.req)
    const ip = s.remoteAddress ?? ''
    return ip === '' ? '-' : ip.includes(':') ? `[${ip}]:${s.remotePort ?? 0}` : `${ip}:${s.remotePort ?? 0}`
  },
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (e) => socketOf(e.req).remoteAddress || '-',
}

function socketOf(req: DownstreamRequest): { remoteAddress?: string; remotePort?: number } {
  // h2c sessions run on a wrapper around the accepted socket; the address is on the inner one.
  const s = req.socket as unknown as { remoteAddress?: string; remotePort?: number; stream?: { remoteAddress?: string; remotePort?: number } }
  return s.remoteAddress !== undefined ? s : (s.stream ?? {})
}

/** One request header (or pseudo-header), truncated to `max` characters when given. */
function header(name: string, max: number): Part {
  const n = name.toLowerCase()
  const get: (req: DownstreamRequest) => string | undefined =
    n === ':method' ? (req) => req.method
      : n === ':path' ? (req) => req.url
        : n === ':authority' ? (req) => (req.headers.host ?? (req.headers[':authority'] as string | undefined))
          : n === ':scheme' ? (req) => (req.headers[':scheme'] as string | undefined) ?? ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http')
            : (req) => { const v = req.headers[n]; return Array.isArray(v) ? v.join(',') : v }
  return (e) => {
    const v = get(e.req)
    if (v === undefined || v === '') return '-'
    return max > 0 && v.length > max ? v.slice(0, max) : v
  }
}

/** The compiled template, or what is wrong with it (for the located config error). */
export function compileAccessLogTemplate(template: string): Part[] | string {
  const src = template === '' ? DEFAULT_TEMPLATE : template
  const parts: Part[] = []
  const re = /%([A-Z_0-9]*)(?:\(([^)]*)\))?(?::(\d+))?%/g
  let last = 0
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    if (m.index > last) parts.push(literal(src.slice(last, m.index)))
    last = re.lastIndex
    const [, cmd, arg, max] = m as unknown as [string, string, string | undefined, string | undefined]
    if (cmd === '') { parts.push(literal('%')); continue } // %% is a percent sign
    if (cmd === 'REQ') {
      if (arg === undefined || arg === '') return `%REQ()% needs a header name, as in %REQ(USER-AGENT)%`
      // Envoy's alternative form, %REQ(A?B)%: A when present, else B.
      const [a, b] = arg.split('?') as [string, string | undefined]
      const first = header(a, Number(max ?? 0))
      if (b === undefined) parts.push(first)
      else {
        const second = header(b, Number(max ?? 0))
        parts.push((e) => { const v = first(e); return v === '-' ? second(e) : v })
      }
      continue
    }
    if (arg !== undefined) return `%${cmd}(${arg})% is not supported; supported: %REQ(name)%, ${Object.keys(SIMPLE).map((k) => `%${k}%`).join(', ')}`
    const simple = SIMPLE[cmd]
    if (simple !== undefined) parts.push(simple)
    else if (DASH.has(cmd)) parts.push(() => '-')
    else return `%${cmd}% is not supported; supported: %REQ(name)%, ${Object.keys(SIMPLE).map((k) => `%${k}%`).join(', ')} (and ${[...DASH].map((k) => `%${k}%`).join(', ')}, always "-")`
  }
  if (last < src.length) parts.push(literal(src.slice(last)))
  if (src.slice(last).includes('%')) return `an unterminated %COMMAND% in ${JSON.stringify(src.slice(last))}`
  return parts
}

function literal(s: string): Part {
  return () => s
}

/** past this many unwritten bytes on stdout, lines are dropped rather than queued without bound */
const MAX_BACKLOG = 8 * 1024 * 1024

export class AccessLog {
  readonly #parts: Part[]
  #pending = ''
  #scheduled = false
  dropped = 0

  /** @throws on a template compileAccessLogTemplate refuses (settings have reported those already) */
  constructor(template: string) {
    const parts = compileAccessLogTemplate(template)
    if (typeof parts === 'string') throw new Error(`service-access-log-template: ${parts}`)
    // Envoy adds no newline to a custom format; a line per request is what a log reader expects.
    if (template !== '' && !template.endsWith('\n')) parts.push(literal('\n'))
    this.#parts = parts
  }

  /** Log this request when its response closes (finished or cut). */
  watch(req: DownstreamRequest, res: DownstreamResponse, start: number): void {
    ;(res as unknown as NodeJS.EventEmitter).once('close', () => this.#write({ req, res, start, end: performance.now() }))
  }

  format(e: AccessEvent): string {
    let line = ''
    for (const p of this.#parts) line += p(e)
    return line
  }

  #write(e: AccessEvent): void {
    if (process.stdout.writableLength + this.#pending.length > MAX_BACKLOG) {
      this.dropped++
      return
    }
    this.#pending += this.format(e)
    if (this.#scheduled) return
    this.#scheduled = true
    // Lines of one event-loop turn go out in one write.
    setImmediate(() => {
      this.#scheduled = false
      const s = this.#pending
      this.#pending = ''
      process.stdout.write(s)
    })
  }
}

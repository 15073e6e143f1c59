// A plugin's LocalResponse, checked the moment the plugin returns it: a status Node cannot write,
// a header with CR/LF, a getter that throws or a body of the wrong type fail that plugin's request
// with a 500 naming the plugin, instead of throwing later inside writeHead where nothing catches.
import { validateHeaderName, validateHeaderValue } from 'node:http'

/** A local answer ready to write: flat lower-case headers, a body Node accepts. */
export interface CheckedResponse {
  readonly status: number
  readonly flat: string[]
  readonly body: string | Buffer
}

/** Statuses a final answer may have; 1xx are interim, and Node refuses anything outside 100–999. */
export function isFinalStatus(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 200 && v <= 599
}

/** Check a value a plugin returned as its LocalResponse; throws a TypeError that says what is wrong. */
export function checkLocalResponse(v: unknown): CheckedResponse {
  if (typeof v !== 'object' || v === null) throw new TypeError(`a local response must be an object { status, headers?, body? }, got ${typeof v}`)
  const lr = v as { status?: unknown; headers?: unknown; body?: unknown }
  const status = lr.status
  if (!isFinalStatus(status)) throw new TypeError(`local response status must be a whole number from 200 to 599, got ${describe(status)}`)
  const flat = checkHeaders(lr.headers)
  const body = lr.body
  if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) throw new TypeError(`local response body must be a string or a Buffer, got ${describe(body)}`)
  return { status, flat, body: body ?? '' }
}

function checkHeaders(headers: unknown): string[] {
  const flat: string[] = []
  if (headers === undefined || headers === null) return flat
  if (typeof headers !== 'object' || Array.isArray(headers)) throw new TypeError(`local response headers must be a map of name to value(s), got ${describe(headers)}`)
  for (const name of Object.keys(headers)) {
    const value = (headers as Record<string, unknown>)[name]
    validateHeaderName(name)
    const lower = name.toLowerCase()
    if (typeof value === 'string') {
      validateHeaderValue(name, value)
      flat.push(lower, value)
    } else if (Array.isArray(value)) {
      for (const one of value) {
        if (typeof one !== 'string') throw new TypeError(`local response header ${name} must be a string or a list of strings, got ${describe(one)} in the list`)
        validateHeaderValue(name, one)
        flat.push(lower, one)
      }
    } else {
      throw new TypeError(`local response header ${name} must be a string or a list of strings, got ${describe(value)}`)
    }
  }
  return flat
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)
  if (v === null || typeof v !== 'object') return String(v)
  return Array.isArray(v) ? 'a list' : 'an object'
}

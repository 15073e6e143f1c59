// Sends one CloudEvent in HTTP binary mode to a resolved sink, retried as Knative's ping adapter
// does (pkg/adapter/mtping/runner.go: sdk-go ContextWithRetriesExponentialBackoff(50 ms, 5)):
// up to 5 retries after waits of 50·2^n ms (n = 1..5: 100, 200, 400, 800, 1600 ms), on a transport
// error or one of sdk-go's retriable codes (404, 413, 425, 429, 502, 503, 504). Other codes are final.
import { Agent, request } from 'undici'
import type { Destination } from '../../gateway/eventing/types.ts'

/** sdk-go protocol/http defaultRetriableErrors */
const RETRIABLE = new Set([404, 413, 425, 429, 502, 503, 504])
/** every connection state has a timeout: one attempt may not hang the source */
const ATTEMPT_TIMEOUT_MS = 30_000

export interface OutgoingEvent {
  /** context attributes and extensions by lower-case name, canonical string form; `datacontenttype` becomes Content-Type */
  readonly attributes: Readonly<Record<string, string>>
  readonly data: Buffer | null
}

export interface SendOptions {
  /** retries after the first attempt, default 5 */
  readonly retries?: number
  /** base of the exponential backoff, default 50 ms */
  readonly delayMs?: number
  /** waits between attempts (tests inject a fake) */
  readonly sleep?: (ms: number) => Promise<void>
  readonly dispatcher?: Agent
}

export interface SendResult {
  readonly ok: boolean
  /** last HTTP status, 0 when no response came */
  readonly status: number
  readonly attempts: number
  readonly error?: string
}

const shared = new Agent({ connections: 16, headersTimeout: ATTEMPT_TIMEOUT_MS, bodyTimeout: ATTEMPT_TIMEOUT_MS, connectTimeout: 10_000, keepAliveTimeout: 4_000 })

/** The binary-mode request headers: `ce-<name>` per attribute (percent-encoded, CloudEvents HTTP §3.1.3.2), Content-Type from datacontenttype. */
export function binaryHeaders(event: OutgoingEvent): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(event.attributes)) {
    if (name === 'datacontenttype') headers['content-type'] = value
    else headers[`ce-${name}`] = percentEncode(value)
  }
  return headers
}

/** space, `"`, `%` and everything outside U+0021–U+007E, as UTF-8 `%XX` */
export function percentEncode(value: string): string {
  if (/^[\x21\x23-\x24\x26-\x7e]*$/.test(value)) return value
  let out = ''
  for (const ch of value) {
    const c = ch.codePointAt(0)!
    if (c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x25) out += ch
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

export async function sendEvent(dest: Destination, event: OutgoingEvent, opts: SendOptions = {}): Promise<SendResult> {
  const retries = opts.retries ?? 5
  const delayMs = opts.delayMs ?? 50
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const url = new URL(dest.url)
  const headers = binaryHeaders(event)
  // A Sluice-served sink is reached through the gateway's internal listener, with the sink's Host.
  const target = dest.connectTo !== null ? new URL(url.pathname + url.search, dest.connectTo).toString() : dest.url
  if (dest.connectTo !== null) headers['host'] = url.host
  let status = 0
  let error: string | undefined
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await request(target, {
        method: 'POST', headers, body: event.data ?? undefined, dispatcher: opts.dispatcher ?? shared,
        headersTimeout: ATTEMPT_TIMEOUT_MS, bodyTimeout: ATTEMPT_TIMEOUT_MS,
      })
      status = res.statusCode
      error = undefined
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {})
      if (status >= 200 && status < 300) return { ok: true, status, attempts: attempt }
      if (!RETRIABLE.has(status)) return { ok: false, status, attempts: attempt }
    } catch (err) {
      status = 0
      error = (err as Error).message
    }
    if (attempt > retries) return error !== undefined ? { ok: false, status, attempts: attempt, error } : { ok: false, status, attempts: attempt }
    await sleep(delayMs * 2 ** attempt)
  }
}

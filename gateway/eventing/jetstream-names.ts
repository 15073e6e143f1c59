// JetStream names and the stored form of an event for the durable broker backing. Stream and
// consumer names follow knative-extensions/eventing-natss (`KN_BROKER_<NS>__<NAME>`,
// `KN_TRIGGER_<UID>`), with one fix: eventing-natss maps `-` to `_`, so namespace `a--b`/broker `c`
// and namespace `a`/broker `b--c` would share a stream; names holding `--` get a hash suffix here.
import { createHash } from 'node:crypto'
import type { CloudEventRecord } from './types.ts'

function upper(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_]/g, '_')
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10).toUpperCase()
}

/** Stream of one broker: `KN_BROKER_<NS>__<NAME>` (plus `_<hash>` when a name contains `--`). */
export function streamName(namespace: string, name: string): string {
  const base = `KN_BROKER_${upper(namespace)}__${upper(name)}`
  return namespace.includes('--') || name.includes('--') ? `${base}_${shortHash(`${namespace}/${name}`)}` : base
}

/** The one subject a broker's events are published on (eventing-natss: `<ns>.<name>._knative_broker.>`). */
export function streamSubject(namespace: string, name: string): string {
  return `${namespace}.${name}._knative_broker.events`
}

/** Durable consumer of one trigger: `KN_TRIGGER_<uid without dashes, upper case>`. */
export function consumerName(uid: string): string {
  return `KN_TRIGGER_${upper(uid.replace(/-/g, ''))}`
}

const MSG_ID_MAX = 512

/**
 * `Nats-Msg-Id` of an event: CloudEvents identifies an event by `source` + `id` (spec §3.1.1), so
 * both go in, length-prefixed so that no two pairs collide (eventing-natss uses `id` alone, which
 * drops distinct events of two sources sharing an id). Long or header-unsafe pairs are hashed.
 */
export function messageId(source: string, id: string): string {
  const plain = `${source.length}:${source}${id}`
  if (plain.length <= MSG_ID_MAX && !/[\r\n\0]/.test(plain)) return plain
  return `sha256:${createHash('sha256').update(`${source.length}:${source}`).update(id).digest('base64url')}`
}

// The stored form: byte 0 = format version (1), byte 1 = 1 when data is present, bytes 2–5 =
// length of the attributes JSON (u32 BE), the attributes as one JSON object of strings, then the
// data bytes verbatim. Compact (no base64 for binary data) and one JSON.parse to read back.
const VERSION = 1
const HEAD = 6

export function encodeEvent(event: CloudEventRecord): Uint8Array {
  const attrs = JSON.stringify(event.attributes)
  const attrLen = Buffer.byteLength(attrs)
  const data = event.data
  const out = Buffer.allocUnsafe(HEAD + attrLen + (data === null ? 0 : data.length))
  out[0] = VERSION
  out[1] = data === null ? 0 : 1
  out.writeUInt32BE(attrLen, 2)
  out.write(attrs, HEAD, 'utf8')
  if (data !== null) data.copy(out, HEAD + attrLen)
  return out
}

/** The event stored by encodeEvent, or null when the bytes are not one (such a message is terminated). */
export function decodeEvent(bytes: Uint8Array): CloudEventRecord | null {
  if (bytes.length < HEAD || bytes[0] !== VERSION) return null
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const attrLen = buf.readUInt32BE(2)
  if (HEAD + attrLen > buf.length) return null
  let attributes: unknown
  try {
    attributes = JSON.parse(buf.toString('utf8', HEAD, HEAD + attrLen))
  } catch {
    return null
  }
  if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) return null
  for (const k in attributes) if (typeof (attributes as Record<string, unknown>)[k] !== 'string') return null
  const data = buf[1] === 1 ? Buffer.from(buf.subarray(HEAD + attrLen)) : null
  return { attributes: attributes as Record<string, string>, data }
}

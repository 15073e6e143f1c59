// config-sluice keys for eventing: nats-url (NATS servers for brokers of class sluice.dev/jetstream),
// broker-queue-limit (events one in-memory broker holds before its ingress answers 503, default
// 10000) and broker-max-ttl (the knativebrokerttl given to events that arrive without one: Knative's
// MAX_TTL, default 255). docs/eventing-resources.md says what each does.
import type { ConfigMapReader } from './config-map-reader.ts'
import type { Settings } from './types.ts'

type Sluice = { -readonly [K in keyof Settings['sluice']]: Settings['sluice'][K] }

export const EVENTING_DEFAULTS = Object.freeze({ natsUrl: null, brokerQueueLimit: 10_000, brokerMaxTtl: 255 })

/** a whole number in [min, max], reported at its key otherwise */
function whole(r: ConfigMapReader, key: string, min: number, max: number): number | undefined {
  const v = r.str(key)
  if (v === undefined) return undefined
  if (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max) return Number(v)
  r.error(key, `${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`)
  return undefined
}

export function readEventingKeys(r: ConfigMapReader, s: Sluice): void {
  const nats = r.str('nats-url')
  if (nats !== undefined) {
    const servers = nats.split(',').map((x) => x.trim()).filter((x) => x !== '')
    const bad = servers.filter((x) => !validServer(x))
    if (servers.length === 0) s.natsUrl = null
    else if (bad.length > 0) r.error('nats-url', `nats-url: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not a NATS server address; write comma-separated URLs such as nats://127.0.0.1:4222`)
    else s.natsUrl = servers.join(',')
  }
  const limit = whole(r, 'broker-queue-limit', 1, 10_000_000)
  if (limit !== undefined) s.brokerQueueLimit = limit
  const ttl = whole(r, 'broker-max-ttl', 1, 2 ** 31 - 1)
  if (ttl !== undefined) s.brokerMaxTtl = ttl
}

/** nats://, tls://, ws://, wss:// URLs or a bare host:port, as the NATS clients take them */
function validServer(v: string): boolean {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `nats://${v}`
  try {
    const u = new URL(withScheme)
    return ['nats:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '' && (u.pathname === '' || u.pathname === '/')
  } catch {
    return false
  }
}

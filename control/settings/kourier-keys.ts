// config-sluice keys that carry config-kourier's names, value formats and (where they apply)
// defaults, so a Kourier user's settings move over as they are: enable-proxy-protocol,
// trusted-hops-count, use-remote-address, disable-server-header (alias disable-envoy-server-header),
// stream-idle-timeout, listen-ip-addresses, cipher-suites, enable-service-access-logging and
// service-access-log-template. docs/configuration.md says what each does in Sluice.
import { getCiphers, DEFAULT_CIPHERS } from 'node:tls'
import { isIP } from 'node:net'
import type { ConfigMapReader } from './config-map-reader.ts'
import type { Settings } from './types.ts'
import { parseGoDuration } from '../../lib/duration.ts'
import { AccessLog, compileAccessLogTemplate } from '../../gateway/access-log.ts'
import type { EdgeOptions } from '../compile/compile.ts'
import type { ListenerSettings } from '../../gateway/gateway.ts'

type Sluice = { -readonly [K in keyof Settings['sluice']]: Settings['sluice'][K] }

/** strconv.ParseBool's spellings, which Knative's ConfigMap readers (cm.AsBool) accept */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

/** a boolean key as Knative's ConfigMap readers accept it; a bad value is reported at the key */
export function bool(r: ConfigMapReader, key: string): boolean | undefined {
  const v = r.str(key)
  if (v === undefined) return undefined
  if (TRUE.has(v)) return true
  if (FALSE.has(v)) return false
  r.error(key, `${key} must be true or false, got ${JSON.stringify(v)}`)
  return undefined
}

/** comma-separated, trimmed, empties dropped (Knative's cm.AsStringSet) */
function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

export function readKourierKeys(r: ConfigMapReader, s: Sluice): void {
  const proxy = bool(r, 'enable-proxy-protocol')
  if (proxy !== undefined) s.enableProxyProtocol = proxy

  const hops = r.str('trusted-hops-count')
  if (hops !== undefined) {
    // Kourier reads it as a uint32; more hops than any real chain is still a typo.
    if (/^\d{1,3}$/.test(hops) && Number(hops) <= 100) s.trustedHopsCount = Number(hops)
    else r.error('trusted-hops-count', `trusted-hops-count must be a whole number from 0 to 100, got ${JSON.stringify(hops)}`)
  }
  const remote = bool(r, 'use-remote-address')
  if (remote !== undefined) s.useRemoteAddress = remote

  // Kourier's name is disable-envoy-server-header; Sluice's own spelling wins when both are set.
  const serverKey = r.has('disable-server-header') ? 'disable-server-header' : 'disable-envoy-server-header'
  const server = bool(r, serverKey)
  if (server !== undefined) s.disableServerHeader = server

  const idle = r.str('stream-idle-timeout')
  if (idle !== undefined) {
    const ms = parseGoDuration(idle, { bareSeconds: true })
    if (ms === undefined || ms < 0) r.error('stream-idle-timeout', `stream-idle-timeout must be a duration such as "300s", "5m" or "0s" (off), got ${JSON.stringify(idle)}`)
    else s.streamIdleTimeoutSeconds = ms / 1000
  }

  const ips = r.str('listen-ip-addresses')
  if (ips !== undefined) {
    const addrs = list(ips)
    const bad = addrs.filter((a) => isIP(a) === 0)
    if (addrs.length === 0) s.listenIpAddresses = null
    else if (bad.length > 0) r.error('listen-ip-addresses', `listen-ip-addresses: ${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length === 1 ? 'is not an IP address' : 'are not IP addresses'}; write comma-separated addresses such as "0.0.0.0,::"`)
    else s.listenIpAddresses = Object.freeze([...new Set(addrs)])
  }

  const ciphers = r.str('cipher-suites')
  if (ciphers !== undefined) {
    const names = list(ciphers)
    const known = new Set(getCiphers())
    const bad = names.filter((n) => !known.has(n.toLowerCase()))
    if (names.length === 0) s.cipherSuites = null
    else if (bad.length > 0) r.error('cipher-suites', `cipher-suites: unknown cipher ${bad.map((b) => JSON.stringify(b)).join(', ')}; use OpenSSL names such as ECDHE-ECDSA-AES128-GCM-SHA256 (\`openssl ciphers -v\` lists them)`)
    else s.cipherSuites = Object.freeze(names.map((n) => n.toUpperCase()))
  }

  const log = bool(r, 'enable-service-access-logging')
  if (log !== undefined) s.enableServiceAccessLogging = log
  const template = r.cm.data?.['service-access-log-template']
  if (template !== undefined) {
    const t = String(template)
    const err = compileAccessLogTemplate(t)
    if (typeof err === 'string') r.error('service-access-log-template', `service-access-log-template: ${err}`)
    else s.serviceAccessLogTemplate = t
  }
}

/**
 * The `ciphers` option for Node's TLS server. Envoy's cipher_suites (Kourier's key) covers TLS 1.2
 * and below only; TLS 1.3 suites are fixed. Node's list covers both and a list without any TLS_
 * name turns TLS 1.3 off, so Node's default TLS 1.3 suites are kept unless some are named.
 */
export function nodeCiphers(names: readonly string[] | null): string | undefined {
  if (names === null) return undefined
  const has13 = names.some((n) => n.startsWith('TLS_'))
  const defaults13 = DEFAULT_CIPHERS.split(':').filter((n) => n.startsWith('TLS_'))
  return [...(has13 ? [] : defaults13), ...names].join(':')
}

/** What the route table takes from these keys (with trusted-proxies): compiled once per load. */
export function edgeOptions(s: Settings): EdgeOptions {
  const k = s.sluice
  return {
    trustedProxies: k.trustedProxies,
    // Envoy without use_remote_address takes the client from X-Forwarded-For one place further
    // left; Sluice always appends the peer, so that is one more entry believed. The PROXY
    // protocol forces the remote address, as in Kourier.
    trustedHops: k.trustedHopsCount + (k.useRemoteAddress || k.enableProxyProtocol ? 0 : 1),
    streamIdleMs: Math.round(k.streamIdleTimeoutSeconds * 1000),
    serverHeader: k.disableServerHeader ? null : 'sluice',
    accessLog: k.enableServiceAccessLogging ? new AccessLog(k.serviceAccessLogTemplate) : null,
    resilience: k.resilience,
  }
}

/** What the public listeners take from these keys. */
export function listenerSettings(s: Settings): ListenerSettings {
  const k = s.sluice
  return {
    proxyProtocol: k.enableProxyProtocol,
    hosts: k.listenIpAddresses,
    ciphers: nodeCiphers(k.cipherSuites),
  }
}

// config-sluice's extauthz-* keys, with config-kourier's names, formats and defaults (net-kourier
// pkg/reconciler/ingress/config/ext_authz.go and kourier.go asExternalAuthz), and the ext-authz
// plugin config they stand for: control/plugins/resolve.ts attaches it to every route, as Kourier
// puts its ext_authz filter on every virtual host but the status one.
//
// Differences from Kourier, on purpose: extauthz-protocol defaults to grpc when absent (Kourier
// rejects the ConfigMap without it); extauthz-pack-as-bytes with http(s) is a located error (Kourier
// panics); the legacy KOURIER_EXTAUTHZ_* environment variables are not read, so a configuration
// means the same in `sluice validate`, in a file directory and in a cluster.
import { bool } from './kourier-keys.ts'
import type { ConfigMapReader } from './config-map-reader.ts'

export type ExtAuthzProtocol = 'grpc' | 'http' | 'https'

export interface ExtAuthzKeys {
  /** extauthz-host: `host:port` */
  readonly host: string
  readonly protocol: ExtAuthzProtocol
  readonly failureModeAllow: boolean
  readonly maxRequestBodyBytes: number
  /** extauthz-timeout, in milliseconds */
  readonly timeoutMs: number
  /** http/https only */
  readonly pathPrefix: string
  /** grpc only */
  readonly packAsBytes: boolean
}

export const EXTAUTHZ_KEYS = [
  'extauthz-host', 'extauthz-protocol', 'extauthz-failure-mode-allow', 'extauthz-max-request-body-bytes',
  'extauthz-timeout', 'extauthz-path-prefix', 'extauthz-pack-as-bytes',
] as const

/** The largest body Sluice buffers for a check; Kourier's uint32 would let one request hold 4 GiB. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024

const PROTOCOLS: readonly ExtAuthzProtocol[] = ['grpc', 'http', 'https']

/**
 * null when extauthz-host is absent or empty (ext-authz off); undefined when a key is bad (each
 * bad key is reported on `r`), so the caller keeps its last good settings.
 */
export function readExtAuthzKeys(r: ConfigMapReader): ExtAuthzKeys | null | undefined {
  const host = r.str('extauthz-host')
  if (host === undefined || host === '') return null
  let ok = true
  const bad = (key: string, message: string): void => {
    r.error(key, message)
    ok = false
  }

  if (!validHostPort(host)) bad('extauthz-host', `extauthz-host must be host:port, such as "authz.auth.svc.cluster.local:9001" or "[::1]:9001", got ${JSON.stringify(host)}`)

  let protocol: ExtAuthzProtocol = 'grpc'
  const p = r.str('extauthz-protocol')
  if (p !== undefined && p !== '') {
    if ((PROTOCOLS as readonly string[]).includes(p)) protocol = p as ExtAuthzProtocol
    else bad('extauthz-protocol', `extauthz-protocol must be one of grpc, http, https, got ${JSON.stringify(p)}`)
  }

  const failureModeAllow = bool(r, 'extauthz-failure-mode-allow')
  if (failureModeAllow === undefined && r.has('extauthz-failure-mode-allow')) ok = false

  let maxRequestBodyBytes = 8192
  const max = r.str('extauthz-max-request-body-bytes')
  if (max !== undefined) {
    if (/^\d+$/.test(max) && Number(max) <= MAX_BODY_BYTES) maxRequestBodyBytes = Number(max)
    else bad('extauthz-max-request-body-bytes', `extauthz-max-request-body-bytes must be a whole number of bytes from 0 to ${MAX_BODY_BYTES} (0 sends no body), got ${JSON.stringify(max)}`)
  }

  let timeoutMs = 2000
  const t = r.str('extauthz-timeout')
  if (t !== undefined) {
    // Kourier reads it with cm.AsInt: a bare number of milliseconds.
    if (/^\d+$/.test(t) && Number(t) >= 1 && Number(t) <= 3_600_000) timeoutMs = Number(t)
    else bad('extauthz-timeout', `extauthz-timeout must be a whole number of milliseconds from 1 to 3600000, such as "2000", got ${JSON.stringify(t)}`)
  }

  const pathPrefix = r.str('extauthz-path-prefix') ?? ''
  if (pathPrefix !== '' && protocol !== 'grpc' && !/^\/[!$&'()*+,;=:@%A-Za-z0-9._~/-]*$/.test(pathPrefix)) {
    bad('extauthz-path-prefix', `extauthz-path-prefix must be a URL path starting with /, such as "/auth", got ${JSON.stringify(pathPrefix)}`)
  }

  const packAsBytes = bool(r, 'extauthz-pack-as-bytes')
  if (packAsBytes === undefined && r.has('extauthz-pack-as-bytes')) ok = false
  if (packAsBytes === true && protocol !== 'grpc') bad('extauthz-pack-as-bytes', `extauthz-pack-as-bytes applies to extauthz-protocol grpc only (an HTTP check carries the body as its body); remove it or set it to false`)

  if (!ok) return undefined
  return Object.freeze({
    host, protocol, failureModeAllow: failureModeAllow ?? false, maxRequestBodyBytes, timeoutMs,
    // Kourier passes the prefix to Envoy for http/https only; with grpc it is ignored.
    pathPrefix: protocol === 'grpc' ? '' : pathPrefix,
    packAsBytes: packAsBytes ?? false,
  })
}

function validHostPort(v: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(v)
  if (m === null || Number(m[2]) > 65535 || Number(m[2]) === 0) return false
  try {
    return new URL(`http://${v}`).host !== ''
  } catch {
    return false
  }
}

/**
 * The ext-authz plugin's config for these keys. `contextExtensions` are the owner's labels; Kourier
 * adds `client: kourier` and `visibility` (ClusterLocal | ExternalIP) to them, and sends
 * `client: kourier` as gRPC initial metadata or as an HTTP header of the check.
 */
export function extAuthzPluginConfig(k: ExtAuthzKeys, labels: Readonly<Record<string, string>>): Record<string, unknown> {
  const scheme = k.protocol === 'grpc' ? 'grpc' : k.protocol
  const config: Record<string, unknown> = {
    url: `${scheme}://${k.host}`,
    timeout: `${k.timeoutMs}ms`,
    failureModeAllow: k.failureModeAllow,
    maxRequestBodyBytes: k.maxRequestBodyBytes,
    extraHeaders: { client: 'kourier' },
    // Kourier's ext_authz is off on its status vhost and ACME challenge routes
    skipProbes: true,
  }
  if (k.protocol === 'grpc') {
    config.packAsBytes = k.packAsBytes
    // kmeta.UnionMaps: the labels win over client and visibility when they share a key.
    config.contextExtensions = { client: 'kourier', ...labels }
    config.visibility = !Object.hasOwn(labels, 'visibility')
  } else {
    config.pathPrefix = k.pathPrefix
    // Envoy's HTTP service sends Authorization (and Host, Method, Path, Content-Length, which the
    // check request carries anyway) unless allowed_headers says more; Kourier sets none.
    config.allowedRequestHeaders = ['authorization']
  }
  return config
}

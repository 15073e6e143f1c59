// What `sluice serve` says at start: one line per URL it serves, with the port the listener really
// has (`http://hello.default.localhost:8080`), so the first thing a user reads is what to curl.
import type { KObject, TrafficTarget } from './resources/types.ts'

export interface ServedUrl {
  namespace: string
  /** the Route's name (a Service's Route has the Service's name) */
  name: string
  /** '' for the route's own URL */
  tag: string
  url: string
}

export interface ListenerPorts {
  /** public plain HTTP listener */
  port: number
  /** public TLS listener */
  tlsPort?: number
  /** cluster-local listener (`*.svc.<cluster domain>` hosts) */
  internalPort: number
}

/**
 * `http://h` served on port 8080 → `http://h:8080`. A URL that already names a port is kept, and
 * so is the scheme's default port (80, 443): URLs read the way a browser wants them.
 */
export function urlWithPort(url: string, port: number | undefined): string {
  if (port === undefined || port === 0) return url
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return url
  }
  if (u.port !== '') return url
  if ((u.protocol === 'http:' && port === 80) || (u.protocol === 'https:' && port === 443)) return url
  u.port = String(port)
  return u.href.replace(/\/$/, url.endsWith('/') ? '/' : '')
}

/** Every Route's status URL and tag URLs, with the ports of the listeners that serve them. */
export function servedUrls(objects: readonly KObject[], ports: ListenerPorts, clusterDomain: string): ServedUrl[] {
  const out: ServedUrl[] = []
  const localSuffix = `.svc.${clusterDomain}`
  const portFor = (url: string): number | undefined => {
    if (url.startsWith('https:')) return ports.tlsPort
    let host: string
    try { host = new URL(url).hostname } catch { return undefined }
    return host.endsWith(localSuffix) ? ports.internalPort : ports.port
  }
  for (const o of objects) {
    if (o.kind !== 'Route' || !o.apiVersion.startsWith('serving.knative.dev/')) continue
    const { namespace, name } = o.metadata
    const status = o.status as { url?: string; traffic?: TrafficTarget[] } | undefined
    if (typeof status?.url === 'string') out.push({ namespace, name, tag: '', url: urlWithPort(status.url, portFor(status.url)) })
    for (const t of status?.traffic ?? []) {
      if (t.tag !== undefined && typeof t.url === 'string') out.push({ namespace, name, tag: t.tag, url: urlWithPort(t.url, portFor(t.url)) })
    }
  }
  return out
}

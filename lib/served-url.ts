// The URL a user types to reach a host Sluice serves: the one function that formats it, for
// /debug/resources, `sluice get/describe`, and log lines. Knative's status.url is portless (in a
// cluster the load balancer listens on 80/443, and KIngress status and probing rely on that);
// on one machine the public listener is on 8080, and a URL without it leads nowhere. So the
// status keeps Knative's URL and what is shown gets the port of the listener that serves it.

/** The public listeners' ports in file mode; null in Kubernetes mode (URLs stay portless). */
export interface PublicPorts {
  readonly http: number
  readonly https: number
  /** the cluster-local listener; when given, `*.svc` URLs show it (startup lines), else they stay as they are */
  readonly internal?: number
}

/** `scheme://host[:port]`, the port only when it is known (not 0) and not the scheme's default (80, 443). */
export function servedUrl(scheme: 'http' | 'https', host: string, ports: PublicPorts | null): string {
  const port = ports === null ? 0 : scheme === 'https' ? ports.https : ports.http
  const standard = scheme === 'https' ? 443 : 80
  return port === 0 || port === standard ? `${scheme}://${host}` : `${scheme}://${host}:${port}`
}

const STATUS_URL = /^(https?):\/\/([^/:?#\s]+)((?:[/?#].*)?)$/

/**
 * A portless status URL as served here (path kept). URLs that already name a port are returned as
 * they are, and so are cluster-local ones (`*.svc.<cluster domain>`, names only a cluster's DNS
 * knows) unless the internal listener's port is given.
 */
export function servedStatusUrl(url: string, ports: PublicPorts | null, clusterDomain: string): string {
  if (ports === null) return url
  const m = STATUS_URL.exec(url)
  if (m === null) return url
  const host = m[2]!
  if (host.endsWith(`.svc.${clusterDomain}`) || host.endsWith('.svc')) {
    return ports.internal === undefined ? url : servedUrl(m[1] as 'http' | 'https', host, { http: ports.internal, https: ports.internal }) + m[3]!
  }
  return servedUrl(m[1] as 'http' | 'https', host, ports) + m[3]!
}

interface WithStatusUrls {
  readonly apiVersion: string
  readonly kind: string
  readonly status?: Record<string, unknown>
}

/**
 * A Knative Service or Route with status.url and status.traffic[].url as served here (a new
 * object; anything else, or nothing to change, comes back as it is).
 */
export function withServedUrls<T extends WithStatusUrls>(o: T, ports: PublicPorts | null, clusterDomain: string): T {
  if (ports === null || o.status === undefined || !o.apiVersion.startsWith('serving.knative.dev/') || (o.kind !== 'Service' && o.kind !== 'Route')) return o
  const status = { ...o.status }
  if (typeof status.url === 'string') status.url = servedStatusUrl(status.url, ports, clusterDomain)
  if (Array.isArray(status.traffic)) {
    status.traffic = status.traffic.map((t: Record<string, unknown>) => (typeof t.url === 'string' ? { ...t, url: servedStatusUrl(t.url, ports, clusterDomain) } : t))
  }
  return { ...o, status }
}

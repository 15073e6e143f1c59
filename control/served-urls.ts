// What `sluice serve` says at start: one line per URL it serves, with the port the listener really
// has (`http://hello.default.localhost:8080`), so the first thing a user reads is what to curl; and
// later, once per URL that starts being served (a tag URL appears in a Route's status only once
// its revisions are ready, which is often after the start).
import type { KObject, TrafficTarget } from './resources/types.ts'
import { servedStatusUrl, servedUrl, type PublicPorts } from '../lib/served-url.ts'
import type { EventingTable } from '../gateway/eventing/types.ts'
import type { Logger } from '../gateway/log.ts'

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

/** Every Route's status URL and tag URLs, with the ports of the listeners that serve them. */
export function servedUrls(objects: readonly KObject[], ports: ListenerPorts, clusterDomain: string): ServedUrl[] {
  const out: ServedUrl[] = []
  const shown: PublicPorts = { http: ports.port, https: ports.tlsPort ?? 0, internal: ports.internalPort }
  for (const o of objects) {
    if (o.kind !== 'Route' || !o.apiVersion.startsWith('serving.knative.dev/')) continue
    const { namespace, name } = o.metadata
    const status = o.status as { url?: string; traffic?: TrafficTarget[] } | undefined
    if (typeof status?.url === 'string') out.push({ namespace, name, tag: '', url: servedStatusUrl(status.url, shown, clusterDomain) })
    for (const t of status?.traffic ?? []) {
      if (t.tag !== undefined && typeof t.url === 'string') out.push({ namespace, name, tag: t.tag, url: servedStatusUrl(t.url, shown, clusterDomain) })
    }
  }
  return out
}

/**
 * Each served Broker's ingress on the public listener (`http://broker-ingress.localhost:8080/default/default`),
 * where a producer on this machine POSTs its events; none when the table has no public ingress host.
 */
export function brokerUrls(table: Pick<EventingTable, 'brokers' | 'ingressHosts'>, ports: ListenerPorts): ServedUrl[] {
  const host = table.ingressHosts.external[0]
  if (host === undefined) return []
  const base = servedUrl('http', host, { http: ports.port, https: ports.tlsPort ?? 0 })
  return [...table.brokers.keys()].sort().map((key) => {
    const slash = key.indexOf('/')
    return { namespace: key.slice(0, slash), name: key.slice(slash + 1), tag: '', url: `${base}/${key}` }
  })
}

/** Logs each served URL once: all of them at `start`, then the ones each `update` adds. */
export class ServedUrlLog {
  readonly #log: Logger
  #ports: ListenerPorts | null = null
  #shown = new Set<string>()

  constructor(log: Logger) { this.#log = log }

  /** the listeners are open: log every URL served now */
  start(ports: ListenerPorts, objects: readonly KObject[], eventing: Pick<EventingTable, 'brokers' | 'ingressHosts'>, clusterDomain: string): void {
    this.#ports = ports
    this.update(objects, eventing, clusterDomain)
  }

  /** after an applied configuration or status change: log the URLs not served before (nothing before start) */
  update(objects: readonly KObject[], eventing: Pick<EventingTable, 'brokers' | 'ingressHosts'>, clusterDomain: string): void {
    const ports = this.#ports
    if (ports === null) return
    const now = new Set<string>()
    for (const u of servedUrls(objects, ports, clusterDomain)) {
      const line = `serving ${u.name}${u.tag === '' ? '' : ` tag ${u.tag}`} at ${u.url}`
      now.add(`${u.namespace} ${line}`)
      if (!this.#shown.has(`${u.namespace} ${line}`)) this.#log.info(line, { namespace: u.namespace })
    }
    for (const u of brokerUrls(eventing, ports)) {
      const line = `broker ${u.name} takes events at ${u.url}`
      now.add(`${u.namespace} ${line}`)
      if (!this.#shown.has(`${u.namespace} ${line}`)) this.#log.info(line, { namespace: u.namespace })
    }
    // a URL that goes away and comes back is logged again
    this.#shown = now
  }
}

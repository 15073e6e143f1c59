// KIngress split → BackendSpec. Revisions resolve to their fixed upstreams and timeouts; core
// Services resolve the way Kourier does: ExternalName by DNS, otherwise the ready addresses of the
// Service's EndpointSlices (or legacy Endpoints) at the port matching the split's servicePort.
import type { CoreService, EndpointPort, EndpointSlice, Endpoints, IngressSplit, ResourceSet, Revision } from '../resources/types.ts'
import type { BackendSpec, UpstreamProtocol } from '../model.ts'
import { CONFIGURATION_LABEL, SERVICE_LABEL, derivedKey, keyOf, nsName } from './names.ts'
import { revisionProtocol, type Readiness } from './revision.ts'
import { sameRefs, type ReconcileCache } from './cache.ts'
import { resilienceOverrides } from '../settings/outlier-keys.ts'
import { revisionFailedLine } from './unavailable.ts'

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'
/** on the Kubernetes Services Knative makes for a revision, next to its service and configuration labels */
const REVISION_LABEL = 'serving.knative.dev/revision'
const NO_TIMEOUTS = Object.freeze({ totalMs: 0, responseStartMs: 0, idleMs: 0 })

export interface Resolved {
  readonly spec: BackendSpec
  /** why requests to this backend will fail, if they will */
  readonly problem?: string
}

export interface RevisionEntry {
  readonly rev: Revision
  readonly readiness: Readiness
}

export function revisionBackend({ rev, readiness }: RevisionEntry): BackendSpec {
  const { name, namespace, labels } = rev.metadata
  const secs = (v: number | undefined) => (v ?? 0) * 1000
  const resilience = resilienceOverrides(rev.metadata.annotations)
  return {
    key: `revision/${namespace}/${name}`,
    namespace,
    // Knative's metric labels: service_name and configuration_name come from the revision's labels.
    service: labels?.[SERVICE_LABEL] ?? '',
    configuration: labels?.[CONFIGURATION_LABEL] ?? '',
    revision: name,
    origins: readiness.status === 'True' ? [...readiness.origins] : [],
    protocol: revisionProtocol(rev),
    containerConcurrency: rev.spec.containerConcurrency ?? 0,
    managed: readiness.managed === true,
    ...failing(name, readiness),
    timeouts: {
      totalMs: secs(rev.spec.timeoutSeconds),
      responseStartMs: secs(rev.spec.responseStartTimeoutSeconds),
      idleMs: secs(rev.spec.idleTimeoutSeconds),
    },
    ...(resilience !== undefined ? { resilience } : {}),
  }
}

/**
 * A revision the runtime runs that is failing (Ready, or routed as the configuration's latest
 * ready, while new instances crash or miss their deadline): requests get why at once.
 */
function failing(name: string, r: Readiness): { unavailable?: string } {
  if (r.managed !== true) return {}
  if (r.failure !== undefined) return { unavailable: revisionFailedLine(name, r.failure.reason, r.failure.message) }
  if (r.status === 'False') return { unavailable: revisionFailedLine(name, r.reason, r.message) }
  return {}
}

export interface BackendOptions {
  /**
   * config-network system-internal-tls: Service backends are dialled with TLS, as Kourier does for
   * every split (Serving then points them at port 443, named https). Revisions Sluice runs or
   * names by URL are its own and stay plain.
   */
  readonly systemInternalTls?: boolean
  /** keeps the result for a Service whose objects are the same as last pass */
  readonly cache?: ReconcileCache
}

export class BackendIndex {
  readonly #services = new Map<string, CoreService>()
  readonly #revisions: ReadonlyMap<string, RevisionEntry>
  readonly #tls: boolean
  /** EndpointSlices by namespace/service-name label, legacy Endpoints by namespace/name: one pass, not one per split */
  readonly #slices = new Map<string, EndpointSlice[]>()
  readonly #endpoints = new Map<string, Endpoints>()
  readonly #cache: ReconcileCache | undefined

  constructor(rs: ResourceSet, revisions: ReadonlyMap<string /* ns/name */, RevisionEntry>, opts: BackendOptions = {}) {
    this.#revisions = revisions
    this.#tls = opts.systemInternalTls === true
    this.#cache = opts.cache
    for (const s of rs.coreServices) {
      const k = keyOf(s)
      if (!this.#services.has(k)) this.#services.set(k, s)
    }
    for (const s of rs.endpointSlices) {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL]
      if (svc === undefined) continue
      const k = derivedKey(sliceServiceKeys, s, () => nsName(s.metadata.namespace, svc))
      const list = this.#slices.get(k)
      if (list === undefined) this.#slices.set(k, [s])
      else list.push(s)
    }
    for (const e of rs.endpoints) {
      const k = keyOf(e)
      if (!this.#endpoints.has(k)) this.#endpoints.set(k, e)
    }
  }

  /**
   * Generated ingresses name revisions; user ingresses name Services, with revisions as a fallback.
   * `rewriteHost`: the path rewrites the Host (DomainMapping sends it back through the gateway),
   * which Kourier never dials with TLS; it gets its own plain backend.
   */
  resolve(ns: string, split: IngressSplit, preferRevision: boolean, rewriteHost = false): Resolved {
    const sns = split.serviceNamespace || ns
    const keys = splitKeysOf(ns, split)
    const key = keys.key
    const rev = this.#revisions.get(key)
    const svc = this.#services.get(key)
    if (rev !== undefined && (preferRevision || svc === undefined)) {
      const spec = revisionBackend(rev)
      // A ready local revision has no fixed origins: the activator holds its instances (even none, at zero).
      const ready = spec.origins.length > 0 || (spec.managed && rev.readiness.status === 'True')
      return ready ? { spec } : { spec, problem: `Revision ${key} is not ready` }
    }
    if (svc !== undefined) return this.#memoService(svc, split.servicePort, this.#tls && !rewriteHost, keys)
    return {
      spec: plain(`service/${key}/${split.servicePort}`, sns, split.serviceName, [], 'http1'),
      problem: `Service ${key} not found`,
    }
  }

  /** #service, or its last result when the Service and its EndpointSlices/Endpoints are the same objects */
  #memoService(svc: CoreService, servicePort: number | string, tls: boolean, keys: SplitKeys): Resolved {
    const cache = this.#cache
    if (cache === undefined) return this.#service(svc, servicePort, tls)
    const k = keys.key
    const memoKey = tls ? (keys.tlsMemo ??= `${k}\0${typeof servicePort}:${servicePort}\0true`) : (keys.plainMemo ??= `${k}\0${typeof servicePort}:${servicePort}\0false`)
    const slices = this.#slices.get(k) ?? []
    const eps = this.#endpoints.get(k)
    const m = cache.service(memoKey)
    if (m !== undefined && m.svc === svc && m.eps === eps && sameRefs(m.slices, slices)) {
      cache.setService(memoKey, m)
      return m.result
    }
    const result = this.#service(svc, servicePort, tls)
    cache.setService(memoKey, { svc, slices, eps, result })
    return result
  }

  #service(svc: CoreService, servicePort: number | string, tls: boolean): Resolved {
    const { name, namespace } = svc.metadata
    const key = `service/${namespace}/${name}/${servicePort}${this.#tls && !tls ? '/plain' : ''}`
    const ports = svc.spec.ports ?? []
    const port = ports.find((p) => (typeof servicePort === 'number' ? p.port === servicePort : p.name === servicePort))
      ?? (typeof servicePort === 'string' && /^\d+$/.test(servicePort) ? ports.find((p) => p.port === Number(servicePort)) : undefined)
    const portNumber = port?.port ?? (typeof servicePort === 'number' ? servicePort : Number(servicePort) || 80)
    const isH2 = (p: (typeof ports)[number]): boolean => p.name === 'h2c' || p.name === 'http2' || p.appProtocol === 'kubernetes.io/h2c'
    // With TLS the split names the `https` port; the revision's protocol shows on its sibling
    // port (`http2`), which Kourier looks at (any port of the Service) to choose ALPN h2.
    const protocol: UpstreamProtocol = port !== undefined && (isH2(port) || (tls && ports.some(isH2))) ? 'h2c' : 'http1'
    const scheme = tls ? 'https' : 'http'
    const done = (origins: string[], problem?: string): Resolved => {
      const spec = plain(key, namespace, name, [...new Set(origins)].sort(), protocol, svc.metadata.labels)
      return { spec: tls ? { ...spec, upstreamTls: true } : spec, ...(problem !== undefined ? { problem } : {}) }
    }

    if (svc.spec.type === 'ExternalName') {
      if (!svc.spec.externalName) return done([], `ExternalName Service ${namespace}/${name} has no spec.externalName`)
      return done([origin(svc.spec.externalName, portNumber, scheme)])
    }
    if (ports.length > 0 && port === undefined) {
      return done([], `Service ${namespace}/${name} has no port ${JSON.stringify(servicePort)}`)
    }
    const portName = port?.name ?? ''
    const target = port?.targetPort ?? portNumber
    // Endpoint ports carry the service port's name; a numeric targetPort also works without names.
    const endpointPort = (eps: readonly EndpointPort[] | undefined): number | undefined => {
      const named = eps?.find((p) => (p.name ?? '') === portName)
      if (named !== undefined) return named.port
      if (typeof target === 'number') return target
      return eps?.length === 1 && ports.length === 0 ? eps[0]!.port : undefined
    }

    const slices = this.#slices.get(nsName(namespace, name)) ?? []
    const origins: string[] = []
    let found = false
    if (slices.length > 0) {
      found = true
      for (const slice of slices) {
        const p = endpointPort(slice.ports)
        if (p === undefined) continue
        for (const ep of slice.endpoints ?? []) {
          if (ep.conditions?.ready === false) continue
          for (const addr of ep.addresses ?? []) origins.push(origin(addr, p, scheme))
        }
      }
    } else {
      const eps = this.#endpoints.get(nsName(namespace, name))
      if (eps !== undefined) {
        found = true
        for (const subset of eps.subsets ?? []) {
          const p = endpointPort(subset.ports)
          if (p === undefined) continue
          for (const a of subset.addresses ?? []) origins.push(origin(a.ip, p, scheme))
        }
      }
    }
    if (!found) return done([], `Service ${namespace}/${name} has no EndpointSlices or Endpoints`)
    if (origins.length === 0) return done([], `Service ${namespace}/${name} has no ready endpoints on port ${JSON.stringify(servicePort)}`)
    return done(origins)
  }
}

/**
 * The strings one split resolves by, built once per split object: an unchanged KIngress hands over
 * the same split objects on every pass, and building and hashing fresh strings for each of
 * thousands of splits was most of what confirming an unchanged ingress cost.
 */
interface SplitKeys {
  readonly ns: string
  /** namespace/serviceName */
  readonly key: string
  plainMemo?: string
  tlsMemo?: string
}
const splitKeys = new WeakMap<IngressSplit, SplitKeys>()
const sliceServiceKeys = new WeakMap<object, string>()

function splitKeysOf(ns: string, split: IngressSplit): SplitKeys {
  let k = splitKeys.get(split)
  if (k === undefined || k.ns !== ns) {
    k = { ns, key: nsName(split.serviceNamespace || ns, split.serviceName) }
    splitKeys.set(split, k)
  }
  return k
}

function plain(key: string, namespace: string, name: string, origins: string[], protocol: UpstreamProtocol, labels?: Readonly<Record<string, string>>): BackendSpec {
  const spec: BackendSpec = { key, namespace, service: name, revision: name, origins, protocol, timeouts: NO_TIMEOUTS, containerConcurrency: 0, managed: false }
  // A Knative revision's Kubernetes Service (what a KIngress from Serving names) carries the
  // revision's labels: its metrics then name the revision, Service and Configuration as Knative's do.
  const revision = labels?.[REVISION_LABEL]
  if (revision === undefined) return spec
  return { ...spec, service: labels?.[SERVICE_LABEL] ?? '', configuration: labels?.[CONFIGURATION_LABEL] ?? '', revision }
}

function origin(host: string, port: number, scheme: 'http' | 'https'): string {
  return host.includes(':') ? `${scheme}://[${host}]:${port}` : `${scheme}://${host}:${port}`
}

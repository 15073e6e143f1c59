// Route host names and URLs (Knative pkg/reconciler/route/domains): config-domain selectors pick
// the domain, tag-template names the tag's host, domain-template assembles the FQDN.
import type { Route } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import { parseTemplate, renderTemplate, type Template } from '../templates.ts'
import { CLUSTER_LOCAL, VISIBILITY_LABEL, isDnsSubdomain } from './names.ts'

const cache = new Map<string, Template>()
function compiled(src: string, tag: boolean): Template {
  const key = `${tag ? 't' : 'd'}:${src}`
  let t = cache.get(key)
  if (t === undefined) {
    t = parseTemplate(src, tag ? ['Name', 'Tag'] : ['Name', 'Namespace', 'Domain', 'Annotations', 'Labels'])
    cache.set(key, t)
  }
  return t
}

/** Knative's LookupDomainForLabels: most specific matching selector, lexically smallest domain on ties. */
export function lookupDomain(labels: Readonly<Record<string, string>>, s: Settings): string {
  if (labels[VISIBILITY_LABEL] === CLUSTER_LOCAL) return `svc.${s.clusterDomain}`
  let best: string | undefined
  let specificity = -1
  for (const { domain, selector } of s.domains) {
    const keys = Object.keys(selector)
    if (!keys.every((k) => labels[k] === selector[k])) continue
    if (keys.length > specificity || (keys.length === specificity && best !== undefined && domain < best)) {
      best = domain
      specificity = keys.length
    }
  }
  return best ?? `svc.${s.clusterDomain}`
}

export function isClusterLocalDomain(domain: string, s: Settings): boolean {
  return domain === s.clusterDomain || domain.endsWith(`.${s.clusterDomain}`)
}

/** networking ExpandedHosts: `n.ns.svc.cluster.local` → `n.ns`, `n.ns.svc`, `n.ns.svc.cluster.local`, sorted. */
export function expandedHosts(host: string, clusterDomain: string): string[] {
  const out = new Set<string>()
  for (const suffix of ['', `.${clusterDomain}`, `.svc.${clusterDomain}`]) {
    if (suffix !== '' && !host.endsWith(suffix)) continue
    const h = host.slice(0, host.length - suffix.length)
    if (h.includes('.')) out.add(h)
  }
  return [...out].sort()
}

export interface RouteHosts {
  readonly clusterLocal: boolean
  /** the public FQDN of a target ('' is the default target); undefined when cluster-local */
  external(target: string): string | undefined
  /** `<host>.<ns>.svc.<cluster domain>` */
  local(target: string): string
  /** the status URL of a target */
  url(target: string): string
}

/** Throws an Error with a user-facing message when a template cannot produce a valid host. */
export function routeHosts(route: Route, s: Settings): RouteHosts {
  const { name, namespace } = route.metadata
  const labels = route.metadata.labels ?? {}
  const annotations = route.metadata.annotations ?? {}
  const domain = lookupDomain(labels, s)
  const clusterLocal = isClusterLocalDomain(domain, s)
  const hostname = (tag: string): string => {
    if (tag === '') return name
    const h = renderTemplate(compiled(s.tagTemplate, true), { Name: name, Tag: tag })
    if (!isDnsSubdomain(h)) throw new Error(`tag-template ${JSON.stringify(s.tagTemplate)} gives ${JSON.stringify(h)} for tag ${JSON.stringify(tag)}, which is not a valid host name`)
    return h
  }
  const local = (tag: string): string => `${hostname(tag)}.${namespace}.svc.${s.clusterDomain}`
  const external = (tag: string): string | undefined => {
    if (clusterLocal) return undefined
    const host = renderTemplate(compiled(s.domainTemplate, false), {
      Name: hostname(tag), Namespace: namespace, Domain: domain, Annotations: annotations, Labels: labels,
    })
    if (!isDnsSubdomain(host)) throw new Error(`domain-template ${JSON.stringify(s.domainTemplate)} gives ${JSON.stringify(host)}, which is not a valid host name`)
    return host
  }
  return {
    clusterLocal,
    external,
    local,
    url: (tag) => clusterLocal ? `http://${local(tag)}` : `${s.defaultExternalScheme}://${external(tag)!}`,
  }
}

/** `status.address.url`: always the cluster-local name of the route itself. */
export function addressUrl(route: Route, s: Settings): string {
  return `http://${route.metadata.name}.${route.metadata.namespace}.svc.${s.clusterDomain}`
}

// Names, label keys and hashing shared by the reconcilers.
import { createHash } from 'node:crypto'

export const SERVICE_LABEL = 'serving.knative.dev/service'
export const CONFIGURATION_LABEL = 'serving.knative.dev/configuration'
export const CONFIGURATION_GENERATION_LABEL = 'serving.knative.dev/configurationGeneration'
export const ROUTE_LABEL = 'serving.knative.dev/route'
export const ROUTE_NAMESPACE_LABEL = 'serving.knative.dev/routeNamespace'
export const VISIBILITY_LABEL = 'networking.knative.dev/visibility'
export const CLUSTER_LOCAL = 'cluster-local'
export const HTTP_PROTOCOL_ANNOTATIONS = ['networking.knative.dev/http-protocol', 'networking.knative.dev/httpProtocol'] as const
export const UPSTREAM_ANNOTATION = 'sluice.dev/upstream'
/** a folder (relative to the YAML file) built into an immutable snapshot when the revision is created (control/build) */
export const SOURCE_ANNOTATION = 'sluice.dev/source'

export const REVISION_HEADER = 'Knative-Serving-Revision'
export const NAMESPACE_HEADER = 'Knative-Serving-Namespace'
export const TAG_HEADER = 'Knative-Serving-Tag'
export const DEFAULT_ROUTE_HEADER = 'Knative-Serving-Default-Route'

const LONGEST = 63
const MD5_LEN = 32
const HEAD = LONGEST - MD5_LEN

const md5 = (s: string): string => createHash('md5').update(s).digest('hex')

/**
 * knative.dev/pkg kmeta.ChildName: parent+suffix, or, when that exceeds 63 characters, a
 * truncated parent followed by the md5 of the parent (and of the suffix too if the suffix alone
 * leaves no room), so long names stay unique and match what Knative would create.
 */
export function childName(parent: string, suffix: string): string {
  if (parent.length <= LONGEST - suffix.length) return parent + suffix
  if (HEAD - suffix.length <= 0) {
    const h = md5(parent + suffix)
    let ret = (parent.length > HEAD ? parent.slice(0, HEAD) : parent) + h
    const d = LONGEST - ret.length
    if (d > 0) ret += suffix.slice(0, d)
    return ret.replace(/[^a-zA-Z0-9]+$/, '')
  }
  return parent.slice(0, HEAD - suffix.length) + md5(parent) + suffix
}

/** `<config>-00001`: Knative's revision name for a configuration generation. */
export function revisionNameFor(config: string, generation: number): string {
  return childName(config, `-${String(generation).padStart(5, '0')}`)
}

/** JSON with sorted keys; undefined, null and empty objects dropped so defaulting noise does not matter. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(canonical(v) ?? null)
}

function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return undefined
  if (Array.isArray(v)) return v.map((x) => canonical(x) ?? null)
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      const c = canonical((v as Record<string, unknown>)[k])
      if (c !== undefined) out[k] = c
    }
    return Object.keys(out).length === 0 ? undefined : out
  }
  return v
}

export function hashOf(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex')
}

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** DNS-1123 subdomain: lower-case labels of at most 63 characters, 253 in all. */
export function isDnsSubdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every((l) => l.length <= 63 && LABEL_RE.test(l))
}

export const nsName = (ns: string, name: string): string => `${ns}/${name}`

/**
 * `namespace/name` of an object, built once per object: reconcile asks for the key of every
 * declared object on every pass, and sources hand over the same object for an unchanged resource,
 * so at thousands of objects building (and hashing) a fresh string each time was a large share of
 * one watch event's cost. Objects are never renamed in place, so the key of an object stays true.
 */
export function keyOf(o: { readonly metadata: { readonly namespace: string; readonly name: string } }): string {
  let k = keys.get(o)
  if (k === undefined) {
    k = nsName(o.metadata.namespace, o.metadata.name)
    keys.set(o, k)
  }
  return k
}
const keys = new WeakMap<object, string>()

/** The same, for a string made of the object and a fixed part (`Ingress ns/name`), per purpose. */
export function derivedKey(cache: WeakMap<object, string>, o: object, make: () => string): string {
  let k = cache.get(o)
  if (k === undefined) {
    k = make()
    cache.set(o, k)
  }
  return k
}

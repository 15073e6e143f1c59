// Objects read from the API server → the same typed shapes the file source produces. Core kinds
// were validated by the API server, so they are only trimmed to the fields Sluice reads (the
// informer caches hold the rest); KIngress and Plugin specs go through the file source's own
// validation, so a bad object is reported with its field path exactly as a bad file would be.
import type { ConfigError, ConfigMap, CoreService, EndpointSlice, KObject, ObjectMeta, Secret, SourceRef } from '../../resources/types.ts'
import { formatPath } from '../fields.ts'
import { validateDocument } from '../validate.ts'

/** What the client hands us: raw watch JSON, or list items deserialised into typed models (Dates). */
export interface RawObject {
  apiVersion?: string
  kind?: string
  metadata?: {
    name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>
    generation?: number; uid?: string; resourceVersion?: string; creationTimestamp?: string | Date
  }
  [k: string]: unknown
}

/** `kubernetes` as the "file" of cluster objects; errors and /debug name the object instead of a line. */
export const CLUSTER_FILE_PREFIX = 'kubernetes:'

export function clusterSource(kind: string, namespace: string, name: string): SourceRef {
  const file = `${CLUSTER_FILE_PREFIX}${kind}/${namespace}/${name}`
  return { file, doc: 0, line: 0, column: 0, locate: () => ({ line: 0, column: 0 }), toJSON: () => file } as SourceRef
}

export function isFromCluster(o: KObject): boolean {
  return o.source?.file.startsWith(CLUSTER_FILE_PREFIX) === true
}

function meta(raw: RawObject): ObjectMeta {
  const m = raw.metadata ?? {}
  const out: ObjectMeta = { name: m.name ?? '', namespace: m.namespace ?? '', labels: { ...m.labels }, annotations: { ...m.annotations } }
  if (m.generation !== undefined) out.generation = m.generation
  if (m.uid !== undefined) out.uid = m.uid
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion
  if (m.creationTimestamp !== undefined) out.creationTimestamp = m.creationTimestamp instanceof Date ? m.creationTimestamp.toISOString().replace(/\.\d{3}Z$/, 'Z') : m.creationTimestamp
  return out
}

function withSource<T extends KObject>(o: T): T {
  o.source = clusterSource(o.kind, o.metadata.namespace, o.metadata.name)
  return o
}

export function coreService(raw: RawObject): CoreService {
  const spec = (raw['spec'] ?? {}) as CoreService['spec'] & Record<string, unknown>
  return withSource({
    apiVersion: 'v1', kind: 'Service', metadata: meta(raw),
    spec: {
      ...(spec.type !== undefined ? { type: spec.type } : {}),
      ...(spec.externalName !== undefined ? { externalName: spec.externalName } : {}),
      ports: (spec.ports ?? []).map((p) => ({
        port: p.port,
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
        ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
      })),
    },
  })
}

export function endpointSlice(raw: RawObject): EndpointSlice {
  const eps = (raw['endpoints'] ?? []) as NonNullable<EndpointSlice['endpoints']>
  return withSource({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta(raw), spec: undefined,
    addressType: raw['addressType'] as EndpointSlice['addressType'],
    endpoints: eps.map((e) => ({ addresses: e.addresses, ...(e.conditions?.ready !== undefined ? { conditions: { ready: e.conditions.ready } } : {}) })),
    ports: ((raw['ports'] ?? []) as NonNullable<EndpointSlice['ports']>).map((p) => ({ port: p.port, ...(p.name ? { name: p.name } : {}) })),
  })
}

export function secret(raw: RawObject): Secret {
  return withSource({
    apiVersion: 'v1', kind: 'Secret', metadata: meta(raw), spec: undefined,
    ...(raw['type'] !== undefined ? { type: raw['type'] as string } : {}),
    data: { ...(raw['data'] as Record<string, string> | undefined) },
  })
}

export function configMap(raw: RawObject): ConfigMap {
  return withSource({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(raw), spec: undefined, data: { ...(raw['data'] as Record<string, string> | undefined) } })
}

/** An object of ours the cluster holds but Sluice cannot serve: reported on its status and in the log. */
export interface RejectedObject {
  readonly kind: string
  readonly namespace: string
  readonly name: string
  readonly generation: number
  readonly resourceVersion: string
  readonly errors: readonly ConfigError[]
}

export type Checked = { readonly object: KObject; readonly rejected?: undefined } | { readonly object?: undefined; readonly rejected: RejectedObject }

/**
 * A KIngress or Plugin through the file source's validation. Only the fields a user writes are
 * given to it (server-set metadata such as managedFields, and status, are left out).
 */
export function checked(raw: RawObject, apiVersion: string, kind: string): Checked {
  const m = meta(raw)
  const doc = { apiVersion, kind, metadata: m, spec: raw['spec'] }
  const file = `${CLUSTER_FILE_PREFIX}${kind}/${m.namespace}/${m.name}`
  const v = validateDocument(doc, { file, doc: 0 })
  if (v.issues.length > 0 || v.object === undefined) {
    const errors = v.issues.map((i) => ({ file, line: 0, column: 0, path: formatPath(i.path), message: i.message }))
    return { rejected: { kind, namespace: m.namespace, name: m.name, generation: m.generation ?? 0, resourceVersion: m.resourceVersion ?? '', errors } }
  }
  return { object: withSource(v.object) }
}

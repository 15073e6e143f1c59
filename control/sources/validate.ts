// One document in, one typed and defaulted object out (or the reasons it is wrong). Dispatches
// on apiVersion + kind; the per-kind rules live in validate-{serving,ingress,core}.ts.
import type { KObject, ResourceSet } from '../resources/types.ts'
import { Issues, checkFields, describe, isObj, missing, readMap, readString } from './fields.ts'
import type { Issue, Obj } from './fields.ts'
import type { NameRule } from './names.ts'
import { checkEndpointSlice, checkEndpoints, checkSecret, buildCoreService, readConfigMapData } from './validate-core.ts'
import { buildIngress, isOurIngressClass } from './validate-ingress.ts'
import { readMetadata } from './validate-metadata.ts'
import { rememberDeclaredHash } from './declared-hash.ts'
import type { DocContext } from './validate-metadata.ts'
import type { Parent } from './validate-serving.ts'
import { buildBroker, buildTrigger } from './validate-eventing.ts'
import { buildContainerSource, buildPingSource, buildSinkBinding } from './validate-event-sources.ts'
import { buildConfiguration, buildRevision, buildRoute, buildService } from './validate-serving.ts'

export type { DocContext } from './validate-metadata.ts'
export type Bucket = keyof ResourceSet

interface KindRule {
  readonly bucket: Bucket
  readonly nameRule: NameRule
  /** top-level fields besides apiVersion, kind, metadata and status; undefined: anything goes */
  readonly fields?: readonly string[]
  /** fills in the typed, defaulted parts of the object (spec, or top-level fields for core kinds) */
  build(is: Issues, raw: Obj, parent: Parent): Partial<KObject> & Obj
}

/** kept as written (in `others`), without a look inside */
const others = (nameRule: NameRule = 'dns1123Subdomain'): KindRule => ({ bucket: 'others', nameRule, build: (_is, raw) => ({ ...raw, spec: raw['spec'] }) })

/** sluice.dev/v1alpha1 Plugin: the fields here; what `plugin` and `config` hold is checked when plugins resolve */
const plugin: KindRule = {
  bucket: 'others', nameRule: 'dns1123Subdomain', fields: ['spec'],
  build: (is, raw) => {
    const spec = readMap(is, raw['spec'], ['spec'])
    if (spec !== undefined) checkFields(is, spec, ['spec'], ['plugin', 'config', 'priority'])
    return { ...raw, spec: raw['spec'] }
  },
}

const KINDS: Readonly<Record<string, Readonly<Record<string, KindRule>>>> = {
  'serving.knative.dev/v1': {
    Service: { bucket: 'services', nameRule: 'dns1035Label', fields: ['spec'], build: (is, raw, p) => ({ spec: buildService(is, raw, p) }) },
    Configuration: { bucket: 'configurations', nameRule: 'dns1035Label', fields: ['spec'], build: (is, raw, p) => ({ spec: buildConfiguration(is, raw, p) }) },
    Revision: { bucket: 'revisions', nameRule: 'dns1123Label', fields: ['spec'], build: (is, raw, p) => ({ spec: buildRevision(is, raw, p) }) },
    Route: { bucket: 'routes', nameRule: 'dns1035Label', fields: ['spec'], build: (is, raw) => ({ spec: buildRoute(is, raw) }) },
  },
  'networking.internal.knative.dev/v1alpha1': {
    Ingress: { bucket: 'ingresses', nameRule: 'dns1123Subdomain', fields: ['spec'], build: (is, raw, p) => ({ spec: buildIngress(is, raw, p.meta) }) },
  },
  v1: {
    Service: { bucket: 'coreServices', nameRule: 'dns1035Label', fields: ['spec'], build: (is, raw) => ({ spec: buildCoreService(is, raw) }) },
    Endpoints: { bucket: 'endpoints', nameRule: 'dns1123Subdomain', fields: ['subsets'], build: (is, raw) => ({ spec: undefined, ...checkEndpoints(is, raw) }) },
    ConfigMap: { bucket: 'configMaps', nameRule: 'dns1123Subdomain', fields: ['data', 'binaryData', 'immutable'], build: (is, raw) => ({ spec: undefined, data: readConfigMapData(is, raw) }) },
    Secret: { bucket: 'secrets', nameRule: 'dns1123Subdomain', fields: ['data', 'stringData', 'type', 'immutable'], build: (is, raw) => ({ spec: undefined, ...checkSecret(is, raw) }) },
  },
  'discovery.k8s.io/v1': {
    EndpointSlice: { bucket: 'endpointSlices', nameRule: 'dns1123Subdomain', fields: ['addressType', 'endpoints', 'ports'], build: (is, raw) => ({ spec: undefined, ...checkEndpointSlice(is, raw) }) },
  },
  'sluice.dev/v1alpha1': { Plugin: plugin },
  'eventing.knative.dev/v1': {
    Broker: { bucket: 'brokers', nameRule: 'dns1123Subdomain', fields: ['spec'], build: (is, raw) => ({ spec: buildBroker(is, raw) }) },
    Trigger: { bucket: 'triggers', nameRule: 'dns1123Subdomain', fields: ['spec'], build: (is, raw) => ({ spec: buildTrigger(is, raw) }) },
  },
  'sources.knative.dev/v1': {
    PingSource: { bucket: 'pingSources', nameRule: 'dns1123Subdomain', fields: ['spec'], build: (is, raw) => ({ spec: buildPingSource(is, raw) }) },
    ContainerSource: { bucket: 'containerSources', nameRule: 'dns1123Subdomain', fields: ['spec'], build: (is, raw, p) => ({ spec: buildContainerSource(is, raw, p) }) },
    SinkBinding: { bucket: 'sinkBindings', nameRule: 'dns1123Subdomain', fields: ['spec'], build: (is, raw, p) => ({ spec: buildSinkBinding(is, raw, p) }) },
  },
}

/** `serving.knative.dev/v1 Service, Configuration, …; v1 Service, …` for error messages */
export function knownKindsText(): string {
  return Object.entries(KINDS).map(([api, kinds]) => `${api} ${Object.keys(kinds).join(', ')}`).join('; ')
}

export interface Validated {
  /** the object with defaults applied; meaningful only when `issues` is empty */
  readonly object: KObject | undefined
  readonly bucket: Bucket | undefined
  /** `group/Kind/namespace/name` when the document names an object, for duplicate detection */
  readonly identity: string | undefined
  readonly issues: readonly Issue[]
}

export function validateDocument(raw: unknown, ctx: DocContext): Validated {
  const is = new Issues()
  if (!isObj(raw)) {
    is.add([], `a document must be a mapping describing one object (apiVersion, kind, metadata, spec), got ${describe(raw)}`)
    return { object: undefined, bucket: undefined, identity: undefined, issues: is.list }
  }
  const apiVersion = readString(is, raw['apiVersion'], ['apiVersion'])
  const kind = readString(is, raw['kind'], ['kind'])
  missing(is, raw['apiVersion'], ['apiVersion'], 'e.g. apiVersion: serving.knative.dev/v1')
  missing(is, raw['kind'], ['kind'], 'e.g. kind: Service')
  const rule = apiVersion !== undefined && kind !== undefined ? findRule(is, apiVersion, kind) : undefined
  const { meta, generated } = readMetadata(is, raw, ctx, rule?.nameRule ?? 'dns1123Subdomain')
  const identity = apiVersion !== undefined && kind !== undefined && meta.name !== ''
    ? `${groupOf(apiVersion)}/${kind}/${meta.namespace}/${meta.name}` : undefined
  if (rule === undefined || apiVersion === undefined || kind === undefined) {
    return { object: undefined, bucket: undefined, identity, issues: is.list }
  }
  const status = readMap(is, raw['status'], ['status'])
  let effective = rule
  if (rule.bucket === 'ingresses' && !isOurIngressClass(meta)) effective = others()
  if (effective.fields !== undefined) checkFields(is, raw, [], ['apiVersion', 'kind', 'metadata', 'status', ...effective.fields])
  const base = effective.build(is, raw, { meta, generated, file: ctx.file })
  const object = { ...base, apiVersion, kind, metadata: meta } as KObject
  if (status !== undefined) object.status = status
  else delete object.status
  if (effective.bucket === 'ingresses' && is.list.length === 0) rememberDeclaredHash(object, raw['spec'])
  return { object, bucket: effective.bucket, identity, issues: is.list }
}

function findRule(is: Issues, apiVersion: string, kind: string): KindRule | undefined {
  const rule = KINDS[apiVersion]?.[kind]
  if (rule !== undefined) return rule
  const servedBy = Object.keys(KINDS).filter((api) => KINDS[api]![kind] !== undefined)
  if (servedBy.length > 0) {
    is.add(['apiVersion'], `kind ${kind} is not served by apiVersion ${apiVersion}; use ${servedBy.join(' or ')}`)
  } else {
    is.add(['kind'], `unknown kind ${kind} (apiVersion ${apiVersion}); expected one of: ${knownKindsText()}`)
  }
  return undefined
}

/** `serving.knative.dev` for `serving.knative.dev/v1`, '' for the core group `v1` */
function groupOf(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/')
  return slash < 0 ? '' : apiVersion.slice(0, slash)
}

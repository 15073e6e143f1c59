// Broker and Trigger (eventing.knative.dev/v1): typed, defaulted specs with located errors. The rules
// are knative/eventing's webhook (pkg/apis/eventing/v1/{broker,trigger}_validation.go and
// pkg/apis/duck/v1/delivery_types.go Validate), plus strict unknown-field checks as kubectl applies
// them; see reference/eventing.md §1.1, §1.3, §1.4.
import type { Broker, DeliverySpecSpec, DestinationSpec, KReference, SubscriptionsApiFilter, Trigger } from '../resources/eventing.ts'
import { absent, checkFields, isObj, missing, readInt, readList, readMap, readString, readStringMap } from './fields.ts'
import type { Issues, Obj } from './fields.ts'
import type { FieldPath } from './yaml-documents.ts'
import { DEFAULT_NAMESPACE } from './validate-metadata.ts'
import { parseIsoDuration } from './iso-duration.ts'
import { CesqlSyntaxError, parseCesql } from '../../gateway/eventing/cesql/parse.ts'

export const BROKER_CLASS_ANNOTATION = 'eventing.knative.dev/broker.class'
/** Knative's default class; Sluice serves it from memory */
export const MT_BROKER_CLASS = 'MTChannelBasedBroker'
export const JETSTREAM_BROKER_CLASS = 'sluice.dev/jetstream'
/** Sluice's in-memory class by name: in a cluster an unset class (or MTChannelBasedBroker) is Knative's */
export const MEMORY_BROKER_CLASS = 'sluice.dev/memory'

/** CloudEvents attribute names as Knative's webhook accepts them in filters */
const ATTRIBUTE_NAME = /^[a-z][a-z0-9]*$/
const DELIVERY_FIELDS = ['deadLetterSink', 'retry', 'backoffPolicy', 'backoffDelay', 'backoffMax', 'timeout', 'retryAfterMax', 'format']
const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const

/** The broker class annotation → backing; undefined for a class Sluice does not serve. */
export function brokerBacking(annotations: Readonly<Record<string, string>> | undefined): 'memory' | 'jetstream' | undefined {
  const cls = annotations?.[BROKER_CLASS_ANNOTATION]
  if (cls === undefined || cls === '' || cls === MT_BROKER_CLASS || cls === MEMORY_BROKER_CLASS) return 'memory'
  if (cls === JETSTREAM_BROKER_CLASS) return 'jetstream'
  return undefined
}

/**
 * In a cluster, a Broker is Sluice's only when its class names Sluice: an unset class or
 * MTChannelBasedBroker belongs to Knative's own broker controller, which may be installed too.
 */
export function isSluiceBrokerClass(annotations: Readonly<Record<string, string>> | undefined): boolean {
  const cls = annotations?.[BROKER_CLASS_ANNOTATION]
  return cls === MEMORY_BROKER_CLASS || cls === JETSTREAM_BROKER_CLASS
}

export function buildBroker(is: Issues, raw: Obj): Broker['spec'] {
  const meta = isObj(raw['metadata']) ? raw['metadata'] : {}
  const annotations = isObj(meta['annotations']) ? meta['annotations'] : {}
  const cls = annotations[BROKER_CLASS_ANNOTATION]
  if (typeof cls === 'string' && brokerBacking({ [BROKER_CLASS_ANNOTATION]: cls }) === undefined) {
    is.add(['metadata', 'annotations', BROKER_CLASS_ANNOTATION],
      `unsupported broker class ${JSON.stringify(cls)}; use ${MEMORY_BROKER_CLASS} or ${MT_BROKER_CLASS} (or leave it unset) for an in-memory broker, or ${JETSTREAM_BROKER_CLASS} for one backed by NATS JetStream`)
  }
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined) return {}
  checkFields(is, spec, ['spec'], ['config', 'delivery'])
  const out: Broker['spec'] = {}
  const config = readReference(is, spec['config'], ['spec', 'config'], 'e.g. apiVersion: v1, kind: ConfigMap, name: config-br-default-channel')
  if (config !== undefined) out.config = config
  const delivery = readDelivery(is, spec['delivery'], ['spec', 'delivery'], namespaceOf(raw))
  if (delivery !== undefined) out.delivery = delivery
  return out
}

/** metadata.namespace as written, else Sluice's default */
function namespaceOf(raw: Obj): string {
  const meta = raw['metadata']
  const ns = isObj(meta) ? meta['namespace'] : undefined
  return typeof ns === 'string' && ns !== '' ? ns : DEFAULT_NAMESPACE
}

export function buildTrigger(is: Issues, raw: Obj): Trigger['spec'] {
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined) {
    missing(is, raw['spec'], ['spec'], 'a Trigger needs spec.broker and spec.subscriber')
    return { broker: '', subscriber: {} }
  }
  const { brokerRef, ...known } = spec
  if (brokerRef !== undefined) {
    is.add(['spec', 'brokerRef'], 'brokerRef needs Knative\'s cross-namespace-event-links feature, which Sluice does not have; name a Broker of the same namespace in spec.broker', true)
  }
  checkFields(is, known, ['spec'], ['broker', 'filter', 'filters', 'subscriber', 'delivery'])
  const broker = readString(is, spec['broker'], ['spec', 'broker'])
  if (absent(spec['broker']) || broker === '') {
    is.add(['spec', 'broker'], 'missing field; name the Broker (in the Trigger\'s namespace) whose events this Trigger receives, e.g. broker: default')
  }
  const out: Trigger['spec'] = { broker: broker ?? '', subscriber: {} }

  const filter = readMap(is, spec['filter'], ['spec', 'filter'])
  if (filter !== undefined) {
    checkFields(is, filter, ['spec', 'filter'], ['attributes'])
    const attributes = readStringMap(is, filter['attributes'], ['spec', 'filter', 'attributes'], 'attribute values')
    checkAttributeNames(is, filter['attributes'], ['spec', 'filter', 'attributes'])
    out.filter = attributes !== undefined ? { attributes } : {}
  }
  const filters = readFilterList(is, spec['filters'], ['spec', 'filters'], false)
  if (filters !== undefined) out.filters = filters

  const subscriberPath = ['spec', 'subscriber']
  if (absent(spec['subscriber'])) is.add(subscriberPath, 'missing field; give the subscriber a ref (e.g. a serving.knative.dev/v1 Service) or a uri')
  else out.subscriber = readDestination(is, spec['subscriber'], subscriberPath, namespaceOf(raw)) ?? {}
  const delivery = readDelivery(is, spec['delivery'], ['spec', 'delivery'], namespaceOf(raw))
  if (delivery !== undefined) out.delivery = delivery
  return out
}

/** a KReference: kind, name and apiVersion required (as knative.dev/pkg KReference.Validate) */
/** `parentNamespace`: refs must stay in it (knative.dev/pkg KReference.Validate "mismatched namespaces"); undefined allows any (Broker spec.config) */
export function readReference(is: Issues, v: unknown, path: FieldPath, example = 'e.g. apiVersion: serving.knative.dev/v1, kind: Service, name: my-app', parentNamespace?: string): KReference | undefined {
  const ref = readMap(is, v, path)
  if (ref === undefined) return undefined
  checkFields(is, ref, path, ['apiVersion', 'kind', 'name', 'namespace'])
  const apiVersion = readString(is, ref['apiVersion'], [...path, 'apiVersion'])
  const kind = readString(is, ref['kind'], [...path, 'kind'])
  const name = readString(is, ref['name'], [...path, 'name'])
  const namespace = readString(is, ref['namespace'], [...path, 'namespace'])
  const hint = `a reference needs apiVersion, kind and name, ${example}`
  if (absent(ref['apiVersion']) || apiVersion === '') is.add([...path, 'apiVersion'], `missing field; ${hint}`)
  if (absent(ref['kind']) || kind === '') is.add([...path, 'kind'], `missing field; ${hint}`)
  if (absent(ref['name']) || name === '') is.add([...path, 'name'], `missing field; ${hint}`)
  if (parentNamespace !== undefined && namespace !== undefined && namespace !== '' && namespace !== parentNamespace) {
    is.add([...path, 'namespace'], `mismatched namespaces: the object is in namespace ${JSON.stringify(parentNamespace)} but the ref names ${JSON.stringify(namespace)}; cross-namespace refs are not supported, so remove namespace or move the object`)
  }
  if (kind === undefined || name === undefined) return undefined
  const out: KReference = { kind, name }
  if (apiVersion !== undefined) out.apiVersion = apiVersion
  if (namespace !== undefined && namespace !== '') out.namespace = namespace
  return out
}

/** duck/v1 Destination.Validate: ref and/or uri; a uri alone must be absolute with a host, a uri with a ref must be relative */
export function readDestination(is: Issues, v: unknown, path: FieldPath, parentNamespace?: string): DestinationSpec | undefined {
  const dest = readMap(is, v, path)
  if (dest === undefined) return undefined
  checkFields(is, dest, path, ['ref', 'uri', 'CACerts', 'audience'])
  const out: DestinationSpec = {}
  const ref = readReference(is, dest['ref'], [...path, 'ref'], undefined, parentNamespace)
  const uri = readString(is, dest['uri'], [...path, 'uri'])
  for (const k of ['CACerts', 'audience'] as const) {
    const s = readString(is, dest[k], [...path, k])
    if (s !== undefined) out[k] = s
  }
  if (absent(dest['ref']) && absent(dest['uri'])) {
    is.add(path, 'needs a ref (e.g. a serving.knative.dev/v1 Service) or a uri (e.g. http://example.com/events); got neither')
    return out
  }
  if (uri !== undefined) {
    const parsed = parseUri(uri)
    if (absent(dest['ref'])) {
      if (parsed === undefined || parsed.host === '') {
        is.add([...path, 'uri'], `${JSON.stringify(uri)} is not an absolute URL; write one with a scheme and host (http://host/path), or add a ref to resolve a relative path against`)
      }
    } else if (parsed !== undefined) {
      is.add([...path, 'uri'], `an absolute URI is not allowed together with ref; write a path relative to the ref (e.g. /events) or remove the ref`)
    }
  }
  if (ref !== undefined) out.ref = ref
  if (uri !== undefined) out.uri = uri
  return out
}

/** an absolute URL (scheme present), or undefined for a relative reference */
function parseUri(uri: string): URL | undefined {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(uri)) return undefined
  try {
    return new URL(uri)
  } catch {
    return undefined
  }
}

/** duck/v1 DeliverySpec.Validate, plus Sluice's backoffMax; durations are checked here and parsed again when compiled */
export function readDelivery(is: Issues, v: unknown, path: FieldPath, parentNamespace?: string): DeliverySpecSpec | undefined {
  const d = readMap(is, v, path)
  if (d === undefined) return undefined
  checkFields(is, d, path, DELIVERY_FIELDS)
  const out: DeliverySpecSpec = {}
  if (!absent(d['deadLetterSink'])) {
    const dls = readDestination(is, d['deadLetterSink'], [...path, 'deadLetterSink'], parentNamespace)
    if (dls !== undefined) out.deadLetterSink = dls
  }
  const retry = readInt(is, d['retry'], [...path, 'retry'], 0, 2 ** 31 - 1)
  if (retry !== undefined) out.retry = retry
  const policy = readString(is, d['backoffPolicy'], [...path, 'backoffPolicy'])
  if (policy !== undefined) {
    if (policy === 'linear' || policy === 'exponential') out.backoffPolicy = policy
    else is.add([...path, 'backoffPolicy'], `must be linear or exponential, got ${JSON.stringify(policy)}`)
  }
  const format = readString(is, d['format'], [...path, 'format'])
  if (format !== undefined) {
    if (format === 'json' || format === 'binary') out.format = format
    else is.add([...path, 'format'], `must be json (structured) or binary, got ${JSON.stringify(format)}`)
  }
  const durations: [keyof DeliverySpecSpec & ('backoffDelay' | 'backoffMax' | 'timeout' | 'retryAfterMax'), 'any' | 'positive' | 'nonNegative'][] = [
    ['backoffDelay', 'nonNegative'], ['backoffMax', 'nonNegative'], ['timeout', 'positive'], ['retryAfterMax', 'nonNegative'],
  ]
  for (const [key, rule] of durations) {
    const text = readString(is, d[key], [...path, key])
    if (text === undefined) continue
    const ms = parseIsoDuration(text)
    if (ms === undefined) {
      is.add([...path, key], `${JSON.stringify(text)} is not an ISO-8601 duration; write e.g. PT0.2S, PT1S, PT5M or PT1H30M`)
    } else if (rule === 'positive' && ms <= 0) {
      is.add([...path, key], `must be a duration greater than zero, got ${JSON.stringify(text)}; e.g. PT30S`)
    } else if (ms < 0) {
      is.add([...path, key], `must not be negative, got ${JSON.stringify(text)}`)
    } else out[key] = text
  }
  return out
}

function checkAttributeNames(is: Issues, v: unknown, path: FieldPath): void {
  if (!isObj(v)) return
  for (const key of Object.keys(v)) {
    if (!ATTRIBUTE_NAME.test(key)) {
      is.add([...path, key], `invalid attribute name ${JSON.stringify(key)}: CloudEvents attribute names start with a lower-case letter and hold only lower-case letters and digits`, true)
    }
  }
}

function readFilterList(is: Issues, v: unknown, path: FieldPath, nonEmpty: boolean): SubscriptionsApiFilter[] | undefined {
  const list = readList(is, v, path)
  if (list === undefined) return undefined
  if (nonEmpty && list.length === 0) {
    is.add(path, 'must list at least one filter')
    return []
  }
  const out: SubscriptionsApiFilter[] = []
  list.forEach((item, i) => {
    const f = readFilter(is, item, [...path, i])
    if (f !== undefined) out.push(f)
  })
  return out
}

/** one Subscriptions API filter: exactly one dialect */
function readFilter(is: Issues, v: unknown, path: FieldPath): SubscriptionsApiFilter | undefined {
  const f = readMap(is, v, path)
  if (f === undefined) {
    if (absent(v)) is.add(path, `an empty filter; give it one of: ${DIALECTS.join(', ')}`)
    return undefined
  }
  checkFields(is, f, path, DIALECTS)
  const present = DIALECTS.filter((d) => !absent(f[d]))
  if (present.length === 0) is.add(path, `an empty filter; give it one of: ${DIALECTS.join(', ')}`)
  else if (present.length > 1) is.add(path, `multiple dialects found (${present.join(', ')}); a filter holds exactly one: split them into separate filters (they are ANDed) or nest them under all or any`)
  const out: SubscriptionsApiFilter = {}
  for (const d of ['exact', 'prefix', 'suffix'] as const) {
    if (absent(f[d])) continue
    const p = [...path, d]
    const map = readStringMap(is, f[d], p, 'attribute values')
    checkAttributeNames(is, f[d], p)
    if (map === undefined) continue
    if (Object.keys(map).length === 0) is.add(p, `must name at least one attribute, e.g. ${d}: {type: com.example.order}`)
    for (const [k, val] of Object.entries(map)) {
      if (val === '') is.add([...p, k], `must not be empty; ${d} compares the attribute's value with this text`)
    }
    out[d] = map
  }
  for (const d of ['all', 'any'] as const) {
    if (absent(f[d])) continue
    const list = readFilterList(is, f[d], [...path, d], true)
    if (list !== undefined) out[d] = list
  }
  if (!absent(f['not'])) {
    const not = readFilter(is, f['not'], [...path, 'not'])
    if (not !== undefined) out.not = not
  }
  const cesql = readString(is, f['cesql'], [...path, 'cesql'])
  if (cesql !== undefined) {
    try {
      parseCesql(cesql)
      out.cesql = cesql
    } catch (err) {
      if (!(err instanceof CesqlSyntaxError)) throw err
      is.add([...path, 'cesql'], `invalid CESQL expression at character ${err.offset + 1}: ${err.message}`)
    }
  }
  return out
}


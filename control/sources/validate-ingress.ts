// networking.internal.knative.dev/v1alpha1 Ingress (KIngress): defaults and validation as in
// knative/networking ingress_{defaults,validation}.go; see reference/kingress.md §1.1-1.2.
import type { IngressPath, IngressRule, IngressSpec, IngressSplit, IngressTLS, ObjectMeta } from '../resources/types.ts'
import {
  absent, checkFields, describe, isObj, missing, readInt, readIntOrString, readList, readMap, readString, readStringList, readStringMap,
} from './fields.ts'
import type { Issues, Obj } from './fields.ts'
import type { FieldPath } from './yaml-documents.ts'

export const INGRESS_CLASS_ANNOTATION = 'networking.knative.dev/ingress.class'
export const SLUICE_INGRESS_CLASS = 'sluice.ingress.networking.knative.dev'
export const KOURIER_INGRESS_CLASS = 'kourier.ingress.networking.knative.dev'

/**
 * Whether Sluice serves this KIngress. In a cluster, Kourier ignores objects without a class;
 * a file is different: it was written for this gateway, so a missing class means "ours". We also
 * answer to Kourier's class so Sluice can replace Kourier without re-annotating anything. Other
 * classes belong to another ingress and are kept untouched in `others`.
 */
export function isOurIngressClass(meta: ObjectMeta): boolean {
  const cls = meta.annotations[INGRESS_CLASS_ANNOTATION]
  return cls === undefined || cls === SLUICE_INGRESS_CLASS || cls === KOURIER_INGRESS_CLASS
}

export function buildIngress(is: Issues, raw: Obj, meta: ObjectMeta): IngressSpec {
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined) {
    missing(is, raw['spec'], ['spec'], 'an Ingress needs spec.rules with hosts and http.paths')
    return { rules: [] }
  }
  checkFields(is, spec, ['spec'], ['tls', 'rules', 'httpOption'])
  const out: IngressSpec = { ...spec, rules: [] }

  const tls = readList(is, spec['tls'], ['spec', 'tls'])
  if (tls !== undefined) out.tls = tls.flatMap((t, i) => readTLS(is, t, ['spec', 'tls', i]) ?? [])

  const rules = readList(is, spec['rules'], ['spec', 'rules'])
  if (rules === undefined || rules.length === 0) {
    if (rules !== undefined || absent(spec['rules'])) is.add(['spec', 'rules'], 'missing field; an Ingress needs at least one rule')
  } else {
    out.rules = rules.flatMap((r, i) => readRule(is, r, ['spec', 'rules', i], meta.namespace) ?? [])
  }

  const httpOption = readString(is, spec['httpOption'], ['spec', 'httpOption'])
  if (httpOption !== undefined && httpOption !== '' && httpOption !== 'Enabled' && httpOption !== 'Redirected') {
    is.add(['spec', 'httpOption'], `must be Enabled or Redirected, got ${JSON.stringify(httpOption)}`)
  }
  return out
}

function readTLS(is: Issues, v: unknown, path: FieldPath): IngressTLS | undefined {
  const t = readMap(is, v, path)
  if (t === undefined) return undefined
  checkFields(is, t, path, ['hosts', 'secretName', 'secretNamespace'])
  readStringList(is, t['hosts'], [...path, 'hosts'])
  for (const key of ['secretName', 'secretNamespace'] as const) {
    const s = readString(is, t[key], [...path, key])
    if (s === '' || absent(t[key])) is.add([...path, key], `missing field; TLS entries need secretName and secretNamespace`)
  }
  return t as unknown as IngressTLS
}

function readRule(is: Issues, v: unknown, path: FieldPath, namespace: string): IngressRule | undefined {
  const r = readMap(is, v, path)
  if (r === undefined) {
    if (absent(v)) is.add(path, 'empty rule; give it hosts and http.paths')
    return undefined
  }
  checkFields(is, r, path, ['hosts', 'visibility', 'http'])
  const hosts = readStringList(is, r['hosts'], [...path, 'hosts'])
  hosts?.forEach((h, i) => {
    if (h === '' || /[/:\s]/.test(h)) is.add([...path, 'hosts', i], `${JSON.stringify(h)} is not a host name; write a DNS name without scheme, port or path`)
  })
  const visibility = readString(is, r['visibility'], [...path, 'visibility']) || 'ExternalIP'
  if (visibility !== 'ExternalIP' && visibility !== 'ClusterLocal') {
    is.add([...path, 'visibility'], `must be ExternalIP or ClusterLocal, got ${JSON.stringify(visibility)}`)
  }
  const hPath = [...path, 'http']
  const http = readMap(is, r['http'], hPath)
  const rule: IngressRule = { ...r, visibility: visibility as IngressRule['visibility'], http: { paths: [] } }
  if (http === undefined) {
    missing(is, r['http'], hPath, 'each rule needs http.paths')
    return rule
  }
  checkFields(is, http, hPath, ['paths'])
  const pPath = [...hPath, 'paths']
  const paths = readList(is, http['paths'], pPath)
  if (paths === undefined || paths.length === 0) {
    if (paths !== undefined || absent(http['paths'])) is.add(pPath, 'missing field; each rule needs at least one path')
  } else {
    rule.http = { ...http, paths: paths.flatMap((p, i) => readPath(is, p, [...pPath, i], namespace) ?? []) }
  }
  return rule
}

function readPath(is: Issues, v: unknown, path: FieldPath, namespace: string): IngressPath | undefined {
  const p = readMap(is, v, path)
  if (p === undefined) {
    if (absent(v)) is.add(path, 'empty path; give it splits')
    return undefined
  }
  // retries and timeout are deprecated and ignored by Knative, but older objects still carry them
  checkFields(is, p, path, ['path', 'rewriteHost', 'headers', 'splits', 'appendHeaders', 'retries', 'timeout'])
  const prefix = readString(is, p['path'], [...path, 'path'])
  if (prefix !== undefined && prefix !== '' && !prefix.startsWith('/')) {
    is.add([...path, 'path'], `must start with '/', got ${JSON.stringify(prefix)}`)
  }
  readString(is, p['rewriteHost'], [...path, 'rewriteHost'])
  readStringMap(is, p['appendHeaders'], [...path, 'appendHeaders'], 'header values')
  const headers = readMap(is, p['headers'], [...path, 'headers'])
  for (const [name, match] of Object.entries(headers ?? {})) {
    if (!isObj(match) || typeof match['exact'] !== 'string' || Object.keys(match).length !== 1) {
      is.add([...path, 'headers', name], `header matches must be written {exact: "value"}, got ${describe(match)}`)
    }
  }
  const out: IngressPath = { ...p, splits: [] }
  const sPath = [...path, 'splits']
  const splits = readList(is, p['splits'], sPath)
  if (splits === undefined || splits.length === 0) {
    if (splits !== undefined || absent(p['splits'])) is.add(sPath, 'missing field; each path needs at least one split')
    return out
  }
  let percentsOk = true
  out.splits = splits.flatMap((s, i) => {
    const split = readSplit(is, s, [...sPath, i], namespace)
    if (split === undefined) percentsOk = false
    return split ?? []
  })
  if (!percentsOk) return out
  // Knative default: a lone split with percent 0 (or none) takes everything.
  if (out.splits.length === 1 && out.splits[0]!.percent === 0) out.splits[0]!.percent = 100
  const sum = out.splits.reduce((a, s) => a + (s.percent ?? 0), 0)
  if (sum !== 100) is.add(sPath, `percents sum to ${sum}, they must sum to 100`)
  return out
}

/** returns undefined when the split's percent could not be read (so the sum is not checked) */
function readSplit(is: Issues, v: unknown, path: FieldPath, namespace: string): IngressSplit | undefined {
  const s = readMap(is, v, path)
  if (s === undefined) {
    if (absent(v)) is.add(path, 'empty split; give it serviceName and servicePort')
    return undefined
  }
  checkFields(is, s, path, ['serviceNamespace', 'serviceName', 'servicePort', 'percent', 'appendHeaders'])
  const serviceNamespace = readString(is, s['serviceNamespace'], [...path, 'serviceNamespace']) || namespace
  if (serviceNamespace !== namespace) {
    is.add([...path, 'serviceNamespace'], `must be the Ingress's own namespace "${namespace}", got "${serviceNamespace}"`)
  }
  const serviceName = readString(is, s['serviceName'], [...path, 'serviceName'])
  if (serviceName === '' || absent(s['serviceName'])) is.add([...path, 'serviceName'], 'missing field; name the Kubernetes Service to send traffic to')
  const servicePort = readIntOrString(is, s['servicePort'], [...path, 'servicePort'])
  if (absent(s['servicePort'])) is.add([...path, 'servicePort'], 'missing field; give a port number or a port name')
  readStringMap(is, s['appendHeaders'], [...path, 'appendHeaders'], 'header values')
  const percent = readInt(is, s['percent'], [...path, 'percent'], 0, 100)
  if (percent === undefined && !absent(s['percent'])) return undefined
  return { ...s, serviceNamespace, serviceName: serviceName ?? '', servicePort: servicePort ?? '', percent: percent ?? 0 }
}

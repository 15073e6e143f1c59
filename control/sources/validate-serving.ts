// serving.knative.dev/v1: Service, Configuration, Revision, Route. Rules follow Knative's webhook
// (route_validation.go, revision_validation.go, route_defaults.go); see reference/serving.md §1.1-1.2.
import type {
  Configuration, Container, KService, ObjectMeta, Revision, RevisionSpec, RevisionTemplate, Route, TrafficTarget,
} from '../resources/types.ts'
import {
  absent, checkFields, describe, formatPath, missing, readBool, readInt, readList, readMap, readString, readStringList, readStringMap,
} from './fields.ts'
import type { Issues, Obj } from './fields.ts'
import { checkQualifiedKey, dns1035Label, dns1123Label } from './names.ts'
import { META_FIELDS } from './validate-metadata.ts'
import { checkShape } from './schema.ts'
import { REVISION_SPEC } from './schema-pod.ts'
import type { FieldPath } from './yaml-documents.ts'
import { SOURCE_ANNOTATION, UPSTREAM_ANNOTATION } from '../reconcile/names.ts'
import { checkSource } from './validate-source.ts'

export { UPSTREAM_ANNOTATION } from '../reconcile/names.ts'

/** what the validators need to know about the object being validated */
export interface Parent {
  readonly meta: ObjectMeta
  readonly generated: boolean
  /** the file the object was read from (sluice.dev/source is relative to it) */
  readonly file?: string
}

export function buildService(is: Issues, raw: Obj, parent: Parent): KService['spec'] {
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined) {
    missing(is, raw['spec'], ['spec'], 'a Service needs spec.template.spec.containers')
    return { template: emptyTemplate() }
  }
  checkFields(is, spec, ['spec'], ['template', 'traffic'])
  const template = readTemplate(is, spec['template'], ['spec', 'template'], parent) ?? emptyTemplate()
  let traffic = readTraffic(is, spec['traffic'], ['spec', 'traffic'], true)
  // Knative's default for a Service: everything to the latest ready revision.
  if (traffic === undefined || traffic.length === 0) traffic = [{ latestRevision: true, percent: 100 }]
  return { ...spec, template, traffic }
}

export function buildConfiguration(is: Issues, raw: Obj, parent: Parent): Configuration['spec'] {
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined) {
    missing(is, raw['spec'], ['spec'], 'a Configuration needs spec.template.spec.containers')
    return { template: emptyTemplate() }
  }
  checkFields(is, spec, ['spec'], ['template'])
  const template = readTemplate(is, spec['template'], ['spec', 'template'], parent) ?? emptyTemplate()
  return { ...spec, template }
}

export function buildRoute(is: Issues, raw: Obj): Route['spec'] {
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined && !absent(raw['spec'])) return { traffic: [] }
  if (spec !== undefined) checkFields(is, spec, ['spec'], ['traffic'])
  const traffic = readTraffic(is, spec?.['traffic'], ['spec', 'traffic'], false)
  if (absent(spec?.['traffic']) || traffic?.length === 0) {
    is.add(['spec', 'traffic'], 'missing field; a Route needs at least one traffic target naming a configurationName or revisionName')
  }
  return { ...spec, traffic: traffic ?? [] }
}

/** a Revision declared directly (bring-your-own); it may or may not belong to a Configuration */
export function buildRevision(is: Issues, raw: Obj, parent: Parent): Revision['spec'] {
  const upstream = checkUpstream(is, parent.meta.annotations, ['metadata', 'annotations', UPSTREAM_ANNOTATION])
  if (parent.meta.annotations[SOURCE_ANNOTATION] !== undefined) {
    // a build belongs to the creation of a revision from a template (control/build)
    is.add(['metadata', 'annotations', SOURCE_ANNOTATION], 'is read on a Service or Configuration template only (a revision is built when it is created from one); move it to spec.template.metadata.annotations there')
  }
  return readRevisionSpec(is, raw['spec'], ['spec'], upstream) ?? { containers: [] }
}

function emptyTemplate(): RevisionTemplate { return { metadata: {}, spec: { containers: [] } } }

function readTemplate(is: Issues, v: unknown, path: FieldPath, parent: Parent): RevisionTemplate | undefined {
  const t = readMap(is, v, path)
  if (t === undefined) {
    missing(is, v, path, 'add spec.template.spec.containers with the container to run')
    return undefined
  }
  checkFields(is, t, path, ['metadata', 'spec'], (key) =>
    REVISION_SPEC.fields[key] !== undefined ? `it belongs one level down, in ${formatPath([...path, 'spec'])}; move it there` : undefined)
  const mPath = [...path, 'metadata']
  const m = readMap(is, t['metadata'], mPath) ?? {}
  checkFields(is, m, mPath, META_FIELDS)
  const metadata: RevisionTemplate['metadata'] = { ...m }
  const name = readString(is, m['name'], [...mPath, 'name'])
  if (name !== undefined && name !== '') {
    const prefix = `${parent.meta.name}-`
    if (parent.generated) {
      is.add([...mPath, 'name'], 'cannot be set when the parent uses metadata.generateName; remove it')
    } else if (!name.startsWith(prefix) || name.length === prefix.length) {
      is.add([...mPath, 'name'], `must start with "${prefix}" (the parent's name and a dash), e.g. ${prefix}v2`)
    } else {
      const bad = dns1123Label(name)
      if (bad !== undefined) is.add([...mPath, 'name'], bad)
    }
    metadata.name = name
  }
  const labels = readStringMap(is, m['labels'], [...mPath, 'labels'], 'label values')
  if (labels !== undefined) metadata.labels = labels
  const annotations = readStringMap(is, m['annotations'], [...mPath, 'annotations'], 'annotation values')
  if (annotations !== undefined) {
    for (const k of Object.keys(annotations)) {
      const bad = checkQualifiedKey(k)
      if (bad !== undefined) is.add([...mPath, 'annotations', k], bad)
    }
    metadata.annotations = annotations
  }
  const upstream = checkUpstream(is, annotations ?? {}, [...mPath, 'annotations', UPSTREAM_ANNOTATION])
  const source = checkSource(is, annotations ?? {}, [...mPath, 'annotations', SOURCE_ANNOTATION], parent.file)
  // a source builds its own start command: the container may be left out or name no command
  const spec = source && absent(t['spec']) ? { containers: [{}] }
    : readRevisionSpec(is, t['spec'], [...path, 'spec'], upstream || source, source) ?? { containers: [] }
  return { ...t, metadata, spec }
}

/**
 * `sluice.dev/upstream: http://host:port[,http://host:port]` serves a revision from fixed
 * instances. Returns whether the annotation is present (valid or not, so the container rules
 * that it relaxes do not pile more errors on top).
 */
export function checkUpstream(is: Issues, annotations: Record<string, string>, path: FieldPath): boolean {
  const value = annotations[UPSTREAM_ANNOTATION]
  if (value === undefined) return false
  const example = 'write a comma-separated list of origins like http://127.0.0.1:9000,http://127.0.0.1:9001'
  const parts = value.split(',').map((s) => s.trim())
  for (const part of parts) {
    if (part === '') {
      is.add(path, `has an empty entry; ${example}`)
      continue
    }
    let url: URL | undefined
    try { url = new URL(part) } catch { url = undefined }
    if (url === undefined || url.hostname === '') {
      is.add(path, `${JSON.stringify(part)} is not a URL; ${example}`)
    } else if (url.protocol !== 'http:') {
      is.add(path, `${JSON.stringify(part)} must use http:// (h2c is chosen by the port name h2c); ${example}`)
    } else if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
      is.add(path, `${JSON.stringify(part)} must be just scheme, host and port, without path or query; ${example}`)
    }
  }
  return true
}

// Ports the Knative data path reserves (queue-proxy, activator, metrics, profiling).
const RESERVED_PORTS = new Set([8008, 8012, 8013, 8022, 8112, 9090, 9091])

function readRevisionSpec(is: Issues, v: unknown, path: FieldPath, upstream: boolean, source = false): RevisionSpec | undefined {
  const s = readMap(is, v, path)
  if (s === undefined) {
    missing(is, v, path, 'add spec.containers with the container to run')
    return undefined
  }
  // every field and its type; the rules below add what a shape cannot say
  checkShape(is, s, path, REVISION_SPEC)
  const cPath = [...path, 'containers']
  const list = readList(is, s['containers'], cPath)
  const containers: Container[] = []
  if (list === undefined && source && absent(s['containers'])) {
    containers.push({})
  } else if (list === undefined) {
    missing(is, s['containers'], cPath, 'list the container to run, e.g. - image: ghcr.io/me/app or - command: [node, server.js]')
  } else if (list.length === 0) {
    is.add(cPath, 'must list at least one container')
  } else {
    list.forEach((c, i) => {
      const container = readContainer(is, c, [...cPath, i], upstream)
      if (container !== undefined) containers.push(container)
    })
    if (containers.length > 1 && containers.filter((c) => (c.ports?.length ?? 0) > 0).length !== 1) {
      is.add(cPath, 'with several containers, exactly one must declare ports (the one that serves requests)')
    }
  }
  const spec: RevisionSpec = { ...s, containers }
  const limits = [['containerConcurrency', 1000], ['timeoutSeconds'], ['responseStartTimeoutSeconds'], ['idleTimeoutSeconds']] as const
  for (const [key, max] of limits) {
    const n = readInt(is, s[key], [...path, key], 0, max)
    if (n !== undefined) spec[key] = n
    else delete spec[key] // null means unset; settings supply the default at reconcile time
  }
  return spec
}

function readContainer(is: Issues, v: unknown, path: FieldPath, upstream: boolean): Container | undefined {
  const c = readMap(is, v, path)
  if (c === undefined) {
    if (absent(v)) is.add(path, 'empty container; give it an image or a command')
    return undefined
  }
  const name = readString(is, c['name'], [...path, 'name'])
  if (name !== undefined && name !== '') {
    const bad = dns1123Label(name)
    if (bad !== undefined) is.add([...path, 'name'], bad)
  }
  const image = readString(is, c['image'], [...path, 'image'])
  const command = readStringList(is, c['command'], [...path, 'command'])
  if (!upstream && (image === undefined || image === '') && (command === undefined || command.length === 0)) {
    is.add(path, `needs an image (to run in Kubernetes) or a command (to run as a local process), or the revision needs annotation ${UPSTREAM_ANNOTATION}`)
  }
  readList(is, c['env'], [...path, 'env'])?.forEach((e, i) => {
    const ePath = [...path, 'env', i]
    const env = readMap(is, e, ePath)
    if (env === undefined) return
    const envName = readString(is, env['name'], [...ePath, 'name'])
    if (envName === undefined || envName === '') missing(is, undefined, [...ePath, 'name'], 'each env entry needs a name')
    const value = readString(is, env['value'], [...ePath, 'value'])
    const from = readMap(is, env['valueFrom'], [...ePath, 'valueFrom'])
    if (from !== undefined) {
      // as the API server: valueFrom names exactly one source and excludes a value
      if (value !== undefined && value !== '') is.add([...ePath, 'value'], 'cannot be combined with valueFrom; remove one of them')
      const sources = ['secretKeyRef', 'configMapKeyRef', 'fieldRef', 'resourceFieldRef'].filter((k) => !absent(from[k]))
      if (sources.length !== 1) {
        is.add([...ePath, 'valueFrom'], `must name exactly one source (secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef), got ${sources.length === 0 ? 'none' : sources.join(' and ')}`)
      }
    }
  })
  readList(is, c['envFrom'], [...path, 'envFrom'])?.forEach((e, i) => {
    const from = readMap(is, e, [...path, 'envFrom', i])
    if (from === undefined) return
    const sources = ['secretRef', 'configMapRef'].filter((k) => !absent(from[k]))
    if (sources.length !== 1) {
      is.add([...path, 'envFrom', i], `must name exactly one source (secretRef or configMapRef), got ${sources.length === 0 ? 'none' : 'both'}`)
    }
  })
  const ports = readList(is, c['ports'], [...path, 'ports'])
  if (ports !== undefined && ports.length > 1) {
    is.add([...path, 'ports'], `declares ${ports.length} ports; Knative allows one (its name, http1 or h2c, picks the protocol)`)
  }
  ports?.forEach((p, i) => {
    const pPath = [...path, 'ports', i]
    const port = readMap(is, p, pPath)
    if (port === undefined) return
    const n = readInt(is, port['containerPort'], [...pPath, 'containerPort'], 1, 65535)
    if (n !== undefined && RESERVED_PORTS.has(n)) {
      is.add([...pPath, 'containerPort'], `port ${n} is reserved by Knative (${[...RESERVED_PORTS].join(', ')}); use another, e.g. 8080`)
    }
    const pName = readString(is, port['name'], [...pPath, 'name'])
    if (pName !== undefined && pName !== '' && pName !== 'http1' && pName !== 'h2c') {
      is.add([...pPath, 'name'], `must be http1 or h2c (it selects the protocol), got ${JSON.stringify(pName)}`)
    }
    const protocol = readString(is, port['protocol'], [...pPath, 'protocol'])
    if (protocol !== undefined && protocol !== '' && protocol !== 'TCP') {
      is.add([...pPath, 'protocol'], `must be TCP, got ${JSON.stringify(protocol)}`)
    }
  })
  return c as Container
}

const TRAFFIC_FIELDS = ['tag', 'revisionName', 'configurationName', 'latestRevision', 'percent', 'url']

/** spec.traffic of a Service (`inService`) or a Route, defaulted as Knative does */
function readTraffic(is: Issues, v: unknown, path: FieldPath, inService: boolean): TrafficTarget[] | undefined {
  const list = readList(is, v, path)
  if (list === undefined) return undefined
  const out: TrafficTarget[] = []
  const tags = new Map<string, number>()
  let sum = 0
  let percentsOk = true
  list.forEach((item, i) => {
    const p = [...path, i]
    const t = readMap(is, item, p)
    if (t === undefined) {
      if (absent(item)) is.add(p, 'empty traffic target; give it a percent and a revisionName, configurationName or latestRevision')
      percentsOk = false
      return
    }
    checkFields(is, t, p, TRAFFIC_FIELDS)
    const target: TrafficTarget = {}
    const tag = readString(is, t['tag'], [...p, 'tag'])
    if (tag !== undefined && tag !== '') {
      const bad = dns1035Label(tag)
      if (bad !== undefined) is.add([...p, 'tag'], bad)
      const first = tags.get(tag)
      if (first !== undefined) is.add([...p, 'tag'], `tag "${tag}" is already used by ${formatPath([...path, first])}; tags must be unique`)
      else tags.set(tag, i)
      target.tag = tag
    }
    const revisionName = readString(is, t['revisionName'], [...p, 'revisionName']) || undefined
    const configurationName = readString(is, t['configurationName'], [...p, 'configurationName']) || undefined
    if (revisionName !== undefined) {
      const bad = dns1123Label(revisionName)
      if (bad !== undefined) is.add([...p, 'revisionName'], bad)
      target.revisionName = revisionName
    }
    if (configurationName !== undefined) target.configurationName = configurationName
    if (inService && configurationName !== undefined) {
      is.add([...p, 'configurationName'], 'not allowed in a Service, which routes to its own configuration; remove it (use latestRevision or revisionName)')
    } else if (revisionName !== undefined && configurationName !== undefined) {
      is.add([...p, 'configurationName'], 'set either revisionName or configurationName, not both')
    } else if (!inService && revisionName === undefined && configurationName === undefined) {
      is.add(p, 'a Route traffic target needs a revisionName or a configurationName')
    }
    const latest = readBool(is, t['latestRevision'], [...p, 'latestRevision'])
    if (latest === true && revisionName !== undefined) {
      is.add([...p, 'latestRevision'], 'latestRevision: true cannot be combined with revisionName; remove one of them')
    } else if (latest === false && revisionName === undefined) {
      is.add([...p, 'latestRevision'], 'latestRevision: false needs a revisionName to pin; set revisionName or remove latestRevision')
    }
    target.latestRevision = latest ?? revisionName === undefined
    const percent = readInt(is, t['percent'], [...p, 'percent'], 0, 100)
    if (percent === undefined && !absent(t['percent'])) percentsOk = false
    target.percent = percent ?? 0 // Knative: a nil percent counts as 0
    sum += target.percent
    if (!absent(t['url'])) is.add([...p, 'url'], `is filled in by Sluice in status; remove it from spec (got ${describe(t['url'])})`)
    out.push(target)
  })
  if (percentsOk && list.length > 0 && sum !== 100) {
    is.add(path, `percents sum to ${sum}, they must sum to 100`)
  }
  return out
}

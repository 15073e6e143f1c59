// PingSource, ContainerSource and SinkBinding (sources.knative.dev/v1): typed, defaulted specs with
// located errors. Port of knative/eventing pkg/apis/sources/v1/{ping,container,sinkbinding}_{validation,defaults}.go
// and knative.dev/pkg duck/v1 Destination / CloudEventOverrides validation.
import { Cron } from 'croner'
import type { ContainerSource, DestinationSpec, PingSource, SinkBinding } from '../resources/eventing.ts'
import { absent, checkFields, missing, readList, readMap, readString, readStringList, readStringMap } from './fields.ts'
import type { Issues, Obj } from './fields.ts'
import type { Parent } from './validate-serving.ts'
import { checkShape } from './schema.ts'
import { REVISION_SPEC } from './schema-pod.ts'
import type { FieldPath } from './yaml-documents.ts'

/** ping_defaults.go */
export const DEFAULT_SCHEDULE = '* * * * *'

export function buildPingSource(is: Issues, raw: Obj): PingSource['spec'] {
  const path: FieldPath = ['spec']
  const spec = readMap(is, raw['spec'], path)
  if (spec === undefined) {
    missing(is, raw['spec'], path, 'a PingSource needs spec.sink (and usually spec.schedule)')
    return { sink: {} }
  }
  checkFields(is, spec, path, ['schedule', 'timezone', 'contentType', 'data', 'dataBase64', 'sink', 'ceOverrides'])
  const out: PingSource['spec'] = { sink: readSink(is, spec['sink'], [...path, 'sink']) ?? {} }
  const schedule = readString(is, spec['schedule'], [...path, 'schedule']) || DEFAULT_SCHEDULE
  out.schedule = schedule
  const timezone = readString(is, spec['timezone'], [...path, 'timezone'])
  if (timezone !== undefined && timezone !== '') {
    out.timezone = timezone
    if (!validTimezone(timezone)) is.add([...path, 'timezone'], `invalid value ${JSON.stringify(timezone)}: unknown time zone; use an IANA name such as Europe/Paris or America/New_York`)
  }
  const scheduleError = checkSchedule(schedule)
  if (scheduleError !== undefined) is.add([...path, 'schedule'], scheduleError)
  const contentType = readString(is, spec['contentType'], [...path, 'contentType'])
  if (contentType !== undefined && contentType !== '') out.contentType = contentType
  const data = readString(is, spec['data'], [...path, 'data'])
  const dataBase64 = readString(is, spec['dataBase64'], [...path, 'dataBase64'])
  const json = contentType === 'application/json'
  if (data !== undefined && data !== '' && dataBase64 !== undefined && dataBase64 !== '') {
    is.add(path, 'expected exactly one, got both: data, dataBase64; keep one of them')
  } else if (dataBase64 !== undefined && dataBase64 !== '') {
    out.dataBase64 = dataBase64
    const decoded = decodeBase64(dataBase64)
    if (decoded === undefined) is.add([...path, 'dataBase64'], 'invalid value: not standard base64 (A-Z a-z 0-9 + / with = padding); encode with `base64 -w0`')
    else if (json) checkJson(is, decoded.toString('utf8'), [...path, 'dataBase64'], 'decoded dataBase64')
  } else if (data !== undefined && data !== '') {
    out.data = data
    if (json) checkJson(is, data, [...path, 'data'], 'data')
  }
  const ce = readOverrides(is, spec['ceOverrides'], [...path, 'ceOverrides'])
  if (ce !== undefined) out.ceOverrides = ce
  return out
}

export function buildContainerSource(is: Issues, raw: Obj, parent?: Parent): ContainerSource['spec'] {
  const path: FieldPath = ['spec']
  const spec = readMap(is, raw['spec'], path)
  const empty = { template: { spec: { containers: [] } }, sink: {} }
  if (spec === undefined) {
    missing(is, raw['spec'], path, 'a ContainerSource needs spec.template.spec.containers and spec.sink')
    return empty
  }
  checkFields(is, spec, path, ['template', 'sink', 'ceOverrides'])
  const sink = readSink(is, spec['sink'], [...path, 'sink']) ?? {}
  const tPath: FieldPath = [...path, 'template']
  const template = readMap(is, spec['template'], tPath)
  const out: ContainerSource['spec'] = { ...empty, sink }
  if (template === undefined) {
    missing(is, spec['template'], tPath, 'add template.spec.containers with the command to run')
  } else {
    checkFields(is, template, tPath, ['metadata', 'spec'])
    readMap(is, template['metadata'], [...tPath, 'metadata'])
    const psPath: FieldPath = [...tPath, 'spec']
    const podSpec = readMap(is, template['spec'], psPath)
    if (podSpec === undefined) {
      missing(is, template['spec'], psPath, 'add template.spec.containers with the command to run')
    } else {
      // The PodSpec fields a revision accepts (the same shape check), without the revision's own.
      checkShape(is, podSpec, psPath, POD_SPEC)
      const cPath: FieldPath = [...psPath, 'containers']
      const list = readList(is, podSpec['containers'], cPath)
      if (list === undefined || list.length === 0) {
        is.add(cPath, 'missing field; list the container to run, e.g. - name: source\\n    command: [node, source.mjs]')
      } else {
        // container_defaults.go: an unnamed container is named `<source>-<i>`
        const containers = list.map((c, i) => {
          const m = readMap(is, c, [...cPath, i]) ?? {}
          const name = readString(is, m['name'], [...cPath, i, 'name'])
          const command = readStringList(is, m['command'], [...cPath, i, 'command'])
          const image = readString(is, m['image'], [...cPath, i, 'image'])
          // Knative requires image; locally a command is what runs, so either will do.
          if ((image === undefined || image === '') && (command === undefined || command.length === 0)) {
            is.add([...cPath, i], 'needs an image (to run in Kubernetes) or a command (to run as a local process)')
          }
          for (const [j, e] of (readList(is, m['env'], [...cPath, i, 'env']) ?? []).entries()) {
            const env = readMap(is, e, [...cPath, i, 'env', j])
            if (env !== undefined && (env['name'] === undefined || env['name'] === '')) is.add([...cPath, i, 'env', j, 'name'], 'missing field; each env entry needs a name')
          }
          return name === undefined || name === '' ? { ...m, name: `${parent?.meta.name ?? 'source'}-${i}` } : m
        })
        out.template = { ...template, spec: { ...podSpec, containers } }
      }
    }
  }
  const ce = readOverrides(is, spec['ceOverrides'], [...path, 'ceOverrides'])
  if (ce !== undefined) out.ceOverrides = ce
  return out
}

const SUBJECT_FIELDS = ['apiVersion', 'kind', 'name', 'namespace', 'selector']

export function buildSinkBinding(is: Issues, raw: Obj, parent?: Parent): SinkBinding['spec'] {
  const path: FieldPath = ['spec']
  const spec = readMap(is, raw['spec'], path)
  const namespace = parent?.meta.namespace ?? 'default'
  const empty: SinkBinding['spec'] = { subject: { apiVersion: '', kind: '' }, sink: {} }
  if (spec === undefined) {
    missing(is, raw['spec'], path, 'a SinkBinding needs spec.subject and spec.sink')
    return empty
  }
  checkFields(is, spec, path, ['subject', 'sink', 'ceOverrides'])
  const out: SinkBinding['spec'] = { ...empty, sink: readSink(is, spec['sink'], [...path, 'sink']) ?? {} }
  const sPath: FieldPath = [...path, 'subject']
  const subject = readMap(is, spec['subject'], sPath)
  if (subject === undefined) {
    missing(is, spec['subject'], sPath, 'name the workload to bind, e.g. apiVersion: serving.knative.dev/v1, kind: Service, name: my-app')
  } else {
    checkFields(is, subject, sPath, SUBJECT_FIELDS)
    const apiVersion = readString(is, subject['apiVersion'], [...sPath, 'apiVersion'])
    const kind = readString(is, subject['kind'], [...sPath, 'kind'])
    const name = readString(is, subject['name'], [...sPath, 'name'])
    const ns = readString(is, subject['namespace'], [...sPath, 'namespace'])
    const selector = readMap(is, subject['selector'], [...sPath, 'selector'])
    if (apiVersion === undefined || apiVersion === '') is.add([...sPath, 'apiVersion'], 'missing field; e.g. serving.knative.dev/v1')
    if (kind === undefined || kind === '') is.add([...sPath, 'kind'], 'missing field; e.g. Service')
    // tracker.Reference.Validate: exactly one of name and selector
    const hasName = name !== undefined && name !== ''
    if (hasName && selector !== undefined) is.add(sPath, 'expected exactly one, got both: name, selector; keep one of them')
    else if (!hasName && selector === undefined) is.add(sPath, 'expected exactly one, got neither: name, selector; name the subject or select it by labels')
    // sinkbinding_validation.go: the subject lives in the binding's namespace
    if (ns !== undefined && ns !== '' && ns !== namespace) is.add([...sPath, 'namespace'], `invalid value ${JSON.stringify(ns)}: a SinkBinding binds subjects in its own namespace (${namespace}); remove it`)
    out.subject = { apiVersion: apiVersion ?? '', kind: kind ?? '', namespace }
    if (hasName) out.subject.name = name
    if (selector !== undefined) {
      checkFields(is, selector, [...sPath, 'selector'], ['matchLabels', 'matchExpressions'])
      const matchLabels = readStringMap(is, selector['matchLabels'], [...sPath, 'selector', 'matchLabels'], 'label values')
      if (!absent(selector['matchExpressions'])) is.add([...sPath, 'selector', 'matchExpressions'], 'not supported by Sluice; use matchLabels')
      out.subject.selector = { matchLabels: matchLabels ?? {} }
    }
    if (apiVersion && kind && !isLocalSubject(apiVersion, kind)) {
      is.add([...sPath, 'kind'], `Sluice binds serving.knative.dev/v1 Service, Configuration or Revision locally, got ${apiVersion} ${kind}`)
    }
  }
  const ce = readOverrides(is, spec['ceOverrides'], [...path, 'ceOverrides'])
  if (ce !== undefined) out.ceOverrides = ce
  return out
}

function isLocalSubject(apiVersion: string, kind: string): boolean {
  return apiVersion === 'serving.knative.dev/v1' && (kind === 'Service' || kind === 'Configuration' || kind === 'Revision')
}

/** A PodSpec as a revision accepts it, without the revision-only fields. */
const POD_SPEC = {
  fields: Object.fromEntries(Object.entries(REVISION_SPEC.fields).filter(([k]) =>
    !['containerConcurrency', 'timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds'].includes(k))),
}

/** duck/v1 Destination.Validate: a ref (kind, name, apiVersion) and/or a uri; a uri alone must be absolute. */
export function readSink(is: Issues, v: unknown, path: FieldPath): DestinationSpec | undefined {
  const d = readMap(is, v, path)
  if (d === undefined) {
    missing(is, v, path, 'say where events go: sink.ref (a Broker or Knative Service) or sink.uri')
    return undefined
  }
  checkFields(is, d, path, ['ref', 'uri', 'CACerts', 'audience'])
  const out: DestinationSpec = {}
  const uri = readString(is, d['uri'], [...path, 'uri'])
  const ref = readMap(is, d['ref'], [...path, 'ref'])
  if (ref === undefined && (uri === undefined || uri === '')) {
    is.add(path, 'expected at least one, got none: ref, uri')
    return undefined
  }
  if (ref !== undefined) {
    const rPath: FieldPath = [...path, 'ref']
    checkFields(is, ref, rPath, ['apiVersion', 'kind', 'name', 'namespace'])
    const kind = readString(is, ref['kind'], [...rPath, 'kind'])
    const name = readString(is, ref['name'], [...rPath, 'name'])
    const apiVersion = readString(is, ref['apiVersion'], [...rPath, 'apiVersion'])
    const namespace = readString(is, ref['namespace'], [...rPath, 'namespace'])
    if (!kind) is.add([...rPath, 'kind'], 'missing field; e.g. Broker or Service')
    if (!name) is.add([...rPath, 'name'], 'missing field; the name of the Broker or Service')
    if (!apiVersion) is.add([...rPath, 'apiVersion'], 'missing field; e.g. eventing.knative.dev/v1 or serving.knative.dev/v1')
    out.ref = { kind: kind ?? '', name: name ?? '' }
    if (apiVersion) out.ref.apiVersion = apiVersion
    if (namespace) out.ref.namespace = namespace
  }
  if (uri !== undefined && uri !== '') {
    out.uri = uri
    if (ref === undefined) {
      let url: URL | undefined
      try { url = new URL(uri) } catch { url = undefined }
      if (url === undefined) is.add([...path, 'uri'], `invalid value ${JSON.stringify(uri)}: a uri without ref must be absolute, e.g. http://127.0.0.1:9000/events`)
      else if (url.protocol !== 'http:' && url.protocol !== 'https:') is.add([...path, 'uri'], `invalid value ${JSON.stringify(uri)}: use http:// or https://`)
    }
  }
  const ca = readString(is, d['CACerts'], [...path, 'CACerts'])
  if (ca) out.CACerts = ca
  const audience = readString(is, d['audience'], [...path, 'audience'])
  if (audience) out.audience = audience
  return out
}

/** duck/v1 CloudEventOverrides: extension names alphanumeric and non-empty. */
function readOverrides(is: Issues, v: unknown, path: FieldPath): { extensions?: Record<string, string> } | undefined {
  const m = readMap(is, v, path)
  if (m === undefined) return undefined
  checkFields(is, m, path, ['extensions'])
  const ext = readStringMap(is, m['extensions'], [...path, 'extensions'], 'extension values')
  if (ext === undefined) return {}
  for (const key of Object.keys(ext)) {
    if (!/^[A-Za-z0-9]+$/.test(key)) is.add([...path, 'extensions', key], `invalid key name ${JSON.stringify(key)}: keys are expected to be alphanumeric`, true)
  }
  return { extensions: ext }
}

/**
 * robfig/cron with SecondOptional | Minute | Hour | Dom | Month | Dow | Descriptor, as Knative parses it;
 * `@every` is refused as ping_validation.go refuses it. Returns the message, or undefined when valid.
 */
export function checkSchedule(schedule: string): string | undefined {
  if (schedule.includes('@every')) return `invalid value ${JSON.stringify(schedule)}: unsupported descriptor @every; write a cron expression such as */5 * * * * (every 5 minutes)`
  if (schedule.trim().startsWith('CRON_TZ=') || schedule.trim().startsWith('TZ=')) return `invalid value ${JSON.stringify(schedule)}: put the time zone in spec.timezone, not in the schedule`
  const pattern = toCronerPattern(schedule)
  if (pattern === undefined) return `invalid value ${JSON.stringify(schedule)}: expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a descriptor like @hourly`
  try {
    new Cron(pattern, { paused: true })
  } catch (err) {
    return `invalid value ${JSON.stringify(schedule)}: ${(err as Error).message.replace(/^CronPattern: /, '')}`
  }
  return undefined
}

const DESCRIPTORS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 0 1 1 *', '@annually': '0 0 0 1 1 *', '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0', '@daily': '0 0 0 * * *', '@midnight': '0 0 0 * * *', '@hourly': '0 0 * * * *',
}

/**
 * The schedule in croner's 6-field form (seconds first), or undefined when the field count is wrong.
 * robfig descriptors map to their 6-field meaning; croner's own extensions (L, W, #) are refused
 * because robfig/cron (and so Knative) refuses them.
 */
export function toCronerPattern(schedule: string): string | undefined {
  const s = schedule.trim()
  if (s.startsWith('@')) return DESCRIPTORS[s]
  const fields = s.split(/\s+/)
  if (fields.length !== 5 && fields.length !== 6) return undefined
  if (fields.some((f) => /[LW#]/i.test(f.replace(/[A-Za-z]{3}/g, (m) => (/^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)$/i.test(m) ? '' : m))))) return undefined
  return fields.length === 5 ? `0 ${s}` : s
}

export function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

function decodeBase64(s: string): Buffer | undefined {
  // Go's base64.StdEncoding: padded, standard alphabet, no whitespace
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined
  return Buffer.from(s, 'base64')
}

/** ping_validation.go validateJSON: the data must decode into a JSON object */
function checkJson(is: Issues, text: string, path: FieldPath, what: string): void {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    is.add(path, `invalid value: ${what} is not JSON (${(err as Error).message}) but contentType is application/json; fix it or change contentType`)
    return
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    is.add(path, `invalid value: ${what} must be a JSON object ({...}) when contentType is application/json`)
  }
}

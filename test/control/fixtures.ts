// Builders for ResourceSets as the sources would deliver them (defaulted and validated).
import type {
  Condition, ConfigMap, Configuration, CoreService, EndpointSlice, Endpoints, KIngress, KObject, KService, ResourceSet,
  Revision, RevisionTemplate, Route, SourceRef, TrafficTarget,
} from '../../control/resources/types.ts'
import { emptyResourceSet } from '../../control/resources/types.ts'
import { defaultSettings } from '../../control/settings/read-settings.ts'
import type { Settings } from '../../control/settings/types.ts'
import { emptyState, type RevisionState } from '../../control/state.ts'
import { reconcile, type ReconcileOutput } from '../../control/reconcile/index.ts'

export const NOW = new Date('2026-03-01T12:00:00.000Z')
export const UPSTREAM = 'http://127.0.0.1:9001'

export function src(file: string, doc = 0, line = 1): SourceRef {
  return { file, doc, line, column: 1, locate: () => ({ line, column: 1 }) }
}

export interface TemplateOpts {
  upstream?: string | null
  command?: string[]
  env?: string
  port?: { name?: string; containerPort?: number }
  name?: string
  templateLabels?: Record<string, string>
  templateAnnotations?: Record<string, string>
  timeoutSeconds?: number
  responseStartTimeoutSeconds?: number
  idleTimeoutSeconds?: number
}

export function template(o: TemplateOpts = {}): RevisionTemplate {
  const annotations: Record<string, string> = { ...o.templateAnnotations }
  if (o.upstream !== null) annotations['sluice.dev/upstream'] = o.upstream ?? UPSTREAM
  const container: Record<string, unknown> = { image: 'example/hello' }
  if (o.command) container.command = o.command
  if (o.env) container.env = [{ name: 'TARGET', value: o.env }]
  if (o.port) container.ports = [o.port]
  const spec: RevisionTemplate['spec'] = { containers: [container] }
  if (o.timeoutSeconds !== undefined) spec.timeoutSeconds = o.timeoutSeconds
  if (o.responseStartTimeoutSeconds !== undefined) spec.responseStartTimeoutSeconds = o.responseStartTimeoutSeconds
  if (o.idleTimeoutSeconds !== undefined) spec.idleTimeoutSeconds = o.idleTimeoutSeconds
  const metadata: RevisionTemplate['metadata'] = { annotations }
  if (o.name) metadata.name = o.name
  if (o.templateLabels) metadata.labels = o.templateLabels
  return { metadata, spec }
}

interface MetaOpts {
  ns?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  source?: SourceRef
  creationTimestamp?: string
}

function meta(name: string, o: MetaOpts) {
  return {
    name,
    namespace: o.ns ?? 'default',
    labels: o.labels ?? {},
    annotations: o.annotations ?? {},
    ...(o.creationTimestamp ? { creationTimestamp: o.creationTimestamp } : {}),
  }
}

function withSource<T extends KObject>(obj: T, o: MetaOpts): T {
  return o.source ? { ...obj, source: o.source } : obj
}

export function service(name: string, o: MetaOpts & TemplateOpts & { traffic?: TrafficTarget[] } = {}): KService {
  return withSource({
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: meta(name, o),
    // Sources default the traffic like Knative does.
    spec: { template: template(o), traffic: o.traffic ?? [{ latestRevision: true, percent: 100 }] },
  }, o)
}

export function configuration(name: string, o: MetaOpts & TemplateOpts = {}): Configuration {
  return withSource({ apiVersion: 'serving.knative.dev/v1', kind: 'Configuration', metadata: meta(name, o), spec: { template: template(o) } }, o)
}

export function route(name: string, traffic: TrafficTarget[], o: MetaOpts = {}): Route {
  return withSource({ apiVersion: 'serving.knative.dev/v1', kind: 'Route', metadata: meta(name, o), spec: { traffic } }, o)
}

export function revision(name: string, o: MetaOpts & TemplateOpts = {}): Revision {
  const t = template(o)
  return withSource({
    apiVersion: 'serving.knative.dev/v1', kind: 'Revision',
    metadata: meta(name, { ...o, annotations: { ...t.metadata.annotations, ...o.annotations } }),
    spec: t.spec,
  }, o)
}

export function kingress(name: string, spec: KIngress['spec'], o: MetaOpts = {}): KIngress {
  return withSource({ apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress', metadata: meta(name, o), spec }, o)
}

export function coreService(name: string, spec: CoreService['spec'], o: MetaOpts = {}): CoreService {
  return withSource({ apiVersion: 'v1', kind: 'Service', metadata: meta(name, o), spec }, o)
}

export function endpointSlice(name: string, svc: string, ports: EndpointSlice['ports'], endpoints: EndpointSlice['endpoints'], o: MetaOpts & { addressType?: EndpointSlice['addressType'] } = {}): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: meta(name, { ...o, labels: { 'kubernetes.io/service-name': svc, ...o.labels } }),
    spec: undefined, addressType: o.addressType ?? 'IPv4', ports, endpoints,
  }
}

export function endpoints(name: string, subsets: Endpoints['subsets'], o: MetaOpts = {}): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: meta(name, o), spec: undefined, subsets }
}

export function configMap(name: string, data: Record<string, string>, o: MetaOpts = {}): ConfigMap {
  return withSource({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(name, { ns: 'knative-serving', ...o }), spec: undefined, data }, o)
}

export function resources(p: Partial<ResourceSet>): ResourceSet {
  return { ...emptyResourceSet(), ...p }
}

export function settings(p: Partial<Settings> = {}): Settings {
  return { ...defaultSettings, ...p }
}

export function run(rs: Partial<ResourceSet>, o: { settings?: Partial<Settings>; state?: RevisionState; now?: Date } = {}): ReconcileOutput {
  return reconcile({ resources: resources(rs), settings: settings(o.settings), state: o.state ?? emptyState(), now: o.now ?? NOW })
}

export function find(out: ReconcileOutput, kind: string, name: string, ns = 'default'): KObject & { status: Record<string, unknown> } {
  const o = out.objects.find((x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === ns &&
    (kind !== 'Service' || x.apiVersion === 'serving.knative.dev/v1'))
  if (o === undefined) throw new Error(`no ${kind} ${ns}/${name} in output`)
  return o as KObject & { status: Record<string, unknown> }
}

export function cond(obj: KObject, type: string): Condition | undefined {
  return (obj.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type)
}

/** `{status, reason}` of a condition, for compact assertions. */
export function sr(obj: KObject, type: string): { status?: string; reason?: string } {
  const c = cond(obj, type)
  return { status: c?.status, reason: c?.reason }
}

export const names = (out: ReconcileOutput, kind: string): string[] =>
  out.objects.filter((o) => o.kind === kind && o.apiVersion !== 'v1').map((o) => o.metadata.name)

// Typed shapes of the resources Sluice reads. Field names and JSON shapes follow Knative and
// Kubernetes exactly, so a manifest that works with `kubectl apply` works here unchanged.

/** Where an object came from; `locate` maps a field path to a position in its file. */
export interface SourceRef {
  readonly file: string
  /** index of the YAML document in its file, 0-based */
  readonly doc: number
  readonly line: number
  readonly column: number
  locate(path: readonly (string | number)[]): { line: number; column: number }
}

/** An error a user can cause and fix, with where it is. */
export interface ConfigError {
  readonly file: string
  readonly line: number
  readonly column: number
  /** field path such as `spec.traffic[1].percent`; empty for whole-document errors */
  readonly path: string
  readonly message: string
}

export interface ObjectMeta {
  name: string
  namespace: string
  generateName?: string
  labels: Record<string, string>
  annotations: Record<string, string>
  creationTimestamp?: string
  generation?: number
  uid?: string
  resourceVersion?: string
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason?: string
  message?: string
  lastTransitionTime?: string
  severity?: string
}

export interface KObject<Spec = unknown> {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  spec: Spec
  status?: Record<string, unknown>
  /** not serialised: where the object was declared (absent for derived objects) */
  source?: SourceRef
}

import type { Broker, ContainerSource, PingSource, SinkBinding, Trigger } from './eventing.ts'

// ---------- serving.knative.dev/v1 ----------

export interface ContainerPort { name?: string; containerPort?: number; protocol?: string }
export interface KeyRef { name?: string; key?: string; optional?: boolean }
export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef; fieldRef?: { fieldPath?: string }; resourceFieldRef?: { resource?: string } }
}
export interface EnvFromSource { prefix?: string; secretRef?: { name?: string; optional?: boolean }; configMapRef?: { name?: string; optional?: boolean } }
export interface Probe {
  httpGet?: { path?: string; port?: number | string; httpHeaders?: { name: string; value: string }[]; scheme?: string }
  tcpSocket?: { port?: number | string }
  exec?: { command: string[] }
  periodSeconds?: number
  timeoutSeconds?: number
  successThreshold?: number
  failureThreshold?: number
  initialDelaySeconds?: number
}
export interface Container {
  name?: string
  image?: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  envFrom?: EnvFromSource[]
  workingDir?: string
  ports?: ContainerPort[]
  readinessProbe?: Probe
  livenessProbe?: Probe
  [k: string]: unknown
}

export interface RevisionSpec {
  containers: Container[]
  containerConcurrency?: number
  timeoutSeconds?: number
  responseStartTimeoutSeconds?: number
  idleTimeoutSeconds?: number
  [k: string]: unknown
}

export interface RevisionTemplate {
  metadata: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec: RevisionSpec
}

export interface TrafficTarget {
  tag?: string
  revisionName?: string
  configurationName?: string
  latestRevision?: boolean
  percent?: number
  url?: string
}

export type KService = KObject<{ template: RevisionTemplate; traffic?: TrafficTarget[] }>
export type Configuration = KObject<{ template: RevisionTemplate }>
export type Revision = KObject<RevisionSpec>
export type Route = KObject<{ traffic?: TrafficTarget[] }>

// ---------- networking.internal.knative.dev/v1alpha1 Ingress (KIngress) ----------

export type Visibility = 'ExternalIP' | 'ClusterLocal'

export interface IngressSplit {
  serviceNamespace: string
  serviceName: string
  servicePort: number | string
  percent?: number
  appendHeaders?: Record<string, string>
}
export interface IngressPath {
  path?: string
  rewriteHost?: string
  headers?: Record<string, { exact: string }>
  splits: IngressSplit[]
  appendHeaders?: Record<string, string>
}
export interface IngressRule {
  hosts?: string[]
  visibility?: Visibility
  http: { paths: IngressPath[] }
}
export interface IngressTLS { hosts?: string[]; secretName: string; secretNamespace: string }
export interface IngressSpec {
  tls?: IngressTLS[]
  rules: IngressRule[]
  httpOption?: '' | 'Enabled' | 'Redirected'
}
export type KIngress = KObject<IngressSpec>

// ---------- core v1 / discovery.k8s.io/v1 ----------

export interface ServicePort {
  name?: string
  port: number
  targetPort?: number | string
  protocol?: string
  appProtocol?: string
}
export type CoreService = KObject<{
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName'
  externalName?: string
  ports?: ServicePort[]
  selector?: Record<string, string>
  clusterIP?: string
}>

export interface EndpointAddress { ip: string; hostname?: string }
export interface EndpointPort { name?: string; port: number; protocol?: string; appProtocol?: string }
export interface Endpoints extends KObject<undefined> {
  subsets?: { addresses?: EndpointAddress[]; notReadyAddresses?: EndpointAddress[]; ports?: EndpointPort[] }[]
}
export interface EndpointSlice extends KObject<undefined> {
  addressType: 'IPv4' | 'IPv6' | 'FQDN'
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }[]
  ports?: EndpointPort[]
}
export interface ConfigMap extends KObject<undefined> { data: Record<string, string> }
export interface Secret extends KObject<undefined> { type?: string; data?: Record<string, string>; stringData?: Record<string, string> }

/** Everything loaded from a source, by kind, in declaration order (file name order, then document order). */
export interface ResourceSet {
  services: KService[]
  configurations: Configuration[]
  revisions: Revision[]
  routes: Route[]
  ingresses: KIngress[]
  coreServices: CoreService[]
  endpoints: Endpoints[]
  endpointSlices: EndpointSlice[]
  configMaps: ConfigMap[]
  secrets: Secret[]
  brokers: Broker[]
  triggers: Trigger[]
  pingSources: PingSource[]
  containerSources: ContainerSource[]
  sinkBindings: SinkBinding[]
  /** kinds Sluice keeps as written (Plugin, other ingress classes); shown in /debug/resources */
  others: KObject[]
}

export function emptyResourceSet(): ResourceSet {
  return {
    services: [], configurations: [], revisions: [], routes: [], ingresses: [],
    coreServices: [], endpoints: [], endpointSlices: [], configMaps: [], secrets: [],
    brokers: [], triggers: [], pingSources: [], containerSources: [], sinkBindings: [], others: [],
  }
}

// The install manifests in config/kubernetes/, read as kubectl would: RBAC equal to API_ACCESS,
// a gateway Deployment that drains, probes and runs locked down, and Services, PDB, ConfigMap and
// the Plugin CRD the docs describe.
import t from 'tap'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { API_ACCESS, type ApiScope } from '../../control/sources/kubernetes/api-access.ts'
import { readSettings, defaultSettings, parseDuration } from '../../control/settings/read-settings.ts'
import type { ConfigMap } from '../../control/resources/types.ts'
// The generated API models: which fields each kind has (no cluster needed to spot a misspelt field).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const DIR = path.join(ROOT, 'config/kubernetes')
const OWN_NAMESPACE = 'sluice-system'
const KNATIVE_NAMESPACE = 'knative-serving'

// Loose shapes: the test reads what is written and asserts on it.
type Obj = Record<string, any>

function load(): Obj[] {
  const out: Obj[] = []
  for (const file of yamlFiles()) {
    for (const doc of parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`)
      const o = doc.toJS() as Obj | null
      if (o !== null) out.push({ ...o, __file: file })
    }
  }
  return out
}

/** What `kubectl apply -f config/kubernetes/` reads: *.yaml, *.yml, *.json, in name order. */
function yamlFiles(): string[] {
  return readdirSync(DIR).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()
}

const objects = load()
const find = (kind: string, name: string, namespace?: string): Obj[] =>
  objects.filter((o) => o.kind === kind && o.metadata?.name === name && (namespace === undefined || o.metadata?.namespace === namespace))
function one(kind: string, name: string, namespace?: string): Obj {
  const hits = find(kind, name, namespace)
  if (hits.length !== 1) throw new Error(`expected one ${kind} ${namespace ?? ''}/${name}, found ${hits.length}`)
  return hits[0]!
}

const deployment = one('Deployment', 'sluice', OWN_NAMESPACE)
const pod = deployment.spec.template.spec
const container = pod.containers.find((c: Obj) => c.name === 'sluice') as Obj
const configSluice = one('ConfigMap', 'config-sluice', KNATIVE_NAMESPACE)

t.test('apply -k and apply -f install the same objects', async (t) => {
  const files = yamlFiles()
  t.notOk(files.some((f) => /^kustomization\.(ya?ml|json)$/i.test(f)),
    'no kustomization.yaml: `kubectl apply -f` on the directory would send it to the API server')
  const kustomization = parseYaml(readFileSync(path.join(DIR, 'Kustomization'), 'utf8')) as Obj
  t.same([...kustomization.resources].sort(), files, 'Kustomization lists every manifest file, and only those')
  t.same(kustomization.images.map((i: Obj) => i.name), [container.image.split(':')[0]], 'its images entry names the Deployment image')
  t.notOk('namespace' in kustomization, 'no namespace transformer: it would move the knative-serving Role and ConfigMap too')
  for (const o of objects) {
    t.ok(o.apiVersion && o.kind && o.metadata?.name, `${o.__file}: apiVersion, kind and name`)
  }
  const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'])
  for (const o of objects.filter((o) => !clusterScoped.has(o.kind))) {
    t.ok(o.metadata.namespace, `${o.__file}: ${o.kind} ${o.metadata.name} names its namespace (apply -f has no default)`)
  }
  // Namespace and CRD first, so `apply -f` creates them before objects that need them.
  t.equal(files[0], '00-namespace.yaml')
  t.match(files[1], /crd/)

  if (hasKubectl()) {
    const built = parseAllDocuments(execFileSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' })).map((d) => d.toJS() as Obj)
    const key = (o: Obj): string => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`
    t.same(built.map(key).sort(), objects.map(key).sort(), 'kubectl kustomize builds the same objects')
  }
})

t.test('Namespace and ServiceAccount', async (t) => {
  one('Namespace', OWN_NAMESPACE)
  one('ServiceAccount', 'sluice', OWN_NAMESPACE)
  t.equal(pod.serviceAccountName, 'sluice')
})

t.test('RBAC grants exactly API_ACCESS', async (t) => {
  const roleScope = (o: Obj): ApiScope | undefined => {
    if (o.kind === 'ClusterRole') return 'cluster'
    if (o.kind !== 'Role') return undefined
    if (o.metadata.namespace === OWN_NAMESPACE) return 'own-namespace'
    if (o.metadata.namespace === KNATIVE_NAMESPACE) return 'knative-namespace'
    return undefined
  }
  const granted: string[] = []
  for (const role of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
    const scope = roleScope(role)
    t.ok(scope, `${role.kind} ${role.metadata.name} is cluster-wide, in ${OWN_NAMESPACE} or in ${KNATIVE_NAMESPACE}`)
    t.notOk(role.aggregationRule, `${role.metadata.name}: no aggregation`)
    for (const rule of role.rules) {
      t.notOk(rule.resourceNames ?? rule.nonResourceURLs, `${role.metadata.name}: no resourceNames or nonResourceURLs`)
      for (const list of [rule.apiGroups, rule.resources, rule.verbs]) {
        t.notOk(list.some((v: string) => v.includes('*')), `${role.metadata.name}: no wildcard in ${JSON.stringify(list)}`)
      }
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) granted.push(entry(group, resource, rule.verbs, scope!))
      }
    }
  }
  const wanted = API_ACCESS.map((a) => entry(a.group, a.resource, a.verbs, a.scope))
  t.same(granted.sort(), [...wanted].sort(), 'the same (group, resource, verbs, scope) rules, no more and no fewer')
  t.equal(new Set(granted).size, granted.length, 'no rule granted twice')

  // Each role is bound, only to the sluice ServiceAccount, in its own namespace.
  for (const role of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
    const bindingKind = role.kind === 'ClusterRole' ? 'ClusterRoleBinding' : 'RoleBinding'
    const bindings = objects.filter((b) => b.kind === bindingKind && b.roleRef.kind === role.kind && b.roleRef.name === role.metadata.name &&
      b.metadata.namespace === role.metadata.namespace)
    t.equal(bindings.length, 1, `${role.kind} ${role.metadata.name} has one ${bindingKind}`)
    t.same(bindings[0]?.subjects, [{ kind: 'ServiceAccount', name: 'sluice', namespace: OWN_NAMESPACE }], `${bindingKind} ${role.metadata.name} binds only sluice`)
  }
  for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    t.ok(objects.some((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name), `${b.kind} ${b.metadata.name} refers to a role defined here (no built-in roles such as view or edit)`)
  }
})

function entry(group: string, resource: string, verbs: readonly string[], scope: ApiScope): string {
  return `${scope} ${group === '' ? 'core' : group} ${resource} ${[...verbs].sort().join(',')}`
}

t.test('API_ACCESS itself is sorted, specific and documented', async (t) => {
  for (const a of API_ACCESS) {
    t.same(a.verbs, [...a.verbs].sort(), `${a.resource}: verbs sorted`)
    t.notOk(a.verbs.some((v) => (v as string) === '*') || a.resource.includes('*') || a.group.includes('*'), `${a.resource}: no wildcard`)
    t.ok(a.why.length > 10, `${a.resource}: says why`)
  }
})

t.test('Deployment: replicas, rollout, topology', async (t) => {
  t.equal(deployment.spec.replicas, 2)
  t.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0, 'a rollout never has fewer ready replicas')
  const podLabels = deployment.spec.template.metadata.labels
  for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) t.equal(podLabels[k], v, `pod carries selector label ${k}`)
  const spread = pod.topologySpreadConstraints as Obj[]
  t.ok(spread.some((c) => c.topologyKey === 'kubernetes.io/hostname'), 'spread across nodes')
  for (const c of spread) t.equal(c.whenUnsatisfiable, 'ScheduleAnyway', `${c.topologyKey}: still schedulable on one node`)
  const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution as Obj[]
  t.ok(anti.some((a) => a.podAffinityTerm.topologyKey === 'kubernetes.io/hostname'), 'anti-affinity on nodes')
})

t.test('Deployment: command line and environment', async (t) => {
  const args = container.args as string[]
  t.same(args.slice(0, 2), ['serve', '--kubernetes'])
  const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1] }
  t.equal(flag('--host'), '0.0.0.0')
  t.equal(flag('--internal-host'), '0.0.0.0')
  t.equal(flag('--admin-host'), '0.0.0.0', 'the kubelet probes the admin port on the pod IP')
  t.ok(args.includes('--admin-metrics-public'), 'Prometheus scrapes without the token')
  t.equal(flag('--knative-namespace'), KNATIVE_NAMESPACE, 'the namespace the configmaps Role is in')
  const state = flag('--state')
  const stateMount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === state)
  t.ok(stateMount, '--state is a mounted volume')
  t.ok(pod.volumes.find((v: Obj) => v.name === stateMount?.name)?.emptyDir, '--state is an emptyDir (the root filesystem is read-only)')

  const env = new Map((container.env as Obj[]).map((e) => [e.name, e]))
  t.equal(env.get('POD_NAME')?.valueFrom.fieldRef.fieldPath, 'metadata.name')
  t.equal(env.get('POD_NAMESPACE')?.valueFrom.fieldRef.fieldPath, 'metadata.namespace')
  t.equal(env.get('POD_IP')?.valueFrom.fieldRef.fieldPath, 'status.podIP')
  const token = env.get('SLUICE_ADMIN_TOKEN')?.valueFrom?.secretKeyRef
  t.ok(token?.name && token?.key, 'the admin token comes from a Secret, not a literal')
  t.equal(token?.optional, false, 'and is required: without it /debug would be open to the pod network')
})

t.test('Deployment: probes, ports and drain', async (t) => {
  const adminPort = (container.ports as Obj[]).find((p) => p.name === 'admin')
  t.equal(adminPort?.containerPort, 9090)
  const probePort = (p: Obj): unknown => p.httpGet.port === 'admin' ? 9090 : p.httpGet.port
  t.equal(container.readinessProbe.httpGet.path, '/readyz')
  t.equal(probePort(container.readinessProbe), 9090)
  t.equal(container.livenessProbe.httpGet.path, '/healthz')
  t.equal(probePort(container.livenessProbe), 9090)
  const ports = new Map((container.ports as Obj[]).map((p) => [p.name, p.containerPort]))
  t.same(Object.fromEntries(ports), { http: 8080, https: 8443, 'http-internal': 8081, admin: 9090 })

  const preStop = container.lifecycle.preStop
  t.notOk(preStop.exec, 'no exec preStop: the image has no curl, and Sluice drains on SIGTERM itself')
  t.ok(preStop.sleep?.seconds >= 5, 'a native sleep preStop long enough for endpoint removal to propagate')
  const drain = drainTimeoutSeconds()
  t.ok(pod.terminationGracePeriodSeconds > preStop.sleep.seconds + drain,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStop.sleep.seconds} s + drain-timeout ${drain} s`)
})

/** config-sluice drain-timeout as installed (data, not the _example), else Sluice's default. */
function drainTimeoutSeconds(): number {
  const v = configSluice.data['drain-timeout'] as string | undefined
  return v === undefined ? defaultSettings.sluice.drainTimeoutSeconds : parseDuration(v)!
}

t.test('Deployment: resources and security', async (t) => {
  for (const kind of ['requests', 'limits']) {
    t.ok(container.resources[kind]?.cpu && container.resources[kind]?.memory, `${kind}: cpu and memory`)
  }
  const sc = container.securityContext
  t.equal(sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot, true)
  t.ok((sc.runAsUser ?? pod.securityContext.runAsUser) > 0, 'a numeric non-root user, so the kubelet can verify runAsNonRoot')
  t.equal(sc.readOnlyRootFilesystem, true)
  t.equal(sc.allowPrivilegeEscalation, false)
  t.same(sc.capabilities.drop, ['ALL'])
  t.notOk(sc.capabilities.add, 'no capability added (every port is above 1024)')
  t.equal((sc.seccompProfile ?? pod.securityContext.seccompProfile).type, 'RuntimeDefault')
  t.notOk(pod.hostNetwork, 'pod network')
  for (const p of container.ports as Obj[]) t.ok(p.containerPort > 1024, `port ${p.name} needs no NET_BIND_SERVICE`)
})

t.test('Services', async (t) => {
  const podLabels = deployment.spec.template.metadata.labels
  const containerPort = (target: unknown): unknown => (container.ports as Obj[]).find((p) => p.name === target)?.containerPort ?? target
  const ports = (svc: Obj): Record<string, string> =>
    Object.fromEntries((svc.spec.ports as Obj[]).map((p) => [p.name, `${p.port}->${containerPort(p.targetPort)}`]))

  const pub = one('Service', 'sluice', OWN_NAMESPACE)
  t.equal(pub.spec.type, 'LoadBalancer')
  t.same(ports(pub), { http2: '80->8080', https: '443->8443' })
  const internal = one('Service', 'sluice-internal', OWN_NAMESPACE)
  t.equal(internal.spec.type ?? 'ClusterIP', 'ClusterIP')
  t.equal(ports(internal).http2, '80->8081', 'the internal listener on 80, named http2 as Serving expects')
  for (const svc of [pub, internal]) {
    for (const [k, v] of Object.entries(svc.spec.selector)) t.equal(podLabels[k], v, `${svc.metadata.name} selects the gateway pods (${k})`)
  }
})

t.test('PodDisruptionBudget', async (t) => {
  const pdb = one('PodDisruptionBudget', 'sluice', OWN_NAMESPACE)
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels)
  const min = pdb.spec.minAvailable
  t.ok(min !== undefined, 'minAvailable')
  const required = typeof min === 'number' ? min : Math.ceil(deployment.spec.replicas * parseFloat(min) / 100)
  t.ok(required >= 1 && required < deployment.spec.replicas, `keeps ${required} of ${deployment.spec.replicas}: one serves, and node drains can still evict`)
})

t.test('config-sluice: every documented key is one Sluice reads, with a valid example value', async (t) => {
  const example = parseYaml(configSluice.data._example as string) as Record<string, string>
  const keys = Object.keys(example)
  t.ok(keys.length >= 8, 'the keys are documented')
  const sources = ['control/settings/read-settings.ts', 'control/tls/default-certificate.ts', 'control/plugins/resolve.ts']
    .map((f) => readFileSync(path.join(ROOT, f), 'utf8')).join('\n')
  for (const k of keys) {
    t.ok(sources.includes(`'${k}'`) || sources.includes(`data.${k}`) || sources.includes(`'${k.toUpperCase().replaceAll('-', '_')}'`),
      `${k} is read by Sluice`)
  }
  const cm: ConfigMap = {
    apiVersion: 'v1', kind: 'ConfigMap', spec: undefined, data: example,
    metadata: { name: 'config-sluice', namespace: KNATIVE_NAMESPACE, labels: {}, annotations: {} },
  }
  t.same(readSettings([cm]).errors, [], 'the example values are valid')
  for (const k of Object.keys(configSluice.data)) t.ok(k.startsWith('_'), `only documentation is set by default (${k})`)
})

t.test('Plugin CRD', async (t) => {
  const crd = one('CustomResourceDefinition', 'plugins.sluice.dev')
  t.equal(crd.spec.group, 'sluice.dev')
  t.equal(crd.spec.scope, 'Namespaced')
  t.match(crd.spec.names, { kind: 'Plugin', plural: 'plugins', singular: 'plugin' })
  t.equal(crd.spec.versions.length, 1)
  const v = crd.spec.versions[0]
  t.match(v, { name: 'v1alpha1', served: true, storage: true })
  t.same(v.subresources, { status: {} })
  const spec = v.schema.openAPIV3Schema.properties.spec
  // The fields control/sources/validate.ts accepts in a Plugin file.
  t.same(Object.keys(spec.properties).sort(), ['config', 'plugin', 'priority'])
  t.same(spec.required, ['plugin'])
  t.equal(spec.properties.config['x-kubernetes-preserve-unknown-fields'], true, 'plugin config is free-form (each plugin validates its own)')
  // The Plugin files of the example fit the schema.
  for (const doc of parseAllDocuments(readFileSync(path.join(ROOT, 'config/examples/plugins.yaml'), 'utf8'))) {
    const p = doc.toJS() as Obj
    t.equal(p.apiVersion, `${crd.spec.group}/${v.name}`)
    t.equal(p.kind, 'Plugin')
    t.equal(typeof p.spec.plugin, 'string')
    for (const k of Object.keys(p.spec)) t.ok(k in spec.properties, `example spec.${k} is in the schema`)
  }
})

function hasKubectl(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d !== '' && existsSync(path.join(d, 'kubectl')))
}

t.test('docs/kubernetes.md has the RBAC table of API_ACCESS, row for row', async (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs/kubernetes.md'), 'utf8')
  const where: Record<ApiScope, string> = { cluster: 'all namespaces', 'own-namespace': OWN_NAMESPACE, 'knative-namespace': KNATIVE_NAMESPACE }
  const rows = doc.split('\n').filter((l) => /^\s*\| (all namespaces|sluice-system|knative-serving) \|/.test(l))
  t.equal(rows.length, API_ACCESS.length, 'one row per rule')
  for (const a of API_ACCESS) {
    const cells = `| ${where[a.scope]} | ${a.group === '' ? 'core' : a.group} | ${a.resource} | ${a.verbs.join(', ')} |`
    t.ok(rows.some((r) => r.trim().startsWith(cells)), `row ${cells}`)
  }
})

t.test('every field is one the Kubernetes API knows (no typo silently dropped by the API server)', async (t) => {
  const models: Record<string, string> = {
    Namespace: 'V1Namespace', ServiceAccount: 'V1ServiceAccount', ClusterRole: 'V1ClusterRole', ClusterRoleBinding: 'V1ClusterRoleBinding',
    Role: 'V1Role', RoleBinding: 'V1RoleBinding', ConfigMap: 'V1ConfigMap', Deployment: 'V1Deployment', Service: 'V1Service',
    PodDisruptionBudget: 'V1PodDisruptionBudget', CustomResourceDefinition: 'V1CustomResourceDefinition',
  }
  for (const o of objects) {
    const model = models[o.kind]
    t.ok(model, `${o.kind} has a model`)
    if (model === undefined) continue
    const { __file, ...written } = o
    const known = ObjectSerializer.serialize(ObjectSerializer.deserialize(written, model, ''), model, '') as Obj
    t.same(unknownFields(written, known, ''), [], `${__file}: ${o.kind} ${o.metadata.name}`)
  }
})

/** Paths present in `written` but lost in a round trip through the API model. */
function unknownFields(written: unknown, known: unknown, at: string): string[] {
  if (written === null || typeof written !== 'object') return []
  const out: string[] = []
  for (const [k, v] of Object.entries(written)) {
    const kn = (known as Obj | null)?.[k]
    if (kn === undefined) out.push(`${at}.${k}`)
    else out.push(...unknownFields(v, kn, `${at}.${k}`))
  }
  return out
}

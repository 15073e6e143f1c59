// Sluice as the cluster's KIngress implementation, end to end: the fake API server, a real
// `sluice serve --kubernetes` child, real backends. Status, probes, class filtering, updates,
// bad objects, and files next to the cluster.
import t from 'tap'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { accessDiff, EVENTING_GROUPS } from './fixtures/api-access.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import {
  CLASS, conditionOf, getIngress, kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady,
} from './fixtures/cluster.ts'

const NS = 'serving-tests'

t.test('a KIngress of our class is served, probed and marked Ready; others are untouched', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  t.teardown(() => blue.close())
  for (const o of serviceFor(NS, 'blue', [blue])) api.apply(o)
  api.apply(kingress(NS, 'hello', ['hello.example.com'], [{ service: 'blue', appendHeaders: { 'Which-Backend': 'blue' } }]))
  for (const annotations of [undefined, {}, { 'networking.knative.dev/ingress.class': 'incorrect' }, { 'networking.knative.dev/ingress.class': '' }]) {
    const name = `foreign-${annotations === undefined ? 'nil' : Object.values(annotations)[0] ?? 'empty'}`.replace(/[^a-z-]/g, '') || 'foreign'
    const o = kingress(NS, name, [`${name}.example.com`], [{ service: 'blue' }])
    o.metadata!.annotations = annotations as Record<string, string> | undefined
    if (annotations === undefined) delete o.metadata!.annotations
    api.apply(o)
  }
  // A Plugin nothing uses: still given a status (so the plugins/status grant is exercised below).
  api.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Plugin', metadata: { name: 'unused', namespace: NS }, spec: { plugin: 'headers', config: {} } })
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())

  const ready = await waitIngressReady(api, NS, 'hello')
  await waitFor(() => conditionOf(api.get('sluice.dev/v1alpha1', 'Plugin', NS, 'unused'), 'Ready')?.status === 'True', { what: 'the Plugin Ready', timeoutMs: 30_000 })
  t.match(ready['status'], {
    observedGeneration: 1,
    publicLoadBalancer: { ingress: [{ domainInternal: 'sluice.sluice-system.svc.cluster.local' }] },
    privateLoadBalancer: { ingress: [{ domainInternal: 'sluice-internal.sluice-system.svc.cluster.local' }] },
  })
  t.equal(conditionOf(ready, 'NetworkConfigured')?.status, 'True')
  t.equal(conditionOf(ready, 'LoadBalancerReady')?.status, 'True')

  const r = await request(sluice.port, 'hello.example.com', '/')
  t.equal(r.status, 200)
  t.equal(JSON.parse(r.body).headers['which-backend'], 'blue', 'the split header reached the backend')

  // headers/probe: override → the hash Knative computes; any other hash is echoed unchanged.
  const probe = await request(sluice.port, 'hello.example.com', '/healthz', { headers: { 'k-network-probe': 'probe', 'k-network-hash': 'override' } })
  t.equal(probe.status, 200)
  t.match(probe.headers['k-network-hash'], /^[0-9a-f]{64}$/)
  const random = 'a'.repeat(64)
  const echoed = await request(sluice.port, 'hello.example.com', '/healthz', { headers: { 'k-network-probe': 'probe', 'k-network-hash': random } })
  t.equal(echoed.headers['k-network-hash'], random)

  // ingressclass: the foreign ones stay exactly as written, with no status and no writes.
  for (const name of api.list('networking.internal.knative.dev/v1alpha1', 'Ingress', NS).map((o) => o.metadata!.name!).filter((n) => n.startsWith('foreign'))) {
    t.equal(getIngress(api, NS, name)?.['status'], undefined, `${name} has no status`)
    t.equal(api.statusWrites.filter((w) => w.name === name).length, 0, `${name} was never written`)
    t.equal((await request(sluice.port, `${name}.example.com`, '/')).status, 404, `${name} is not served`)
  }
  const metrics = (await sluice.admin('/metrics')).body
  t.match(metrics, /^sluice_kubernetes_leader 1$/m, 'this replica leads')
  t.match(metrics, /^sluice_kubernetes_synced\{resource="ingresses"\} 1$/m)
  t.match(metrics, /^sluice_kingress_status_writes_total\{result="ok"\} [1-9]/m)
  t.match(metrics, /^sluice_kubernetes_objects\{resource="ingresses"\} 1$/m, 'only the ingress of our class is held')
  // Least privilege: every call the code made is granted by API_ACCESS (what the manifests grant), and every
  // grant is used (the eventing ones by eventing.test.ts, which has Brokers to write).
  const access = accessDiff(api, (g) => !EVENTING_GROUPS.includes(g))
  t.same(access.ungranted, [], 'no call outside API_ACCESS')
  t.same(access.unused, [], 'no grant the code does not use')
  t.equal(api.requests.filter((q) => q.verb !== 'get' && q.verb !== 'list' && q.verb !== 'watch' && q.resource === 'ingresses' && q.subresource !== 'status').length, 0, 'nothing but status is ever written to an ingress')
})

t.test('updates are served at once; a bad object is reported on its status and breaks nothing else', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  const green = await knativeBackend('green')
  t.teardown(() => Promise.all([blue.close(), green.close()]))
  for (const o of [...serviceFor(NS, 'blue', [blue]), ...serviceFor(NS, 'green', [green])]) api.apply(o)
  api.apply(kingress(NS, 'app', ['app.example.com'], [{ service: 'blue', appendHeaders: { Sentinel: '1' } }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'app')

  const which = async (host: string) => {
    const r = await request(sluice.port, host, '/')
    return r.status === 200 ? JSON.parse(r.body) as { backend: string; headers: Record<string, string> } : { backend: `status ${r.status}`, headers: {} }
  }
  for (let i = 2; i <= 4; i++) {
    api.apply(kingress(NS, 'app', ['app.example.com'], [{ service: i % 2 === 0 ? 'green' : 'blue', appendHeaders: { Sentinel: String(i) } }]))
    await waitIngressReady(api, NS, 'app')
    const seen = await which('app.example.com')
    t.equal(seen.headers['sentinel'], String(i), `update ${i} is served by the very next request after Ready`)
  }

  // Percents summing to 90: reported on the object with its field path, the rest keeps serving.
  api.apply(kingress(NS, 'bad', ['bad.example.com'], [{ service: 'blue', percent: 50 }, { service: 'green', percent: 40 }]))
  const bad = await waitFor(() => { const o = getIngress(api, NS, 'bad'); return conditionOf(o, 'NetworkConfigured')?.status === 'False' ? o : undefined }, { what: 'the bad ingress reported', timeoutMs: 30_000 })
  t.equal(conditionOf(bad, 'NetworkConfigured')?.reason, 'ReconcileIngressFailed')
  t.match(conditionOf(bad, 'NetworkConfigured')?.message, /spec\.rules\[0\]\.http\.paths\[0\]\.splits: percents sum to 90/)
  t.equal(conditionOf(bad, 'Ready')?.status, 'False')
  t.equal((await which('app.example.com')).headers['sentinel'], '4', 'the good ingress still serves')
  t.match(sluice.logs(), /kubernetes:Ingress\/serving-tests\/bad spec\.rules\[0\]\.http\.paths\[0\]\.splits: percents sum to 90/)

  // Moving to a backend Service that does not exist yet keeps the old generation serving.
  api.apply(kingress(NS, 'app', ['app.example.com'], [{ service: 'purple', appendHeaders: { Sentinel: '5' } }]))
  await waitFor(() => conditionOf(getIngress(api, NS, 'app'), 'NetworkConfigured')?.status === 'Unknown', { what: 'app waits for purple', timeoutMs: 30_000 })
  t.equal((await which('app.example.com')).headers['sentinel'], '4', 'generation 4 keeps serving while purple has no endpoints')
  const purple = await knativeBackend('purple')
  t.teardown(() => purple.close())
  for (const o of serviceFor(NS, 'purple', [purple])) api.apply(o)
  await waitIngressReady(api, NS, 'app')
  t.equal((await which('app.example.com')).backend, 'purple')

  // Deleting the ingress stops serving it.
  api.delete('networking.internal.knative.dev/v1alpha1', 'Ingress', NS, 'app')
  await waitFor(async () => (await request(sluice.port, 'app.example.com', '/')).status === 404, { what: 'app no longer served', timeoutMs: 30_000 })
})

t.test('--config files and cluster objects land in one table; a name in both is a located error', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  t.teardown(() => blue.close())
  for (const o of serviceFor(NS, 'blue', [blue])) api.apply(o)
  api.apply(kingress(NS, 'from-cluster', ['cluster.example.com'], [{ service: 'blue' }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'from-cluster')
  sluice.write('file.yaml', `apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: from-file, namespace: ${NS}, annotations: {networking.knative.dev/ingress.class: ${CLASS}}}
spec:
  rules:
  - hosts: [file.example.com]
    http: {paths: [{splits: [{serviceNamespace: ${NS}, serviceName: blue, servicePort: 80}]}]}
`)
  await waitFor(async () => (await request(sluice.port, 'file.example.com', '/')).status === 200, { what: 'the file ingress served', timeoutMs: 30_000 })
  t.equal((await request(sluice.port, 'cluster.example.com', '/')).status, 200)
  sluice.write('clash.yaml', `apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: from-cluster, namespace: ${NS}, annotations: {networking.knative.dev/ingress.class: ${CLASS}}}
spec:
  rules:
  - hosts: [other.example.com]
    http: {paths: [{splits: [{serviceNamespace: ${NS}, serviceName: blue, servicePort: 80}]}]}
`)
  await waitFor(() => /clash\.yaml:3:\d+ metadata\.name: Ingress serving-tests\/from-cluster also exists in the Kubernetes cluster/.test(sluice.logs()), { what: 'the clash reported', timeoutMs: 30_000 })
  t.equal((await request(sluice.port, 'cluster.example.com', '/')).status, 200, 'the last good table keeps serving')
})

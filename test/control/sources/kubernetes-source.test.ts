// The Kubernetes source against the fake API server with the real client-node informers: first
// load only after every informer synced, convergence after dropped watches, compaction (410) and
// an API server that is down at start or goes away, and per-object rejection.
import t from 'tap'
import { KubeConfig } from '@kubernetes/client-node'
import { startFakeApiServer, FakeApiServer } from '../../fixtures/fake-apiserver.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { createLogger } from '../../../gateway/log.ts'
import { KubernetesSource, type ClusterLoad } from '../../../control/sources/kubernetes/kubernetes-source.ts'

const CLASS = 'sluice.ingress.networking.knative.dev'

function ingress(name: string, hosts: string[], cls: string | null = CLASS, percent = 100) {
  return {
    apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress',
    metadata: { name, namespace: 'default', ...(cls !== null ? { annotations: { 'networking.knative.dev/ingress.class': cls } } : {}) },
    spec: { rules: [{ hosts, http: { paths: [{ splits: [{ serviceNamespace: 'default', serviceName: 'svc', servicePort: 80, percent }] }] } }] },
  }
}

function source(api: FakeApiServer, loads: ClusterLoad[]): KubernetesSource {
  const kc = new KubeConfig()
  kc.loadFromFile(api.kubeconfig())
  const logs: string[] = []
  const s = new KubernetesSource({ kubeConfig: kc, log: createLogger('debug', (l) => { logs.push(l) }), backoffMs: [20, 200] })
  s.start((r) => { loads.push(r) })
  return s
}

const names = (l: ClusterLoad | undefined) => (l?.resources.ingresses ?? []).map((i) => i.metadata.name).sort()

t.test('only our class, only after every informer synced; bad objects rejected one by one', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  api.apply(ingress('ours', ['a.example.com']))
  api.apply(ingress('kourier', ['b.example.com'], 'kourier.ingress.networking.knative.dev'))
  api.apply(ingress('unset', ['c.example.com'], null))
  api.apply(ingress('bad', ['d.example.com'], CLASS, 90))
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-network', namespace: 'knative-serving' }, data: { 'ingress-class': CLASS } })
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'elsewhere', namespace: 'default' }, data: {} })
  const loads: ClusterLoad[] = []
  const s = source(api, loads)
  t.teardown(() => s.stop())
  const first = await waitFor(() => loads[0], { what: 'the first load' })
  t.ok(s.synced)
  t.same(names(first), ['ours'])
  t.same(first.resources.configMaps.map((c) => c.metadata.name), ['config-network'], 'ConfigMaps of the Knative namespace only')
  t.equal(first.rejected.length, 1)
  t.match(first.rejected[0], { kind: 'Ingress', namespace: 'default', name: 'bad', errors: [{ path: 'spec.rules[0].http.paths[0].splits', message: /percents sum to 90/ }] })
  t.equal(api.requestsFor({ verb: 'list', resource: 'ingresses' }).length, 1)
})

t.test('dropped watches, compaction and an API server that goes away: the cache converges', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  api.apply(ingress('one', ['one.example.com']))
  const loads: ClusterLoad[] = []
  const s = source(api, loads)
  t.teardown(() => s.stop())
  await waitFor(() => names(loads.at(-1)).join() === 'one', { what: 'one' })

  api.dropWatches()
  api.apply(ingress('two', ['two.example.com']))
  await waitFor(() => names(loads.at(-1)).join() === 'one,two', { what: 'two after a dropped watch' })

  // Compaction: objects deleted while the watch could not replay them vanish after the relist.
  await api.down()
  api.delete('networking.internal.knative.dev/v1alpha1', 'Ingress', 'default', 'one')
  api.apply(ingress('three', ['three.example.com']))
  api.compact()
  await api.up()
  await waitFor(() => names(loads.at(-1)).join() === 'three,two', { what: 'the relist after 410', timeoutMs: 20_000 })
})

t.test('an API server that is down at start is retried until it answers', async (t) => {
  const api = new FakeApiServer()
  await api.listen()
  const port = api.port
  await api.down()
  t.teardown(() => api.close())
  api.apply(ingress('late', ['late.example.com']))
  const loads: ClusterLoad[] = []
  const s = source(api, loads)
  t.teardown(() => s.stop())
  // No load while it is down: a partial table is never reported.
  await waitFor(() => !api.listening, { what: 'down' })
  t.equal(loads.length, 0)
  await api.up()
  t.equal(api.port, port)
  const l = await waitFor(() => loads.at(-1), { what: 'the first load once the API server is up', timeoutMs: 20_000 })
  t.same(names(l), ['late'])
})

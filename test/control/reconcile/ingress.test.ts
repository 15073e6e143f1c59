import t from 'tap'
import type { KIngress, TrafficTarget } from '../../../control/resources/types.ts'
import { find, run, service, sr } from '../fixtures.ts'

const headers = (rev: string) => ({ 'Knative-Serving-Revision': rev, 'Knative-Serving-Namespace': 'default' })
const split = (rev: string, percent = 100, port = 80) =>
  ({ serviceNamespace: 'default', serviceName: rev, servicePort: port, percent, appendHeaders: headers(rev) })

t.test('generated KIngress for a simple Service', async (t) => {
  const out = run({ services: [service('hello')] })
  const ing = find(out, 'Ingress', 'hello') as unknown as KIngress
  t.equal(ing.apiVersion, 'networking.internal.knative.dev/v1alpha1')
  t.same(ing.metadata.labels, { 'serving.knative.dev/route': 'hello', 'serving.knative.dev/routeNamespace': 'default', 'serving.knative.dev/service': 'hello' })
  t.same(ing.spec, {
    rules: [
      { hosts: ['hello.default', 'hello.default.svc', 'hello.default.svc.cluster.local'], visibility: 'ClusterLocal', http: { paths: [{ splits: [split('hello-00001')] }] } },
      { hosts: ['hello.default.localhost'], visibility: 'ExternalIP', http: { paths: [{ splits: [split('hello-00001')] }] } },
    ],
    httpOption: 'Enabled',
  })
  t.match(ing.status, {
    observedGeneration: 1,
    privateLoadBalancer: { ingress: [{ domainInternal: 'sluice-internal.sluice-system.svc.cluster.local' }] },
    publicLoadBalancer: { ingress: [{ domainInternal: 'sluice.sluice-system.svc.cluster.local' }] },
  })
  t.same(['LoadBalancerReady', 'NetworkConfigured', 'Ready'].map((c) => sr(ing, c).status), ['True', 'True', 'True'])

  t.match(out.model.ingresses[0]?.hash, /^[0-9a-f]{64}$/, 'the probe hash of the ingress served')
  t.same(out.model.ingresses.map(({ hash: _hash, ...r }) => r), [{
    namespace: 'default', name: 'hello', ownerKind: 'Route', httpOption: 'Enabled', allowTrace: false,
    rules: [
      { hosts: ['hello.default', 'hello.default.svc', 'hello.default.svc.cluster.local'], visibility: 'ClusterLocal',
        paths: [{ path: '', rewriteHost: '', headers: {}, appendHeaders: {}, splits: [{ backend: 'revision/default/hello-00001', percent: 100, appendHeaders: headers('hello-00001') }] }] },
      { hosts: ['hello.default.localhost'], visibility: 'ExternalIP',
        paths: [{ path: '', rewriteHost: '', headers: {}, appendHeaders: {}, splits: [{ backend: 'revision/default/hello-00001', percent: 100, appendHeaders: headers('hello-00001') }] }] },
    ],
  }])
  t.same(out.model.backends.get('revision/default/hello-00001'), {
    key: 'revision/default/hello-00001', namespace: 'default', service: 'hello', configuration: 'hello', revision: 'hello-00001',
    origins: ['http://127.0.0.1:9001'], protocol: 'http1', timeouts: { totalMs: 300_000, responseStartMs: 0, idleMs: 0 },
    containerConcurrency: 0, managed: false,
  })
  t.same(out.summary, { services: 1, routes: 1, ingresses: 1, hosts: ['hello.default', 'hello.default.localhost', 'hello.default.svc', 'hello.default.svc.cluster.local'] })
})

t.test('h2c port → servicePort 81 and an h2c backend', async (t) => {
  const out = run({ services: [service('grpc', { port: { name: 'h2c', containerPort: 8080 } })] })
  const ing = find(out, 'Ingress', 'grpc') as unknown as KIngress
  t.equal(ing.spec.rules[0]!.http.paths[0]!.splits[0]!.servicePort, 81)
  t.equal(out.model.backends.get('revision/default/grpc-00001')?.protocol, 'h2c')
})

t.test('httpOption from config-network or the Route annotation', async (t) => {
  const cfg = run({ services: [service('a')] }, { settings: { httpProtocol: 'Redirected' } })
  t.equal((find(cfg, 'Ingress', 'a') as unknown as KIngress).spec.httpOption, 'Redirected')
  t.equal(cfg.model.ingresses[0]!.httpOption, 'Redirected')
  const ann = run({ services: [service('a', { annotations: { 'networking.knative.dev/http-protocol': 'Redirected' } })] })
  t.equal((find(ann, 'Ingress', 'a') as unknown as KIngress).spec.httpOption, 'Redirected')
})

t.test('revision timeouts in the backend (Knative defaulting)', async (t) => {
  const out = run({
    services: [
      service('plain', { timeoutSeconds: 10 }),
      service('explicit', { timeoutSeconds: 20, responseStartTimeoutSeconds: 7, idleTimeoutSeconds: 5 }),
    ],
  }, { settings: { revisionResponseStartTimeoutSeconds: 4, revisionIdleTimeoutSeconds: 3 } })
  t.same(out.model.backends.get('revision/default/plain-00001')?.timeouts, { totalMs: 10_000, responseStartMs: 4_000, idleMs: 3_000 })
  t.same(out.model.backends.get('revision/default/explicit-00001')?.timeouts, { totalMs: 20_000, responseStartMs: 7_000, idleMs: 5_000 })
  // defaults not below the timeout are not applied
  const big = run({ services: [service('b', { timeoutSeconds: 3 })] }, { settings: { revisionResponseStartTimeoutSeconds: 4, revisionIdleTimeoutSeconds: 3 } })
  t.same(big.model.backends.get('revision/default/b-00001')?.timeouts, { totalMs: 3_000, responseStartMs: 0, idleMs: 0 })
  // above max-revision-timeout-seconds the revision fails and takes no traffic
  const tooLong = run({ services: [service('c', { timeoutSeconds: 900 })] })
  t.same(sr(find(tooLong, 'Revision', 'c-00001'), 'Ready'), { status: 'False', reason: 'InvalidTimeout' })
})

t.test('tag header based routing', async (t) => {
  const traffic: TrafficTarget[] = [
    { latestRevision: false, revisionName: 'hello-00001', percent: 100 },
    { tag: 'beta', latestRevision: true, percent: 0 },
  ]
  const first = run({ services: [service('hello', { env: '1' })] })
  const out = run({ services: [service('hello', { env: '2', traffic })] }, { state: first.state, settings: { tagHeaderBasedRouting: true } })
  const ing = find(out, 'Ingress', 'hello') as unknown as KIngress
  const defaultPaths = [
    { headers: { 'Knative-Serving-Tag': { exact: 'beta' } }, splits: [split('hello-00002')] },
    { splits: [split('hello-00001')], appendHeaders: { 'Knative-Serving-Default-Route': 'true' } },
  ]
  const tagPaths = [{ splits: [split('hello-00002')], appendHeaders: { 'Knative-Serving-Tag': 'beta' } }]
  t.same(ing.spec.rules.map((r) => r.http.paths), [defaultPaths, defaultPaths, tagPaths, tagPaths])
  const m = out.model.ingresses[0]!
  t.same(m.rules[1]!.paths.map((p) => [p.headers, p.appendHeaders, p.splits.map((s) => s.backend)]), [
    [{ 'Knative-Serving-Tag': 'beta' }, {}, ['revision/default/hello-00002']],
    [{}, { 'Knative-Serving-Default-Route': 'true' }, ['revision/default/hello-00001']],
  ])
  // disabled (the default): no header paths
  const off = run({ services: [service('hello', { env: '2', traffic })] }, { state: first.state })
  t.same((find(off, 'Ingress', 'hello') as unknown as KIngress).spec.rules.map((r) => r.http.paths.length), [1, 1, 1, 1])
})

t.test('output is deterministic and the input is not mutated', async (t) => {
  const input = [service('b'), service('a', { traffic: [{ latestRevision: true, percent: 100 }, { tag: 'x', latestRevision: true, percent: 0 }] })]
  const before = JSON.stringify(input)
  const one = run({ services: input })
  const two = run({ services: [...input].reverse() })
  t.equal(JSON.stringify(input), before)
  t.same(one.objects.map((o) => `${o.kind}/${o.metadata.name}`), [
    'Service/a', 'Service/b', 'Configuration/a', 'Configuration/b', 'Revision/a-00001', 'Revision/b-00001',
    'Route/a', 'Route/b', 'Ingress/a', 'Ingress/b',
  ])
  t.same(JSON.stringify(one.objects), JSON.stringify(two.objects))
  t.same([...one.model.backends.keys()], ['revision/default/a-00001', 'revision/default/b-00001'])
  t.same(one.model.ingresses.map((i) => i.name), ['a', 'b'])
})

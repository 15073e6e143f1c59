import t from 'tap'
import type { KIngress, TrafficTarget } from '../../../control/resources/types.ts'
import type { ReconcileOutput } from '../../../control/reconcile/index.ts'
import { cond, find, revision, route, run, service, sr } from '../fixtures.ts'

/** Two generations of `hello`: hello-00001 and hello-00002, both ready. */
function twoRevisions(traffic?: TrafficTarget[]): ReconcileOutput {
  const first = run({ services: [service('hello', { env: 'v1' })] })
  return run({ services: [service('hello', { env: 'v2', traffic })] }, { state: first.state })
}

const ingressOf = (out: ReconcileOutput, name = 'hello') => find(out, 'Ingress', name) as unknown as KIngress
/** splits of the first path of the rule serving `host` */
function splitsFor(out: ReconcileOutput, host: string, name = 'hello') {
  const rule = ingressOf(out, name).spec.rules.find((r) => r.hosts?.includes(host))
  if (rule === undefined) return undefined
  return rule.http.paths.at(-1)!.splits.map((s) => [s.serviceName, s.percent])
}

t.test('ready Route conditions and addresses', async (t) => {
  const out = run({ services: [service('hello')] })
  const r = find(out, 'Route', 'hello')
  t.same(r.status.conditions, [
    { type: 'AllTrafficAssigned', status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' },
    { type: 'CertificateProvisioned', status: 'True', reason: 'TLSNotEnabled', message: 'external-domain-tls is not enabled', lastTransitionTime: '2026-03-01T12:00:00Z' },
    { type: 'IngressReady', status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' },
    { type: 'Ready', status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' },
  ])
  t.equal(r.status.url, 'http://hello.default.localhost')
  t.same(r.status.address, { url: 'http://hello.default.svc.cluster.local' })
  t.same(r.status.traffic, [{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }])
  t.match(r.metadata.labels, { 'serving.knative.dev/service': 'hello' })
  const s = find(out, 'Service', 'hello')
  t.match(s.status, { url: 'http://hello.default.localhost', address: { url: 'http://hello.default.svc.cluster.local' }, latestReadyRevisionName: 'hello-00001' })
  t.same(['ConfigurationsReady', 'Ready', 'RoutesReady'].map((c) => sr(s, c).status), ['True', 'True', 'True'])
})

t.test('flattening: same-revision entries are summed', async (t) => {
  const out = twoRevisions([
    { revisionName: 'hello-00001', latestRevision: false, percent: 30 },
    { revisionName: 'hello-00001', latestRevision: false, percent: 20 },
    { latestRevision: true, percent: 50 },
  ])
  t.same(find(out, 'Route', 'hello').status.traffic, [
    { revisionName: 'hello-00001', latestRevision: false, percent: 50 },
    { revisionName: 'hello-00002', latestRevision: true, percent: 50 },
  ])
  t.same(splitsFor(out, 'hello.default.localhost'), [['hello-00001', 50], ['hello-00002', 50]])
  // a pinned revision and latestRevision pointing at the same revision: one split of 100
  const merged = twoRevisions([
    { revisionName: 'hello-00002', latestRevision: false, percent: 40 },
    { latestRevision: true, percent: 60 },
  ])
  t.same(splitsFor(merged, 'hello.default.localhost'), [['hello-00002', 100]])
  t.equal((find(merged, 'Route', 'hello').status.traffic as unknown[]).length, 2, 'status keeps both entries (latestRevision differs)')
})

t.test('flattening: tags get their own host at 100%, even at 0%; 0% left out of the default host', async (t) => {
  const out = twoRevisions([
    { revisionName: 'hello-00001', latestRevision: false, percent: 100 },
    { tag: 'canary', latestRevision: true, percent: 0 },
  ])
  t.same(splitsFor(out, 'hello.default.localhost'), [['hello-00001', 100]])
  t.same(splitsFor(out, 'canary-hello.default.localhost'), [['hello-00002', 100]])
  t.same(splitsFor(out, 'canary-hello.default.svc.cluster.local'), [['hello-00002', 100]])
  t.same(find(out, 'Route', 'hello').status.traffic, [
    { revisionName: 'hello-00001', latestRevision: false, percent: 100 },
    { tag: 'canary', revisionName: 'hello-00002', latestRevision: true, percent: 0, url: 'http://canary-hello.default.localhost' },
  ])
  const m = out.model.ingresses[0]!
  t.ok(m.rules.some((r) => r.hosts.includes('canary-hello.default.localhost') && r.visibility === 'ExternalIP'))
})

t.test('conformance release shapes: current/candidate/latest', async (t) => {
  const shape = (current: number, candidate: number): TrafficTarget[] => [
    { tag: 'current', revisionName: 'hello-00001', latestRevision: false, percent: current },
    { tag: 'candidate', revisionName: 'hello-00002', latestRevision: false, percent: candidate },
    { tag: 'latest', latestRevision: true, percent: 0 },
  ]
  const url = (tag: string) => `http://${tag}-hello.default.localhost`
  const a = twoRevisions(shape(100, 0))
  t.same(find(a, 'Service', 'hello').status.traffic, [
    { tag: 'current', revisionName: 'hello-00001', latestRevision: false, percent: 100, url: url('current') },
    { tag: 'candidate', revisionName: 'hello-00002', latestRevision: false, percent: 0, url: url('candidate') },
    { tag: 'latest', revisionName: 'hello-00002', latestRevision: true, percent: 0, url: url('latest') },
  ])
  t.same(splitsFor(a, 'hello.default.localhost'), [['hello-00001', 100]])
  for (const [tag, rev] of [['current', 'hello-00001'], ['candidate', 'hello-00002'], ['latest', 'hello-00002']]) {
    t.same(splitsFor(a, `${tag}-hello.default.localhost`), [[rev, 100]], `${tag} host serves ${rev}`)
  }
  // 1 default + 3 tags, each ClusterLocal + ExternalIP; default first, then tags sorted
  t.same(ingressOf(a).spec.rules.map((r) => [r.visibility, r.hosts![0]]), [
    ['ClusterLocal', 'hello.default'], ['ExternalIP', 'hello.default.localhost'],
    ['ClusterLocal', 'candidate-hello.default'], ['ExternalIP', 'candidate-hello.default.localhost'],
    ['ClusterLocal', 'current-hello.default'], ['ExternalIP', 'current-hello.default.localhost'],
    ['ClusterLocal', 'latest-hello.default'], ['ExternalIP', 'latest-hello.default.localhost'],
  ])

  const b = twoRevisions(shape(50, 50))
  t.same(splitsFor(b, 'hello.default.localhost'), [['hello-00001', 50], ['hello-00002', 50]])
  t.same((find(b, 'Route', 'hello').status.traffic as TrafficTarget[]).map((x) => x.percent), [50, 50, 0])

  // the 0% latest tag follows the newest ready revision
  const c = run({ services: [service('hello', { env: 'v3', traffic: shape(50, 50) })] }, { state: b.state })
  t.same(splitsFor(c, 'latest-hello.default.localhost'), [['hello-00003', 100]])
  t.same(splitsFor(c, 'hello.default.localhost'), [['hello-00001', 50], ['hello-00002', 50]])
})

t.test('missing and unready targets', async (t) => {
  const base = run({ services: [service('hello')] })
  const missingCfg = run({ services: [service('hello')], routes: [route('r', [{ configurationName: 'nope', latestRevision: true, percent: 100 }])] }, { state: base.state })
  const r1 = find(missingCfg, 'Route', 'r')
  t.same(sr(r1, 'AllTrafficAssigned'), { status: 'False', reason: 'ConfigurationMissing' })
  t.equal(cond(r1, 'AllTrafficAssigned')?.message, 'Configuration "nope" referenced in traffic not found.')
  t.same(sr(r1, 'Ready'), { status: 'False', reason: 'ConfigurationMissing' })
  t.same(sr(r1, 'IngressReady'), { status: 'Unknown', reason: 'IngressNotConfigured' })
  t.notOk(missingCfg.objects.some((o) => o.kind === 'Ingress' && o.metadata.name === 'r'))
  t.equal(r1.status.url, 'http://r.default.localhost', 'url is known even when traffic is not')

  const missingRev = run({ routes: [route('r', [{ revisionName: 'ghost-00001', latestRevision: false, percent: 100 }])] })
  t.same(sr(find(missingRev, 'Route', 'r'), 'AllTrafficAssigned'), { status: 'False', reason: 'RevisionMissing' })

  const unready = run({
    routes: [route('r', [{ revisionName: 'solo', latestRevision: false, percent: 100 }])],
    revisions: [revision('solo', { upstream: null, command: ['./run'] })],
  })
  t.same(sr(find(unready, 'Route', 'r'), 'AllTrafficAssigned'), { status: 'Unknown', reason: 'RevisionMissing' })
  t.equal(cond(find(unready, 'Route', 'r'), 'AllTrafficAssigned')?.message, 'Revision "solo" is not yet ready.')
  // Knative's deferTargetError: a later failure overrides an earlier error; a later not-ready does not
  const laterFailure = run({
    routes: [route('r', [{ revisionName: 'solo', latestRevision: false, percent: 60 }, { configurationName: 'gone', latestRevision: true, percent: 40 }])],
    revisions: [revision('solo', { upstream: null, command: ['./run'] })],
  })
  t.same(sr(find(laterFailure, 'Route', 'r'), 'AllTrafficAssigned'), { status: 'False', reason: 'ConfigurationMissing' })
  const laterUnready = run({
    routes: [route('r', [{ revisionName: 'solo', latestRevision: false, percent: 60 }, { revisionName: 'wait', latestRevision: false, percent: 40 }])],
    revisions: [revision('solo', { upstream: null }), revision('wait', { upstream: null, command: ['./run'] })],
  })
  t.same(sr(find(laterUnready, 'Route', 'r'), 'AllTrafficAssigned'), { status: 'False', reason: 'RevisionMissing' })
  t.equal(cond(find(laterUnready, 'Route', 'r'), 'AllTrafficAssigned')?.message, 'Revision "solo" failed to become ready.')

  // a revision labelled for a configuration that does not exist
  const orphan = run({
    routes: [route('r', [{ revisionName: 'x-1', latestRevision: false, percent: 100 }])],
    revisions: [revision('x-1', { labels: { 'serving.knative.dev/configuration': 'x' } })],
  })
  t.same(sr(find(orphan, 'Route', 'r'), 'AllTrafficAssigned'), { status: 'False', reason: 'ConfigurationMissing' })
})

t.test('a standalone Route over declared revisions', async (t) => {
  const out = run({
    routes: [route('blue-green', [
      { revisionName: 'blue', latestRevision: false, percent: 50 },
      { revisionName: 'green', latestRevision: false, percent: 50, tag: 'green' },
    ])],
    revisions: [revision('blue', { upstream: 'http://10.0.0.1:8080' }), revision('green', { upstream: 'http://10.0.0.2:8080,http://10.0.0.3:8080' })],
  })
  t.same(sr(find(out, 'Route', 'blue-green'), 'Ready'), { status: 'True', reason: undefined })
  t.same(splitsFor(out, 'blue-green.default.localhost', 'blue-green'), [['blue', 50], ['green', 50]])
  t.same(splitsFor(out, 'green-blue-green.default.localhost', 'blue-green'), [['green', 100]])
  t.same(out.model.backends.get('revision/default/green')?.origins, ['http://10.0.0.2:8080', 'http://10.0.0.3:8080'])
  t.equal(out.summary.routes, 1)
})

t.test('a user KIngress with the Route name: NotOwned', async (t) => {
  const ing = { apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress', metadata: { name: 'hello', namespace: 'default', labels: {}, annotations: {} },
    spec: { rules: [{ hosts: ['x.example.com'], visibility: 'ExternalIP' as const, http: { paths: [{ splits: [{ serviceNamespace: 'default', serviceName: 'svc', servicePort: 80 }] }] } }] } }
  const out = run({ services: [service('hello')], ingresses: [ing] })
  t.same(sr(find(out, 'Route', 'hello'), 'IngressReady'), { status: 'False', reason: 'NotOwned' })
  t.equal(out.objects.filter((o) => o.kind === 'Ingress').length, 1)
})

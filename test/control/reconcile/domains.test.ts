import t from 'tap'
import type { KIngress, TrafficTarget } from '../../../control/resources/types.ts'
import type { DomainRule } from '../../../control/settings/types.ts'
import { expandedHosts, lookupDomain } from '../../../control/reconcile/domains.ts'
import { cond, find, route, run, service, settings, sr } from '../fixtures.ts'

const tagged: TrafficTarget[] = [{ latestRevision: true, percent: 100 }, { tag: 'canary', latestRevision: true, percent: 0 }]

t.test('default domain is localhost', async (t) => {
  const out = run({ services: [service('hello', { traffic: tagged })] })
  const r = find(out, 'Route', 'hello')
  t.equal(r.status.url, 'http://hello.default.localhost')
  t.equal((r.status.traffic as TrafficTarget[])[1]!.url, 'http://canary-hello.default.localhost')
  t.same(out.summary.hosts, [
    'canary-hello.default', 'canary-hello.default.localhost', 'canary-hello.default.svc', 'canary-hello.default.svc.cluster.local',
    'hello.default', 'hello.default.localhost', 'hello.default.svc', 'hello.default.svc.cluster.local',
  ])
})

t.test('config-domain selectors: most specific wins, lexical order breaks ties', async (t) => {
  const domains: DomainRule[] = [
    { domain: 'example.com', selector: {} },
    { domain: 'prod.example.com', selector: { app: 'prod' } },
    { domain: 'b.dev', selector: { app: 'prod', tier: 'web' } },
    { domain: 'a.dev', selector: { app: 'prod', tier: 'web' } },
  ]
  const s = settings({ domains })
  t.equal(lookupDomain({}, s), 'example.com')
  t.equal(lookupDomain({ app: 'prod' }, s), 'prod.example.com')
  t.equal(lookupDomain({ app: 'prod', tier: 'web' }, s), 'a.dev')
  t.equal(lookupDomain({ app: 'dev', tier: 'web' }, s), 'example.com')
  t.equal(lookupDomain({ 'networking.knative.dev/visibility': 'cluster-local' }, s), 'svc.cluster.local')

  const out = run({
    services: [service('plain'), service('p', { labels: { app: 'prod' } }), service('w', { labels: { app: 'prod', tier: 'web' } })],
  }, { settings: { domains } })
  t.equal(find(out, 'Route', 'plain').status.url, 'http://plain.default.example.com')
  t.equal(find(out, 'Route', 'p').status.url, 'http://p.default.prod.example.com')
  t.equal(find(out, 'Service', 'w').status.url, 'http://w.default.a.dev')
})

t.test('custom domain-template and tag-template', async (t) => {
  const out = run({ services: [service('hello', { ns: 'team', traffic: tagged, annotations: { owner: 'ops' } })] }, {
    settings: {
      domains: [{ domain: 'example.com', selector: {} }],
      domainTemplate: '{{.Name}}-{{.Namespace}}.{{index .Annotations "owner"}}.{{.Domain}}',
      tagTemplate: '{{.Name}}-{{.Tag}}',
      defaultExternalScheme: 'https',
    },
  })
  const r = find(out, 'Route', 'hello', 'team')
  t.equal(r.status.url, 'https://hello-team.ops.example.com')
  t.equal((r.status.traffic as TrafficTarget[])[1]!.url, 'https://hello-canary-team.ops.example.com')
  t.same(r.status.address, { url: 'http://hello.team.svc.cluster.local' })
  const ing = find(out, 'Ingress', 'hello', 'team') as unknown as KIngress
  t.same(ing.spec.rules.map((x) => x.hosts), [
    ['hello.team', 'hello.team.svc', 'hello.team.svc.cluster.local'],
    ['hello-team.ops.example.com'],
    ['hello-canary.team', 'hello-canary.team.svc', 'hello-canary.team.svc.cluster.local'],
    ['hello-canary-team.ops.example.com'],
  ])
})

t.test('a template that cannot produce a host fails the Route, not the reconcile', async (t) => {
  const out = run({ services: [service('hello')] }, { settings: { domainTemplate: '{{.Name}}.{{.Labels.team}}.{{.Domain}}' } })
  const r = find(out, 'Route', 'hello')
  t.same(sr(r, 'IngressReady'), { status: 'False', reason: 'InvalidDomain' })
  t.match(cond(r, 'IngressReady')?.message, /label "team"/)
  t.same(out.model.ingresses, [])
  const ok = run({ services: [service('hello', { labels: { team: 'blue' } })] }, { settings: { domainTemplate: '{{.Name}}.{{.Labels.team}}.{{.Domain}}' } })
  t.equal(find(ok, 'Route', 'hello').status.url, 'http://hello.blue.localhost')
})

t.test('cluster-local visibility', async (t) => {
  const label = { 'networking.knative.dev/visibility': 'cluster-local' }
  for (const [what, out] of [
    ['Service label', run({ services: [service('hello', { labels: label, traffic: tagged })] }, { settings: { defaultExternalScheme: 'https' } })],
    ['Route label', run({
      services: [service('hello')],
      routes: [route('hello-local', [{ configurationName: 'hello', latestRevision: true, percent: 100 }, { tag: 'canary', configurationName: 'hello', latestRevision: true, percent: 0 }], { labels: label })],
    })],
    ['cluster domain from config-domain', run({ services: [service('hello', { labels: { app: 'secret' }, traffic: tagged })] }, {
      settings: { domains: [{ domain: 'localhost', selector: {} }, { domain: 'svc.cluster.local', selector: { app: 'secret' } }] },
    })],
  ] as const) {
    const name = what === 'Route label' ? 'hello-local' : 'hello'
    const r = find(out, 'Route', name)
    t.equal(r.status.url, `http://${name}.default.svc.cluster.local`, `${what}: url`)
    t.equal((r.status.traffic as TrafficTarget[])[1]!.url, `http://canary-${name}.default.svc.cluster.local`, `${what}: tag url`)
    const ing = find(out, 'Ingress', name) as unknown as KIngress
    t.same(ing.spec.rules.map((x) => x.visibility), ['ClusterLocal', 'ClusterLocal'], `${what}: only ClusterLocal rules`)
    t.ok(out.model.ingresses.find((i) => i.name === name)!.rules.every((x) => x.visibility === 'ClusterLocal'))
  }
})

t.test('ExpandedHosts', async (t) => {
  t.same(expandedHosts('a.b.svc.cluster.local', 'cluster.local'), ['a.b', 'a.b.svc', 'a.b.svc.cluster.local'])
  t.same(expandedHosts('a.b.example.com', 'cluster.local'), ['a.b.example.com'])
})

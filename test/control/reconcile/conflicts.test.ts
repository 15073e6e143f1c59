import t from 'tap'
import type { KIngress } from '../../../control/resources/types.ts'
import { resolveConflicts } from '../../../control/reconcile/conflicts.ts'
import { cond, coreService, endpointSlice, find, kingress, run, service, sr, src } from '../fixtures.ts'

const backend = {
  coreServices: [coreService('backend', { ports: [{ port: 80 }] })],
  endpointSlices: [endpointSlice('b', 'backend', [{ port: 80 }], [{ addresses: ['10.0.0.1'] }])],
}

function ing(name: string, hosts: string[], o: Parameters<typeof kingress>[2] = {}): KIngress {
  return kingress(name, {
    rules: [{ hosts, visibility: 'ExternalIP', http: { paths: [{ splits: [{ serviceNamespace: 'default', serviceName: 'backend', servicePort: 80 }] }] } }],
  }, o)
}

t.test('two KIngress objects with one host: the later declaration loses', async (t) => {
  const out = run({
    ...backend,
    ingresses: [ing('second', ['x.example.com'], { source: src('b.yaml', 0) }), ing('first', ['x.example.com', 'y.example.com'], { source: src('a.yaml', 1) })],
  })
  t.same(out.model.ingresses.map((i) => i.name), ['first'])
  const lost = find(out, 'Ingress', 'second')
  t.same(sr(lost, 'LoadBalancerReady'), { status: 'False', reason: 'DomainConflict' })
  t.same(sr(lost, 'Ready'), { status: 'False', reason: 'DomainConflict' })
  t.match(cond(lost, 'LoadBalancerReady')?.message, /"x\.example\.com".*Ingress default\/first/)
  t.notOk('publicLoadBalancer' in lost.status)
  t.same(sr(find(out, 'Ingress', 'first'), 'Ready').status, 'True')
  t.same(out.summary.hosts, ['x.example.com', 'y.example.com'])
})

t.test('same file: document order decides; hosts compare case-insensitively', async (t) => {
  const out = run({ ...backend, ingresses: [ing('late', ['X.example.com'], { source: src('a.yaml', 3) }), ing('early', ['x.example.com'], { source: src('a.yaml', 2) })] })
  t.same(out.model.ingresses.map((i) => i.name), ['early'])
})

t.test('creationTimestamp wins over declaration order when both have one', async (t) => {
  const out = run({
    ...backend,
    ingresses: [
      ing('old', ['x.example.com'], { source: src('z.yaml'), creationTimestamp: '2025-01-01T00:00:00Z' }),
      ing('new', ['x.example.com'], { source: src('a.yaml'), creationTimestamp: '2025-06-01T00:00:00Z' }),
    ],
  })
  t.same(out.model.ingresses.map((i) => i.name), ['old'])
  t.same(sr(find(out, 'Ingress', 'new'), 'LoadBalancerReady').reason, 'DomainConflict')
})

t.test('a Route and a KIngress: the generated ingress is positioned at its Service', async (t) => {
  const svcFirst = run({
    ...backend,
    services: [service('hello', { source: src('10-hello.yaml') })],
    ingresses: [ing('squatter', ['hello.default.localhost'], { source: src('20-ingress.yaml') })],
  })
  t.same(svcFirst.model.ingresses.map((i) => `${i.ownerKind}/${i.name}`), ['Route/hello'])
  t.same(sr(find(svcFirst, 'Ingress', 'squatter'), 'LoadBalancerReady').reason, 'DomainConflict')

  const ingFirst = run({
    ...backend,
    services: [service('hello', { source: src('20-hello.yaml') })],
    ingresses: [ing('squatter', ['hello.default.localhost'], { source: src('10-ingress.yaml') })],
  })
  t.same(ingFirst.model.ingresses.map((i) => `${i.ownerKind}/${i.name}`), ['Ingress/squatter'])
  const r = find(ingFirst, 'Route', 'hello')
  t.same(sr(r, 'IngressReady'), { status: 'False', reason: 'DomainConflict' })
  t.same(sr(r, 'Ready'), { status: 'False', reason: 'DomainConflict' })
  t.same(sr(find(ingFirst, 'Service', 'hello'), 'RoutesReady'), { status: 'False', reason: 'DomainConflict' })
  t.same(sr(find(ingFirst, 'Ingress', 'hello'), 'LoadBalancerReady'), { status: 'False', reason: 'DomainConflict' })
})

t.test('two Services whose custom domain template collides', async (t) => {
  const out = run({
    services: [service('hello', { ns: 'b', source: src('b.yaml') }), service('hello', { ns: 'a', source: src('a.yaml') })],
  }, { settings: { domainTemplate: '{{.Name}}.{{.Domain}}' } })
  t.same(out.model.ingresses.map((i) => i.namespace), ['a'])
  t.same(sr(find(out, 'Route', 'hello', 'b'), 'IngressReady').reason, 'DomainConflict')
})

t.test('resolveConflicts: a loser claims none of its hosts', async (t) => {
  const r = resolveConflicts([
    { id: 'A', hosts: ['x'], order: { index: 0 } },
    { id: 'B', hosts: ['x', 'y'], order: { index: 1 } },
    { id: 'C', hosts: ['y'], order: { index: 2 } },
    { id: 'D', hosts: ['*'], order: { index: 3 } },
    { id: 'E', hosts: ['*'], order: { index: 4 } },
  ])
  t.same([...r.served].sort(), ['A', 'C', 'D'])
  t.same(r.lost.get('B'), { host: 'x', winner: 'A' })
  t.same(r.lost.get('E'), { host: '*', winner: 'D' })
})

import t from 'tap'
import type { IngressSplit, KIngress } from '../../../control/resources/types.ts'
import { coreService, endpointSlice, endpoints, find, kingress, revision, run, sr } from '../fixtures.ts'

function simple(name: string, splits: Partial<IngressSplit>[], host = `${name}.example.com`): KIngress {
  return kingress(name, {
    rules: [{
      hosts: [host], visibility: 'ExternalIP',
      http: { paths: [{ splits: splits.map((s) => ({ serviceNamespace: 'default', serviceName: 'backend', servicePort: 80, ...s })) }] },
    }],
  })
}

t.test('Service + EndpointSlices: ready addresses at the targetPort', async (t) => {
  const out = run({
    ingresses: [simple('web', [{ serviceName: 'backend', servicePort: 80 }])],
    coreServices: [coreService('backend', { ports: [{ name: 'http', port: 80, targetPort: 8080 }] })],
    endpointSlices: [
      endpointSlice('backend-abc', 'backend', [{ name: 'http', port: 8080 }], [
        { addresses: ['10.0.0.2'], conditions: { ready: true } },
        { addresses: ['10.0.0.1'] },
        { addresses: ['10.0.0.9'], conditions: { ready: false } },
      ]),
      endpointSlice('backend-v6', 'backend', [{ name: 'http', port: 8080 }], [{ addresses: ['fd00::1'] }], { addressType: 'IPv6' }),
      endpointSlice('other', 'other', [{ name: 'http', port: 1 }], [{ addresses: ['10.9.9.9'] }]),
    ],
  })
  t.same(out.model.backends.get('service/default/backend/80'), {
    key: 'service/default/backend/80', namespace: 'default', service: 'backend', revision: 'backend',
    origins: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://[fd00::1]:8080'],
    protocol: 'http1', timeouts: { totalMs: 0, responseStartMs: 0, idleMs: 0 }, containerConcurrency: 0, managed: false,
  })
  t.match(out.model.ingresses[0]?.hash, /^[0-9a-f]{64}$/, 'the probe hash of the ingress served')
  t.same(out.model.ingresses.map(({ hash: _hash, ...r }) => r), [{
    namespace: 'default', name: 'web', ownerKind: 'Ingress', httpOption: 'Enabled', allowTrace: false,
    rules: [{ hosts: ['web.example.com'], visibility: 'ExternalIP',
      paths: [{ path: '', rewriteHost: '', headers: {}, appendHeaders: {}, splits: [{ backend: 'service/default/backend/80', percent: 100, appendHeaders: {} }] }] }],
  }])
  t.same(sr(find(out, 'Ingress', 'web'), 'Ready'), { status: 'True', reason: undefined })
})

t.test('named servicePort and named targetPort resolve through the endpoint port name', async (t) => {
  const out = run({
    ingresses: [simple('web', [{ servicePort: 'web' }])],
    coreServices: [coreService('backend', { ports: [{ name: 'metrics', port: 9090 }, { name: 'web', port: 81, targetPort: 'http-app' }] })],
    endpointSlices: [endpointSlice('backend-1', 'backend', [{ name: 'metrics', port: 9090 }, { name: 'web', port: 3000 }], [{ addresses: ['10.1.0.1'] }])],
  })
  t.same(out.model.backends.get('service/default/backend/web')?.origins, ['http://10.1.0.1:3000'])
})

t.test('legacy Endpoints when there are no EndpointSlices', async (t) => {
  const out = run({
    ingresses: [simple('web', [{ servicePort: 80 }])],
    coreServices: [coreService('backend', { ports: [{ port: 80, targetPort: 8081 }] })],
    endpoints: [endpoints('backend', [{ addresses: [{ ip: '192.168.1.5' }], notReadyAddresses: [{ ip: '192.168.1.6' }], ports: [{ port: 8081 }] }])],
  })
  t.same(out.model.backends.get('service/default/backend/80')?.origins, ['http://192.168.1.5:8081'])
})

t.test('ExternalName services', async (t) => {
  const out = run({
    ingresses: [simple('web', [{ servicePort: 8080 }])],
    coreServices: [coreService('backend', { type: 'ExternalName', externalName: 'api.internal.example', ports: [{ name: 'http', port: 8080 }] })],
  })
  t.same(out.model.backends.get('service/default/backend/8080')?.origins, ['http://api.internal.example:8080'])
})

t.test('h2c detection: port named h2c or http2, or appProtocol kubernetes.io/h2c', async (t) => {
  for (const port of [{ name: 'h2c', port: 80 }, { name: 'http2', port: 80 }, { name: 'grpc', port: 80, appProtocol: 'kubernetes.io/h2c' }, { name: 'http', port: 80 }]) {
    const out = run({
      ingresses: [simple('web', [{ servicePort: 80 }])],
      coreServices: [coreService('backend', { ports: [{ ...port, targetPort: 9000 }] })],
      endpointSlices: [endpointSlice('b', 'backend', [{ name: port.name, port: 9000 }], [{ addresses: ['10.0.0.1'] }])],
    })
    t.equal(out.model.backends.get('service/default/backend/80')?.protocol, port.name === 'http' ? 'http1' : 'h2c', JSON.stringify(port))
  }
})

t.test('paths, headers, percents and defaults are carried over', async (t) => {
  const ing = kingress('multi', {
    httpOption: 'Redirected',
    rules: [
      { hosts: ['A.Example.COM'], visibility: 'ExternalIP', http: { paths: [
        { path: '/foo', headers: { 'X-Which': { exact: 'one' } }, appendHeaders: { 'Foo-Bar': 'baz' },
          splits: [{ serviceNamespace: 'default', serviceName: 'backend', servicePort: 80, percent: 70, appendHeaders: { 'Which-Backend': 'a' } },
            { serviceNamespace: 'default', serviceName: 'backend', servicePort: 80, percent: 30 }] },
        { splits: [{ serviceNamespace: 'default', serviceName: 'backend', servicePort: 80 }], rewriteHost: 'inner.default.svc.cluster.local' },
      ] } },
      { http: { paths: [{ splits: [{ serviceNamespace: 'default', serviceName: 'backend', servicePort: 80 }] }] } },
    ],
  })
  const out = run({
    ingresses: [ing],
    coreServices: [coreService('backend', { ports: [{ port: 80 }] })],
    endpointSlices: [endpointSlice('b', 'backend', [{ port: 80 }], [{ addresses: ['10.0.0.1'] }])],
  })
  const m = out.model.ingresses[0]!
  t.equal(m.httpOption, 'Redirected')
  t.same(m.rules.map((r) => [r.hosts, r.visibility]), [[['a.example.com'], 'ExternalIP'], [['*'], 'ExternalIP']])
  t.same(m.rules[0]!.paths[0], {
    path: '/foo', rewriteHost: '', headers: { 'X-Which': 'one' }, appendHeaders: { 'Foo-Bar': 'baz' },
    splits: [
      { backend: 'service/default/backend/80', percent: 70, appendHeaders: { 'Which-Backend': 'a' } },
      { backend: 'service/default/backend/80', percent: 30, appendHeaders: {} },
    ],
  })
  t.equal(m.rules[0]!.paths[1]!.rewriteHost, 'inner.default.svc.cluster.local')
  t.equal(m.rules[0]!.paths[1]!.splits[0]!.percent, 100)
})

t.test('missing Service or endpoints: served, with 503 backends, and the Ingress says why', async (t) => {
  const out = run({ ingresses: [simple('web', [{ serviceName: 'nowhere' }])] })
  t.same(out.model.backends.get('service/default/nowhere/80')?.origins, [])
  t.equal(out.model.ingresses.length, 1)
  const ing = find(out, 'Ingress', 'web')
  t.same(sr(ing, 'NetworkConfigured'), { status: 'Unknown', reason: 'EndpointsNotReady' })
  t.same(sr(ing, 'LoadBalancerReady'), { status: 'True', reason: undefined })
  const noEps = run({ ingresses: [simple('web', [{}])], coreServices: [coreService('backend', { ports: [{ port: 80 }] })] })
  t.match((find(noEps, 'Ingress', 'web').status.conditions as { message?: string }[]).find((c) => c.message)?.message, /no EndpointSlices or Endpoints/)
  const wrongPort = run({ ingresses: [simple('web', [{ servicePort: 81 }])], coreServices: [coreService('backend', { ports: [{ port: 80 }] })] })
  t.match(JSON.stringify(find(wrongPort, 'Ingress', 'web').status), /has no port 81/)
})

t.test('a split naming a Revision (no Service of that name) reaches the revision', async (t) => {
  const out = run({
    ingresses: [simple('web', [{ serviceName: 'rev-a', servicePort: 80 }])],
    revisions: [revision('rev-a', { upstream: 'http://10.2.0.1:8080', timeoutSeconds: 30 })],
  })
  t.same(out.model.backends.get('revision/default/rev-a'), {
    key: 'revision/default/rev-a', namespace: 'default', service: '', configuration: '', revision: 'rev-a',
    origins: ['http://10.2.0.1:8080'], protocol: 'http1', timeouts: { totalMs: 30_000, responseStartMs: 0, idleMs: 0 },
    containerConcurrency: 0, managed: false,
  })
})

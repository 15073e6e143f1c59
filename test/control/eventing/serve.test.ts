// `sluice serve --config DIR` with a Broker and Triggers: statuses in /debug/resources, the compiled
// brokers in /debug/eventing, an edit applied, and a bad Trigger reported with its location.
import t from 'tap'
import { eventually, startSluice } from '../../fixtures/sluice.ts'

const files = {
  'eventing.yaml': [
    'apiVersion: eventing.knative.dev/v1', 'kind: Broker', 'metadata:', '  name: default', 'spec:', '  delivery:', '    retry: 3',
    '    backoffPolicy: linear', '    backoffDelay: PT0.1S', '---',
    'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', '  name: sink', 'spec:', '  template:', '    metadata:',
    '      annotations: {sluice.dev/upstream: "http://127.0.0.1:9"}', '    spec:', '      containers: [{image: sink}]', '---',
    'apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', '  name: orders', 'spec:', '  broker: default',
    '  filters: [{prefix: {type: com.example.order.}}]', '  subscriber:', '    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: sink}', '    uri: /orders', '',
  ].join('\n'),
}

interface View { brokers: { name: string; url: string; ready: boolean; backing: string; triggers: { name: string; ready: boolean; subscriberUri: string | null; subscriberVia: string | null; filter: string; reason?: string }[] }[]; stats: unknown[]; ingressHosts: unknown }

t.test('a Broker and Triggers from files', async (t) => {
  const s = await startSluice(files)
  t.teardown(() => s.stop())
  const eventing = async (): Promise<View> => JSON.parse((await s.admin('/debug/eventing')).body) as View
  const via = `http://127.0.0.1:${s.internalPort}`
  // the first table is compiled before the listeners open; the internal port is known right after
  t.ok(await eventually(async () => (await eventing()).brokers[0]?.triggers[0]?.subscriberVia === via), 'deliveries go through the internal listener')
  const v = await eventing()
  t.same(v.ingressHosts, { internal: ['broker-ingress.knative-eventing.svc.cluster.local'], external: ['broker-ingress.localhost'] })
  t.match(v.stats, [{ broker: 'default/default', backing: 'memory', depth: 0, retriesInFlight: 0 }], 'the data plane holds the broker')
  t.match(v.brokers, [{
    name: 'default', url: 'http://broker-ingress.knative-eventing.svc.cluster.local/default/default', ready: true, backing: 'memory',
    delivery: { retry: 3, backoffPolicy: 'linear', backoffDelayMs: 100 },
    triggers: [{ name: 'orders', ready: true, subscriberUri: 'http://sink.default.svc.cluster.local/orders', filter: 'filters: prefix type=com.example.order.' }],
  }])

  const res = JSON.parse((await s.admin('/debug/resources')).body) as { objects: { kind: string; metadata: { name: string }; status?: { conditions?: { type: string; status: string; reason?: string }[]; subscriberUri?: string; address?: { url: string } } }[] }
  const broker = res.objects.find((o) => o.kind === 'Broker')!
  t.equal(broker.status?.address?.url, 'http://broker-ingress.knative-eventing.svc.cluster.local/default/default')
  t.match(broker.status?.conditions?.find((c) => c.type === 'Ready'), { status: 'True' })
  const trig = res.objects.find((o) => o.kind === 'Trigger')!
  t.equal(trig.status?.subscriberUri, 'http://sink.default.svc.cluster.local/orders')
  t.match(trig.status?.conditions?.find((c) => c.type === 'Ready'), { status: 'True' })

  // a Trigger for a Broker that does not exist loads, and says why it is not ready
  s.write('orphan.yaml', ['apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', '  name: orphan', 'spec:', '  broker: elsewhere',
    '  subscriber: {uri: "http://127.0.0.1:9/"}', ''].join('\n'))
  t.ok(await eventually(async () => (await eventing()).brokers.some((b) => b.name === 'elsewhere')), 'the orphan trigger shows')
  const orphan = (await eventing()).brokers.find((b) => b.name === 'elsewhere')!
  t.match(orphan, { ready: false, triggers: [{ name: 'orphan', ready: false, reason: 'BrokerDoesNotExist: Broker "elsewhere" does not exist' }] })

  // a bad Trigger is refused with its location; the last good table keeps serving
  s.write('bad.yaml', ['apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', '  name: bad', 'spec:', '  broker: default',
    '  filters: [{exact: {Type: x}}]', '  subscriber: {uri: "http://127.0.0.1:9/"}', ''].join('\n'))
  t.ok(await eventually(async () => (await s.admin('/readyz')).body.includes('bad.yaml:7:')), 'the error is located')
  t.match((await s.admin('/readyz')).body, /bad\.yaml:7:\d+ spec\.filters\[0\]\.exact\.Type: invalid attribute name "Type"/)
  t.equal((await eventing()).brokers.find((b) => b.name === 'default')?.triggers.length, 1, 'last good eventing table kept')
})

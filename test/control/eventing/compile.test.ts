// EventingTable compilation: delivery defaults and replacement, ready-only triggers, uids, hosts, config-sluice keys.
import t from 'tap'
import { broker, configSluice, ksvc, ORIGIN, run, trigger } from './helpers.ts'
import { compileDelivery, stableUid } from '../../../control/compile/eventing.ts'
import { readSettings } from '../../../control/settings/read-settings.ts'
import type { ConfigMap } from '../../../control/resources/types.ts'

const CLUSTER_DEFAULT = {
  retry: 10, backoffPolicy: 'exponential', backoffDelayMs: 200, backoffMaxMs: Infinity, timeoutMs: 0, retryAfterMaxMs: null, format: 'binary', deadLetterSink: null,
}

t.test('a Broker without delivery gets Knative\'s cluster default; its Triggers inherit it', async (t) => {
  const { table } = run(broker('default'), trigger('t', ['broker: default', 'subscriber: {uri: "http://s.example/"}']))
  const b = table.brokers.get('default/default')!
  t.same({ key: b.key, namespace: b.namespace, name: b.name, backing: b.backing }, { key: 'default/default', namespace: 'default', name: 'default', backing: 'memory' })
  t.same(b.delivery, CLUSTER_DEFAULT)
  t.equal(b.triggers.length, 1)
  const tr = b.triggers[0]!
  t.same(tr.delivery, CLUSTER_DEFAULT)
  t.same(tr.subscriber, { url: 'http://s.example/', connectTo: null })
  t.equal(tr.broker, 'default/default')
  t.equal(table.version, 7)
})

t.test('a Trigger\'s delivery replaces its Broker\'s wholesale; only the dead-letter sink falls back', async (t) => {
  const b = broker('default', ['spec:', '  delivery:', '    retry: 5', '    backoffPolicy: linear', '    backoffDelay: PT1S', '    timeout: PT10S',
    '    deadLetterSink: {uri: "http://dls.example/"}'])
  const { table } = run(b,
    trigger('inherits', ['broker: default', 'subscriber: {uri: "http://s.example/"}']),
    trigger('replaces', ['broker: default', 'subscriber: {uri: "http://s.example/"}', 'delivery:', '  retry: 2', '  format: json', '  retryAfterMax: PT30S', '  backoffMax: PT1M']))
  const dls = { url: 'http://dls.example/', connectTo: null }
  const br = table.brokers.get('default/default')!
  const broker5 = { retry: 5, backoffPolicy: 'linear', backoffDelayMs: 1000, backoffMaxMs: Infinity, timeoutMs: 10_000, retryAfterMaxMs: null, format: 'binary', deadLetterSink: dls }
  t.same(br.delivery, broker5)
  t.same(br.triggers.map((x) => x.name), ['inherits', 'replaces'], 'sorted by name')
  t.same(br.triggers[0]!.delivery, broker5)
  // no policy/delay of its own: retries back to back (Knative computes no backoff then), no timeout
  t.same(br.triggers[1]!.delivery, { retry: 2, backoffPolicy: null, backoffDelayMs: 0, backoffMaxMs: 60_000, timeoutMs: 0, retryAfterMaxMs: 30_000, format: 'json', deadLetterSink: dls })
})

t.test('compileDelivery: policy without delay (or the reverse) means no backoff', async (t) => {
  t.equal(compileDelivery({ backoffPolicy: 'exponential' }, null).backoffPolicy, null)
  t.equal(compileDelivery({ backoffDelay: 'PT1S' }, null).backoffPolicy, null)
  t.same(compileDelivery({ backoffPolicy: 'exponential', backoffDelay: 'PT0.5S', retryAfterMax: 'PT0S' }, null),
    { retry: 0, backoffPolicy: 'exponential', backoffDelayMs: 500, backoffMaxMs: Infinity, timeoutMs: 0, retryAfterMaxMs: 0, format: 'binary', deadLetterSink: null })
})

t.test('only Ready Triggers of Ready Brokers are compiled; subscribers served by Sluice go through the internal listener', async (t) => {
  const { table } = run(broker('default'), ksvc('sink'),
    trigger('ok', ['broker: default', 'subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: sink}}']),
    trigger('unresolved', ['broker: default', 'subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: gone}}']),
    trigger('orphan', ['broker: nope', 'subscriber: {uri: "http://s.example/"}']))
  t.same([...table.brokers.keys()], ['default/default'])
  const trs = table.brokers.get('default/default')!.triggers
  t.same(trs.map((x) => x.name), ['ok'])
  t.same(trs[0]!.subscriber, { url: 'http://sink.default.svc.cluster.local', connectTo: ORIGIN })
})

t.test('trigger uid: metadata.uid, else a stable hash of namespace/name', async (t) => {
  const withUid = run(broker('default'), trigger('a', ['broker: default', 'subscriber: {uri: "http://s.example/"}'], ['  uid: 4f6e1d1c-0000-4000-8000-000000000001']))
  t.equal(withUid.table.brokers.get('default/default')!.triggers[0]!.uid, '4f6e1d1c-0000-4000-8000-000000000001')
  const a1 = run(broker('default'), trigger('a', ['broker: default', 'subscriber: {uri: "http://s.example/"}'])).table
  const a2 = run(broker('default'), trigger('a', ['broker: default', 'subscriber: {uri: "http://x.example/"}'])).table
  const uid = a1.brokers.get('default/default')!.triggers[0]!.uid
  t.match(uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  t.equal(a2.brokers.get('default/default')!.triggers[0]!.uid, uid, 'stable across loads and spec edits')
  t.equal(uid, stableUid('default/a'))
  t.not(stableUid('default/b'), uid)
})

t.test('filters are compiled into the trigger', async (t) => {
  const { table } = run(broker('default'), trigger('t', ['broker: default', 'filter: {attributes: {type: com.example.a}}', 'subscriber: {uri: "http://s.example/"}']))
  const f = table.brokers.get('default/default')!.triggers[0]!.filter
  t.equal(f({ attributes: { type: 'com.example.a', id: '1', source: '/s', specversion: '1.0' }, data: null }), true)
  t.equal(f({ attributes: { type: 'com.example.b', id: '1', source: '/s', specversion: '1.0' }, data: null }), false)
})

t.test('ingress hosts and config-sluice keys', async (t) => {
  const d = run(broker('default')).table
  t.same(d.ingressHosts, { internal: ['broker-ingress.knative-eventing.svc.cluster.local'], external: ['broker-ingress.localhost'] })
  t.same([d.natsUrl, d.queueLimit, d.maxTtl], [null, 10_000, 255])
  const domain = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-domain', 'data:', '  example.com: ""', ''].join('\n')
  const c = run(broker('default'), domain, configSluice({ 'nats-url': 'nats://a:4222, tls://b:4223', 'broker-queue-limit': '50', 'broker-max-ttl': '16' })).table
  t.same(c.ingressHosts.external, ['broker-ingress.example.com'])
  t.same([c.natsUrl, c.queueLimit, c.maxTtl], ['nats://a:4222,tls://b:4223', 50, 16])
})

t.test('bad config-sluice eventing keys are reported at their key', async (t) => {
  const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-sluice', namespace: 'knative-serving', labels: {}, annotations: {} }, spec: undefined,
    data: { 'nats-url': 'http://a:4222', 'broker-queue-limit': '0', 'broker-max-ttl': 'many' } }
  const r = readSettings([cm])
  t.same(r.errors.map((e) => `${e.path} ${e.message}`), [
    'data.nats-url config-sluice: nats-url: "http://a:4222" is not a NATS server address; write comma-separated URLs such as nats://127.0.0.1:4222',
    'data.broker-queue-limit config-sluice: broker-queue-limit must be a whole number from 1 to 10000000, got "0"',
    'data.broker-max-ttl config-sluice: broker-max-ttl must be a whole number from 1 to 2147483647, got "many"',
  ])
  t.same([r.settings.sluice.natsUrl, r.settings.sluice.brokerQueueLimit, r.settings.sluice.brokerMaxTtl], [null, 10_000, 255])
})

// Broker and Trigger statuses: the conditions knative/eventing's MT broker reconcilers write.
import t from 'tap'
import { broker, configSluice, conds, ksvc, obj, run, trigger } from './helpers.ts'

const READY_BROKER = [
  'Addressable=True',
  'DeadLetterSinkResolved=True/DeadLetterSinkNotConfigured: No dead letter sink is configured.',
  'EventPoliciesReady=True/OIDCDisabled: Feature "authentication-oidc" must be enabled to support Authorization',
  'FilterReady=True',
  'IngressReady=True',
  'Ready=True',
  'TriggerChannelReady=True',
]
const DLS_FAILED = "DeadLetterSinkResolved=False/Unable to get the dead letter sink's URI"

t.test('a Broker is Ready with its ingress address', async (t) => {
  const { out } = run(broker('default'))
  const b = obj(out, 'Broker', 'default')
  t.same(conds(b), READY_BROKER)
  const url = 'http://broker-ingress.knative-eventing.svc.cluster.local/default/default'
  t.same(b.status.address, { name: 'http', url })
  t.same(b.status.addresses, [{ name: 'http', url }])
  t.equal(b.status.observedGeneration, 1)
  t.notOk('deadLetterSinkUri' in b.status)
})

t.test('a JetStream Broker needs nats-url', async (t) => {
  const jet = broker('durable', ['  annotations: {eventing.knative.dev/broker.class: sluice.dev/jetstream}'])
  const sub = trigger('t', ['broker: durable', 'subscriber: {uri: "http://sink.example/"}'])
  const { out, table } = run(jet, sub)
  const msg = 'Broker class sluice.dev/jetstream needs NATS: set nats-url in ConfigMap config-sluice (e.g. nats://127.0.0.1:4222)'
  t.same(conds(obj(out, 'Broker', 'durable')).filter((c) => /^(Ready|TriggerChannelReady)=/.test(c)), [
    `Ready=False/NatsUrlNotConfigured: ${msg}`, `TriggerChannelReady=False/NatsUrlNotConfigured: ${msg}`,
  ])
  t.same(conds(obj(out, 'Trigger', 't')), [
    `BrokerReady=False/NatsUrlNotConfigured: ${msg}`,
    'DeadLetterSinkResolved=Unknown',
    'DependencyReady=True',
    'OIDCIdentityCreated=True/authentication-oidc feature disabled',
    `Ready=False/NatsUrlNotConfigured: ${msg}`,
    'SubscriberResolved=Unknown',
    'SubscriptionReady=Unknown/SubscriptionNotConfigured: Subscription has not yet been reconciled.',
  ])
  t.equal(table.brokers.size, 0, 'a broker that is not ready is not served')
  const ok = run(jet, sub, configSluice({ 'nats-url': 'nats://127.0.0.1:4222' }))
  t.same(conds(obj(ok.out, 'Broker', 'durable')), READY_BROKER)
  t.equal(ok.table.brokers.get('default/durable')?.backing, 'jetstream')
  t.equal(ok.table.natsUrl, 'nats://127.0.0.1:4222')
})

t.test('a Broker dead-letter sink that does not resolve', async (t) => {
  const { out } = run(broker('b', ['spec:', '  delivery:', '    deadLetterSink:', '      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dls}']))
  const b = obj(out, 'Broker', 'b')
  const msg = 'spec.delivery.deadLetterSink.ref: services.serving.knative.dev "dls" not found in namespace default; create the Service or fix ref.name'
  t.same(conds(b).filter((c) => /^(Ready|DeadLetterSinkResolved)=/.test(c)), [`${DLS_FAILED}: ${msg}`, `Ready=False/Unable to get the dead letter sink's URI: ${msg}`])
  const ok = run(broker('b', ['spec:', '  delivery:', '    deadLetterSink:', '      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dls}', '      uri: /dead']), ksvc('dls'))
  t.same(conds(obj(ok.out, 'Broker', 'b')).find((c) => c.startsWith('DeadLetterSinkResolved')), 'DeadLetterSinkResolved=True')
  t.equal(obj(ok.out, 'Broker', 'b').status.deadLetterSinkUri, 'http://dls.default.svc.cluster.local/dead')
})

t.test('a Trigger whose Broker does not exist', async (t) => {
  const { out } = run(trigger('t', ['broker: nope', 'subscriber: {uri: "http://sink.example/"}']))
  t.same(conds(obj(out, 'Trigger', 't')), [
    'BrokerReady=False/BrokerDoesNotExist: Broker "nope" does not exist',
    'DeadLetterSinkResolved=Unknown',
    'DependencyReady=True',
    'OIDCIdentityCreated=True/authentication-oidc feature disabled',
    'Ready=False/BrokerDoesNotExist: Broker "nope" does not exist',
    'SubscriberResolved=Unknown',
    'SubscriptionReady=Unknown/SubscriptionNotConfigured: Subscription has not yet been reconciled.',
  ])
})

t.test('a Ready Trigger: subscriber resolved to a Knative Service, relative uri against it', async (t) => {
  const { out } = run(broker('default'), ksvc('sink'), trigger('t', ['broker: default', 'subscriber:',
    '  ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: sink}', '  uri: /events']))
  const tr = obj(out, 'Trigger', 't')
  t.same(conds(tr), [
    'BrokerReady=True',
    'DeadLetterSinkResolved=True/DeadLetterSinkNotConfigured: No dead letter sink is configured.',
    'DependencyReady=True',
    'OIDCIdentityCreated=True/authentication-oidc feature disabled',
    'Ready=True',
    'SubscriberResolved=True',
    'SubscriptionReady=True',
  ])
  t.equal(tr.status.subscriberUri, 'http://sink.default.svc.cluster.local/events')
  t.notOk('deadLetterSinkUri' in tr.status)
})

t.test('subscriber resolution: missing service, other kinds, Broker and core Service refs', async (t) => {
  const cases: [string[], string | null, string][] = [
    [['ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: gone}'], null,
      'spec.subscriber.ref: services.serving.knative.dev "gone" not found in namespace default; create the Service or fix ref.name'],
    [['ref: {apiVersion: apps/v1, kind: Deployment, name: d}'], null,
      'spec.subscriber.ref: cannot resolve apps/v1 Deployment to an address; use a serving.knative.dev/v1 Service, an eventing.knative.dev/v1 Broker, a v1 Service, or a uri'],
    [['ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: other}'], 'http://broker-ingress.knative-eventing.svc.cluster.local/default/other', ''],
    [['ref: {apiVersion: v1, kind: Service, name: plain}', 'uri: metrics'], 'http://plain.default.svc.cluster.local/metrics', ''],
    [['uri: "http://sink.example:8080/x?y=1"'], 'http://sink.example:8080/x?y=1', ''],
  ]
  const core = ['apiVersion: v1', 'kind: Service', 'metadata:', '  name: plain', 'spec:', '  ports: [{port: 80}]', ''].join('\n')
  for (const [sub, uri, message] of cases) {
    const { out } = run(broker('default'), broker('other'), core, trigger('t', ['broker: default', 'subscriber:', ...sub.map((l) => `  ${l}`)]))
    const tr = obj(out, 'Trigger', 't')
    const resolved = conds(tr).find((c) => c.startsWith('SubscriberResolved'))
    if (uri === null) {
      t.equal(resolved, `SubscriberResolved=False/Unable to get the Subscriber's URI: ${message}`, sub[0])
      t.notOk('subscriberUri' in tr.status)
      t.equal(conds(tr).find((c) => c.startsWith('Ready')), `Ready=False/Unable to get the Subscriber's URI: ${message}`)
    } else {
      t.equal(resolved, 'SubscriberResolved=True', sub[0])
      t.equal(tr.status.subscriberUri, uri)
    }
  }
})

t.test('dead-letter sink: the Trigger\'s own, else its Broker\'s', async (t) => {
  const b = broker('default', ['spec:', '  delivery:', '    deadLetterSink: {uri: "http://broker-dls.example/"}'])
  const own = run(b, trigger('t', ['broker: default', 'subscriber: {uri: "http://s.example/"}', 'delivery:', '  deadLetterSink: {uri: "http://trigger-dls.example/"}']))
  t.equal(obj(own.out, 'Trigger', 't').status.deadLetterSinkUri, 'http://trigger-dls.example/')
  const inherited = run(b, trigger('t', ['broker: default', 'subscriber: {uri: "http://s.example/"}', 'delivery: {retry: 1}']))
  t.equal(obj(inherited.out, 'Trigger', 't').status.deadLetterSinkUri, 'http://broker-dls.example/')
  t.same(conds(obj(inherited.out, 'Trigger', 't')).find((c) => c.startsWith('DeadLetterSinkResolved')), 'DeadLetterSinkResolved=True')
  const bad = run(broker('default'), trigger('t', ['broker: default', 'subscriber: {uri: "http://s.example/"}', 'delivery:',
    '  deadLetterSink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: missing}}']))
  const tr = obj(bad.out, 'Trigger', 't')
  const msg = 'spec.delivery.deadLetterSink.ref: brokers.eventing.knative.dev "missing" not found in namespace default; create the Broker or fix ref.name'
  t.same(conds(tr).filter((c) => /^(Ready|DeadLetterSinkResolved|SubscriptionReady)=/.test(c)), [
    `${DLS_FAILED}: ${msg}`, `Ready=False/Unable to get the dead letter sink's URI: ${msg}`,
    'SubscriptionReady=Unknown/SubscriptionNotConfigured: Subscription has not yet been reconciled.',
  ])
  t.equal(bad.table.brokers.get('default/default')!.triggers.length, 0, 'a trigger that is not ready gets no events')
})

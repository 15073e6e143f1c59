// Broker and Trigger validation: knative/eventing's webhook rules with Sluice's located messages.
import t from 'tap'
import { errors, load, yaml } from '../sources/fixtures/load-helpers.ts'

const trig = ['apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', '  name: t'] // lines 1-4
const brk = ['apiVersion: eventing.knative.dev/v1', 'kind: Broker', 'metadata:', '  name: b'] // lines 1-4
const REF_HINT = 'a reference needs apiVersion, kind and name, e.g. apiVersion: serving.knative.dev/v1, kind: Service, name: my-app'
const ATTR = 'CloudEvents attribute names start with a lower-case letter and hold only lower-case letters and digits'

t.test('a valid Trigger and Broker load typed, as written', async (t) => {
  const r = load(yaml(...trig, 'spec:', '  broker: default', '  filter:', '    attributes: {type: a, source: ""}',
    '  filters:', '    - any: [{prefix: {type: com.}}, {not: {suffix: {source: .test}}}]', '    - cesql: "type = \'a\'"',
    '  subscriber:', '    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: s}', '    uri: /events',
    '  delivery:', '    retry: 3', '    backoffPolicy: linear', '    backoffDelay: PT0.5S', '    format: json',
    '---', ...brk, '  annotations: {eventing.knative.dev/broker.class: sluice.dev/jetstream}', 'spec:',
    '  config: {apiVersion: v1, kind: ConfigMap, name: c}', '  delivery: {deadLetterSink: {uri: "http://dls.example/x"}}'))
  t.same(r.errors, [])
  t.same(r.resources.triggers[0]!.spec, {
    broker: 'default',
    filter: { attributes: { type: 'a', source: '' } },
    filters: [{ any: [{ prefix: { type: 'com.' } }, { not: { suffix: { source: '.test' } } }] }, { cesql: "type = 'a'" }],
    subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 's' }, uri: '/events' },
    delivery: { retry: 3, backoffPolicy: 'linear', backoffDelay: 'PT0.5S', format: 'json' },
  })
  t.same(r.resources.brokers[0]!.spec, {
    config: { apiVersion: 'v1', kind: 'ConfigMap', name: 'c' },
    delivery: { deadLetterSink: { uri: 'http://dls.example/x' } },
  })
  t.same(errors(yaml(...brk)), [], 'a Broker needs no spec')
})

t.test('Trigger: broker and subscriber', async (t) => {
  t.same(errors(yaml(...trig, 'spec:', '  subscriber:', '    uri: http://x')), [
    "hello.yaml:5:1 spec.broker: missing field; name the Broker (in the Trigger's namespace) whose events this Trigger receives, e.g. broker: default",
  ])
  t.same(errors(yaml(...trig)), ['hello.yaml:1:1 spec: missing field; a Trigger needs spec.broker and spec.subscriber'])
  t.same(errors(yaml(...trig, 'spec:', '  broker: default')), [
    'hello.yaml:5:1 spec.subscriber: missing field; give the subscriber a ref (e.g. a serving.knative.dev/v1 Service) or a uri',
  ])
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  subscriber: {}')), [
    'hello.yaml:7:3 spec.subscriber: needs a ref (e.g. a serving.knative.dev/v1 Service) or a uri (e.g. http://example.com/events); got neither',
  ])
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  subscriber:', '    uri: /relative')), [
    'hello.yaml:8:10 spec.subscriber.uri: "/relative" is not an absolute URL; write one with a scheme and host (http://host/path), or add a ref to resolve a relative path against',
  ])
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  brokerRef: {name: x}', '  subscriber:', '    ref: {kind: Service, name: s}')), [
    "hello.yaml:7:3 spec.brokerRef: brokerRef needs Knative's cross-namespace-event-links feature, which Sluice does not have; name a Broker of the same namespace in spec.broker",
    `hello.yaml:9:5 spec.subscriber.ref.apiVersion: missing field; ${REF_HINT}`,
  ])
  t.same(errors(yaml(...trig, '  namespace: shop', 'spec:', '  broker: default', '  subscriber:',
    '    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: s, namespace: other}',
    '  delivery: {deadLetterSink: {ref: {apiVersion: v1, kind: Service, name: d, namespace: shop}}}')), [
    'hello.yaml:9:82 spec.subscriber.ref.namespace: mismatched namespaces: the object is in namespace "shop" but the ref names "other"; cross-namespace refs are not supported, so remove namespace or move the object',
  ])
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  subscriber:', '    uri: http://x', '    url: http://y')), [
    'hello.yaml:9:5 spec.subscriber.url: unknown field "url"; did you mean uri?',
  ])
})

t.test('Trigger: filter attribute names and values', async (t) => {
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  filter:', '    attributes:', '      Type: a', '      source: 5', '  subscriber:', '    uri: http://x')), [
    `hello.yaml:9:7 spec.filter.attributes.Type: invalid attribute name "Type": ${ATTR}`,
    'hello.yaml:10:15 spec.filter.attributes.source: attribute values must be strings, got the number 5; quote it',
  ])
})

t.test('Trigger: Subscriptions API filters, one dialect each', async (t) => {
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  filters:',
    '    - exact: {type: a}', //           8
    '      prefix: {source: b}', //        9
    '    - {}', //                         10
    '    - suffix: {type: ""}', //         11
    '    - all: []', //                    12
    '    - any: [{exact: {type: a}}]', //  13 (fine)
    '    - not: {exact: {}}', //           14
    '    - exact: {Bad-Key: x}', //        15
    '    - nott: {}', //                   16
    '  subscriber:', '    uri: http://x')), [
    'hello.yaml:8:7 spec.filters[0]: multiple dialects found (exact, prefix); a filter holds exactly one: split them into separate filters (they are ANDed) or nest them under all or any',
    'hello.yaml:10:7 spec.filters[1]: an empty filter; give it one of: exact, prefix, suffix, all, any, not, cesql',
    "hello.yaml:11:22 spec.filters[2].suffix.type: must not be empty; suffix compares the attribute's value with this text",
    'hello.yaml:12:7 spec.filters[3].all: must list at least one filter',
    'hello.yaml:14:13 spec.filters[5].not.exact: must name at least one attribute, e.g. exact: {type: com.example.order}',
    `hello.yaml:15:15 spec.filters[6].exact.Bad-Key: invalid attribute name "Bad-Key": ${ATTR}`,
    'hello.yaml:16:7 spec.filters[7].nott: unknown field "nott"; did you mean not?',
    'hello.yaml:16:7 spec.filters[7]: an empty filter; give it one of: exact, prefix, suffix, all, any, not, cesql',
  ])
})

t.test('Trigger: a CESQL syntax error is located at its field, with the offset', async (t) => {
  const errs = errors(yaml(...trig, 'spec:', '  broker: default', '  filters:', '    - cesql: ""', '  subscriber:', '    uri: http://x'))
  t.equal(errs.length, 1)
  t.match(errs[0], /^hello\.yaml:8:14 spec\.filters\[0\]\.cesql: invalid CESQL expression at character 1: empty expression/)
})

t.test('DeliverySpec: every rule of duck/v1 DeliverySpec.Validate, plus backoffMax and unknown fields', async (t) => {
  t.same(errors(yaml(...trig, 'spec:', '  broker: default', '  subscriber:', '    uri: http://x', '  delivery:',
    '    retry: -1', //                   10
    '    backoffPolicy: quadratic', //    11
    '    backoffDelay: 2s', //            12
    '    timeout: PT0S', //               13
    '    retryAfterMax: PT-1S', //        14
    '    backoffMax: PT1M', //            15 (fine)
    '    format: xml', //                 16
    '    retries: 3', //                  17
    '    deadLetterSink:', //             18
    '      ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dls}',
    '      uri: http://abs/x')), [
    'hello.yaml:10:12 spec.delivery.retry: must be an integer from 0 to 2147483647, got -1',
    'hello.yaml:11:20 spec.delivery.backoffPolicy: must be linear or exponential, got "quadratic"',
    'hello.yaml:12:19 spec.delivery.backoffDelay: "2s" is not an ISO-8601 duration; write e.g. PT0.2S, PT1S, PT5M or PT1H30M',
    'hello.yaml:13:14 spec.delivery.timeout: must be a duration greater than zero, got "PT0S"; e.g. PT30S',
    'hello.yaml:14:20 spec.delivery.retryAfterMax: must not be negative, got "PT-1S"',
    'hello.yaml:16:13 spec.delivery.format: must be json (structured) or binary, got "xml"',
    'hello.yaml:17:5 spec.delivery.retries: unknown field "retries"; expected one of: deadLetterSink, retry, backoffPolicy, backoffDelay, backoffMax, timeout, retryAfterMax, format',
    'hello.yaml:20:12 spec.delivery.deadLetterSink.uri: an absolute URI is not allowed together with ref; write a path relative to the ref (e.g. /events) or remove the ref',
  ])
  t.same(errors(yaml(...brk, 'spec:', '  delivery:', '    retry: "3"', '    backoffMax: P', '    timeout: PT1.5S')), [
    'hello.yaml:7:12 spec.delivery.retry: must be an integer from 0 to 2147483647, got the string "3"; remove the quotes',
    'hello.yaml:8:17 spec.delivery.backoffMax: "P" is not an ISO-8601 duration; write e.g. PT0.2S, PT1S, PT5M or PT1H30M',
  ])
})

t.test('Broker: class annotation, config reference, unknown fields', async (t) => {
  t.same(errors(yaml(...brk, '  annotations:', '    eventing.knative.dev/broker.class: Kafka', 'spec:', '  config: {kind: ConfigMap}', '  channel: x')), [
    'hello.yaml:6:40 metadata.annotations[eventing.knative.dev/broker.class]: unsupported broker class "Kafka"; use sluice.dev/memory or MTChannelBasedBroker (or leave it unset) for an in-memory broker, or sluice.dev/jetstream for one backed by NATS JetStream',
    'hello.yaml:8:3 spec.config.apiVersion: missing field; a reference needs apiVersion, kind and name, e.g. apiVersion: v1, kind: ConfigMap, name: config-br-default-channel',
    'hello.yaml:8:3 spec.config.name: missing field; a reference needs apiVersion, kind and name, e.g. apiVersion: v1, kind: ConfigMap, name: config-br-default-channel',
    'hello.yaml:9:3 spec.channel: unknown field "channel"; expected one of: config, delivery',
  ])
  for (const cls of ['MTChannelBasedBroker', 'sluice.dev/jetstream', '""']) {
    t.same(errors(yaml(...brk, '  annotations:', `    eventing.knative.dev/broker.class: ${cls}`)), [], cls)
  }
})

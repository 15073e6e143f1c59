// Eventing in `sluice serve --kubernetes`, end to end: Brokers, Triggers and PingSources created in
// the (fake) cluster reach the same reconcile → compile path as files; an event POSTed to the broker
// ingress is delivered to the subscriber; the leader writes Knative's statuses (address URL
// included); Brokers of Knative's classes and their Triggers stay untouched; and a cluster without
// Knative Eventing's CRDs (404) still gets a ready Sluice.
import t from 'tap'
import { startFakeApiServer, type KObject } from '../fixtures/fake-apiserver.ts'
import { startBackend } from '../fixtures/backend.ts'
import { metric, request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { conditionOf, isReady, kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import { accessDiff, EVENTING_GROUPS } from './fixtures/api-access.ts'

const NS = 'events'
const CLASS = 'eventing.knative.dev/broker.class'
const INGRESS_HOST = 'broker-ingress.knative-eventing.svc.cluster.local'

const broker = (name: string, cls: string | null): KObject => ({
  apiVersion: 'eventing.knative.dev/v1', kind: 'Broker',
  metadata: { name, namespace: NS, ...(cls !== null ? { annotations: { [CLASS]: cls } } : {}) },
  spec: { delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.05S' } },
})
const trigger = (name: string, brokerName: string, subscriber: string, type?: string): KObject => ({
  apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name, namespace: NS },
  spec: { broker: brokerName, ...(type !== undefined ? { filter: { attributes: { type } } } : {}), subscriber: { uri: subscriber } },
})
const get = (api: Awaited<ReturnType<typeof startFakeApiServer>>, kind: 'Broker' | 'Trigger' | 'PingSource', name: string): KObject | undefined =>
  api.get(kind === 'PingSource' ? 'sources.knative.dev/v1' : 'eventing.knative.dev/v1', kind, NS, name)

const ce = (id: string, type: string) => ({ 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': 'test/kubernetes', 'ce-type': type, 'content-type': 'application/json' })

t.test('a Broker and Trigger of Sluice\'s class from the cluster: delivered, status written; Knative\'s own untouched', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const subscriber = await startBackend('subscriber')
  t.teardown(() => subscriber.close())
  api.apply(broker('default', 'sluice.dev/memory'))
  api.apply(trigger('orders', 'default', `${subscriber.origin}/orders`, 'com.example.order'))
  // a durable broker without nats-url: not ready, and says how to fix it
  api.apply(broker('durable', 'sluice.dev/jetstream'))
  api.apply({
    apiVersion: 'sources.knative.dev/v1', kind: 'PingSource', metadata: { name: 'tick', namespace: NS },
    spec: { schedule: '0 0 1 1 *', data: '{"hello":"ping"}', sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } } },
  })
  // Knative's default class (unset and explicit), with a Trigger each: not Sluice's
  api.apply(broker('knative', null))
  api.apply(broker('mt', 'MTChannelBasedBroker'))
  api.apply(trigger('on-knative', 'knative', `${subscriber.origin}/foreign`))
  api.apply(trigger('on-mt', 'mt', `${subscriber.origin}/foreign`))

  // A Knative Service as Serving leaves it in a cluster: the Route's placeholder Service (labelled with
  // the ksvc) and a cluster-local KIngress of our class to the revision's backend.
  const ksvc = await knativeBackend('hello')
  t.teardown(() => ksvc.close())
  for (const o of serviceFor(NS, 'hello-00001', [ksvc])) api.apply(o)
  api.apply({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'hello', namespace: NS, labels: { 'serving.knative.dev/service': 'hello', 'serving.knative.dev/route': 'hello' } },
    spec: { type: 'ExternalName', externalName: 'sluice-internal.sluice-system.svc.cluster.local' },
  })
  api.apply(kingress(NS, 'hello', [`hello.${NS}`, `hello.${NS}.svc`, `hello.${NS}.svc.cluster.local`], [{ service: 'hello-00001' }], { visibility: 'ClusterLocal' }))
  api.apply({
    apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'to-ksvc', namespace: NS },
    spec: { broker: 'default', filter: { attributes: { type: 'com.example.ksvc' } }, subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' } } },
  })

  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())

  const b = await waitFor(() => { const o = get(api, 'Broker', 'default'); return isReady(o) ? o : undefined }, {
    what: () => `Broker default Ready; now ${JSON.stringify(get(api, 'Broker', 'default')?.['status'])}`,
  })
  const url = `http://${INGRESS_HOST}/${NS}/default`
  t.match(b['status'], { observedGeneration: 1, address: { name: 'http', url }, addresses: [{ name: 'http', url }] }, 'status.address.url as Knative computes it')
  t.equal(conditionOf(b, 'Addressable')?.status, 'True')
  const tr = await waitFor(() => { const o = get(api, 'Trigger', 'orders'); return isReady(o) ? o : undefined }, { what: 'Trigger orders Ready' })
  t.equal((tr['status'] as { subscriberUri?: string }).subscriberUri, `${subscriber.origin}/orders`)
  for (const type of ['BrokerReady', 'SubscriberResolved', 'DeadLetterSinkResolved', 'SubscriptionReady']) t.equal(conditionOf(tr, type)?.status, 'True', `Trigger ${type}`)
  const durable = await waitFor(() => { const o = get(api, 'Broker', 'durable'); return conditionOf(o, 'Ready') !== undefined ? o : undefined }, { what: 'Broker durable has a status' })
  t.match(conditionOf(durable, 'Ready'), { status: 'False', reason: 'NatsUrlNotConfigured', message: /nats-url/ })
  const ping = await waitFor(() => { const o = get(api, 'PingSource', 'tick'); return isReady(o) ? o : undefined }, { what: 'PingSource tick Ready' })
  t.equal((ping['status'] as { sinkUri?: string }).sinkUri, url, 'the PingSource sink is the broker address')

  // An event POSTed to the broker ingress (the internal listener, Knative's broker-ingress host) reaches the subscriber.
  const r = await request(sluice.internalPort, INGRESS_HOST, `/${NS}/default`, { method: 'POST', headers: ce('e-1', 'com.example.order') })
  t.equal(r.status, 202, 'accepted')
  const seen = await waitFor(() => subscriber.requests.find((q) => q.headers['ce-id'] === 'e-1'), { what: 'the subscriber got the event' })
  t.equal(seen.url, '/orders')
  t.equal(seen.headers['ce-type'], 'com.example.order')
  t.equal((await request(sluice.internalPort, INGRESS_HOST, `/${NS}/default`, { method: 'POST', headers: ce('e-2', 'other') })).status, 202)

  // A subscriber that is a Knative Service is reached through Sluice's internal listener, by its cluster-local host.
  const toKsvc = await waitFor(() => { const o = get(api, 'Trigger', 'to-ksvc'); return isReady(o) ? o : undefined }, {
    what: () => `Trigger to-ksvc Ready; now ${JSON.stringify(get(api, 'Trigger', 'to-ksvc')?.['status'])}`,
  })
  t.equal((toKsvc['status'] as { subscriberUri?: string }).subscriberUri, `http://hello.${NS}.svc.cluster.local`)
  t.equal((await request(sluice.internalPort, INGRESS_HOST, `/${NS}/default`, { method: 'POST', headers: ce('k-1', 'com.example.ksvc') })).status, 202)
  const atKsvc = await waitFor(() => ksvc.requests.find((q) => q.headers['ce-id'] === 'k-1'), { what: 'the Knative Service got the event' })
  t.equal(atKsvc.headers['ce-type'], 'com.example.ksvc')

  // Knative's brokers are not served and their objects are never written, status included.
  t.equal((await request(sluice.internalPort, INGRESS_HOST, `/${NS}/knative`, { method: 'POST', headers: ce('e-3', 'com.example.order') })).status, 404, 'a Knative-class broker is not Sluice\'s')
  for (const [kind, name] of [['Broker', 'knative'], ['Broker', 'mt'], ['Trigger', 'on-knative'], ['Trigger', 'on-mt']] as const) {
    t.equal(get(api, kind, name)?.['status'], undefined, `${kind} ${name} has no status`)
    t.equal(api.statusWrites.filter((w) => w.name === name).length, 0, `${kind} ${name} was never written`)
  }
  t.notOk(subscriber.requests.some((q) => q.url === '/foreign'), 'nothing delivered for a foreign trigger')
  const writes = api.statusWrites.length

  // Status is written only when it changes: a new generation is written once more, then nothing.
  api.apply({ ...trigger('orders', 'default', `${subscriber.origin}/orders/v2`, 'com.example.order'), metadata: { ...get(api, 'Trigger', 'orders')!.metadata } })
  await waitFor(() => (get(api, 'Trigger', 'orders')?.['status'] as { subscriberUri?: string } | undefined)?.subscriberUri === `${subscriber.origin}/orders/v2`, { what: 'the new subscriber in the status' })
  t.ok(isReady(get(api, 'Trigger', 'orders')), 'Ready at the new generation')
  const metrics = (await sluice.admin('/metrics')).body
  t.equal(metric(metrics, 'sluice_kubernetes_objects', { resource: 'brokers' }), 2, 'only the two Sluice-class brokers are held')
  t.equal(metric(metrics, 'sluice_kubernetes_installed', { resource: 'brokers' }), 1)
  t.ok((metric(metrics, 'sluice_eventing_status_writes_total', { result: 'ok' }) ?? 0) >= 4, 'status writes counted')
  t.ok(api.statusWrites.length - writes <= 2, `the edit cost at most a write or two (${api.statusWrites.length - writes})`)
  const r2 = await request(sluice.internalPort, INGRESS_HOST, `/${NS}/default`, { method: 'POST', headers: ce('e-4', 'com.example.order') })
  t.equal(r2.status, 202)
  await waitFor(() => subscriber.requests.find((q) => q.headers['ce-id'] === 'e-4' && q.url === '/orders/v2'), { what: 'delivered to the edited subscriber' })
  t.notOk(subscriber.requests.some((q) => q.headers['ce-id'] === 'e-2'), 'the filtered-out event was not delivered (a later one was)')

  // Least privilege for the eventing kinds: every call granted, every eventing grant used.
  const access = accessDiff(api, (g) => EVENTING_GROUPS.includes(g))
  t.same(access.ungranted, [], 'no call outside API_ACCESS')
  t.same(access.unused, [], 'every eventing grant is used')
})

t.test('Knative Eventing not installed (404): Sluice still becomes ready and serves KIngresses', async (t) => {
  const api = await startFakeApiServer({ uninstalled: ['eventing.knative.dev', 'sources.knative.dev'] })
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  t.teardown(() => blue.close())
  for (const o of serviceFor('serving-tests', 'blue', [blue])) api.apply(o)
  api.apply(kingress('serving-tests', 'hello', ['hello.example.com'], [{ service: 'blue' }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitFor(async () => (await sluice.admin('/readyz')).status === 200, { what: '/readyz 200' })
  await waitIngressReady(api, 'serving-tests', 'hello')
  t.equal((await request(sluice.port, 'hello.example.com', '/')).status, 200)
  const metrics = (await sluice.admin('/metrics')).body
  for (const resource of ['brokers', 'triggers', 'pingSources']) {
    t.equal(metric(metrics, 'sluice_kubernetes_installed', { resource }), 0, `${resource}: not installed`)
    t.equal(metric(metrics, 'sluice_kubernetes_synced', { resource }), 1, `${resource}: synced (empty)`)
    t.equal(metric(metrics, 'sluice_kubernetes_watch_failures_total', { resource }), 0, `${resource}: not a failure`)
  }
  t.equal(api.requestsFor({ verb: 'list', resource: 'brokers' }).length, 1, 'listed once, not retried in a loop')
})

// The Kubernetes source's eventing kinds against the fake API server with the real client-node
// informers: only Brokers of Sluice's classes and what belongs to them; Knative Eventing absent
// (404) is an empty kind, not a failure, and is noticed when it is installed; PingSources only on
// the leader; status-only updates do not reload.
import t from 'tap'
import { KubeConfig } from '@kubernetes/client-node'
import { startFakeApiServer, FakeApiServer } from '../fixtures/fake-apiserver.ts'
import { waitFor } from '../fixtures/wait.ts'
import { createLogger } from '../../gateway/log.ts'
import { KubernetesSource, type ClusterLoad } from '../../control/sources/kubernetes/kubernetes-source.ts'
import { mergeLoads } from '../../control/sources/merge-loads.ts'
import { formatError } from '../../control/sources/format-error.ts'
import { emptyResourceSet } from '../../control/resources/types.ts'
import { load } from '../control/sources/fixtures/load-helpers.ts'

const NS = 'events'
const CLASS = 'eventing.knative.dev/broker.class'

function broker(name: string, cls: string | null): Record<string, unknown> {
  return { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name, namespace: NS, ...(cls !== null ? { annotations: { [CLASS]: cls } } : {}) }, spec: {} }
}
function trigger(name: string, brokerName: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name, namespace: NS }, spec: { broker: brokerName, subscriber: { uri: 'http://127.0.0.1:9/' }, ...spec } }
}
function ping(name: string, brokerName: string): Record<string, unknown> {
  return { apiVersion: 'sources.knative.dev/v1', kind: 'PingSource', metadata: { name, namespace: NS }, spec: { schedule: '* * * * *', sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: brokerName } } } }
}

function source(api: FakeApiServer, loads: ClusterLoad[], logs: string[] = []): KubernetesSource {
  const kc = new KubeConfig()
  kc.loadFromFile(api.kubeconfig())
  const s = new KubernetesSource({ kubeConfig: kc, log: createLogger('debug', (l) => { logs.push(l) }), backoffMs: [20, 200], absentRetryMs: 100 })
  s.start((r) => { loads.push(r) })
  return s
}

const names = (l: ClusterLoad | undefined, kind: 'brokers' | 'triggers' | 'pingSources') => (l?.resources[kind] ?? []).map((o) => o.metadata.name).sort()

t.test('only Brokers of a Sluice class, their Triggers, and (on the leader) their PingSources', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  api.apply(broker('mem', 'sluice.dev/memory'))
  api.apply(broker('durable', 'sluice.dev/jetstream'))
  api.apply(broker('knative', 'MTChannelBasedBroker'))
  api.apply(broker('unset', null))
  api.apply(broker('kafka', 'Kafka'))
  for (const b of ['mem', 'durable', 'knative', 'unset', 'kafka', 'missing']) api.apply(trigger(`on-${b}`, b))
  api.apply(trigger('bad-on-mem', 'mem', { filters: [{ exact: { Type: 'x' } }] }))
  api.apply(ping('ping-mem', 'mem'))
  api.apply(ping('ping-knative', 'knative'))
  const loads: ClusterLoad[] = []
  const s = source(api, loads)
  t.teardown(() => s.stop())
  const first = await waitFor(() => loads[0], { what: 'the first load' })
  t.same(names(first, 'brokers'), ['durable', 'mem'])
  t.same(names(first, 'triggers'), ['on-durable', 'on-mem'])
  t.same(first.rejected.map((r) => `${r.kind}/${r.name}`), ['Trigger/bad-on-mem'], 'a bad Trigger of ours is rejected with its path; foreign ones are not read')
  t.match(first.rejected[0]?.errors, [{ path: 'spec.filters[0].exact.Type' }])
  t.same(names(first, 'pingSources'), [], 'a follower does not fire PingSources')
  t.match(s.stats().find((x) => x.resource === 'brokers'), { synced: true, installed: true, objects: 2 })

  s.setLeading(true)
  await waitFor(() => names(loads.at(-1), 'pingSources').join() === 'ping-mem', { what: 'the leader holds the PingSource of our broker' })

  // A Broker moving to Knative's class takes its Triggers and PingSources with it.
  api.apply({ ...broker('mem', 'MTChannelBasedBroker') })
  await waitFor(() => names(loads.at(-1), 'brokers').join() === 'durable', { what: 'mem is no longer ours' })
  t.same(names(loads.at(-1), 'triggers'), ['on-durable'])
  t.same(names(loads.at(-1), 'pingSources'), [])
  t.same(loads.at(-1)!.rejected, [])

  // Status-only updates (the leader's own writes coming back) do not reload the cluster.
  const seen: string[] = []
  s.onEventingStatusChange = (kind, ns, name) => seen.push(`${kind}/${ns}/${name}`)
  const before = loads.length
  const cur = api.get('eventing.knative.dev/v1', 'Broker', NS, 'durable')!
  api.apply({ ...cur, status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] } })
  await waitFor(() => seen.includes(`Broker/${NS}/durable`), { what: 'the status change is reported' })
  t.equal(loads.length, before, 'no new load for a status-only update')
})

t.test('Knative Eventing not installed: empty kinds, synced, rarely listed again; installed later: watched', async (t) => {
  const api = await startFakeApiServer({ uninstalled: ['eventing.knative.dev', 'sources.knative.dev'] })
  t.teardown(() => api.close())
  const loads: ClusterLoad[] = []
  const logs: string[] = []
  const s = source(api, loads, logs)
  t.teardown(() => s.stop())
  const first = await waitFor(() => loads[0], { what: 'the first load despite the 404s' })
  t.ok(s.synced, 'every informer counts as synced')
  t.same(names(first, 'brokers'), [])
  t.match(s.stats().find((x) => x.resource === 'triggers'), { synced: true, installed: false, failures: 0 })
  t.notOk(logs.some((l) => /watch failed/.test(l) && /resource=(brokers|triggers|pingSources)\b/.test(l)), 'a missing CRD is not reported as a failing watch')
  t.equal(logs.filter((l) => /not installed/.test(l) && /resource=brokers\b/.test(l)).length, 1, 'said once')

  api.install('eventing.knative.dev')
  api.apply(broker('late', 'sluice.dev/memory'))
  await waitFor(() => names(loads.at(-1), 'brokers').join() === 'late', { what: 'the Broker created after the CRDs were installed' })
  t.match(s.stats().find((x) => x.resource === 'brokers'), { installed: true })

  // The CRDs go away while watched: the kind empties again.
  api.uninstall('eventing.knative.dev')
  await waitFor(() => names(loads.at(-1), 'brokers').length === 0, { what: 'the Broker is gone with its CRD' })
  // The DELETED events arrive before the re-list answers 404: wait for the kind to read as absent.
  await waitFor(() => s.stats().find((x) => x.resource === 'brokers')?.installed === false, { what: 'brokers read as not installed' })
  t.match(s.stats().find((x) => x.resource === 'brokers'), { installed: false })
  const lists = api.requestsFor({ verb: 'list', resource: 'pingsources' }).length
  t.ok(lists < 200, `the absent kind is listed at its slow pace, not in a tight loop (${lists} lists)`)
})

t.test('files next to the cluster: a Trigger in both is an error at the file, even when the cluster\'s is rejected', async (t) => {
  const file = load(['apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', '  name: dup', `  namespace: ${NS}`, 'spec:', '  broker: default', '  subscriber: {uri: "http://127.0.0.1:9/"}', ''].join('\n'))
  t.same(file.errors, [])
  const cluster: ClusterLoad = {
    resources: emptyResourceSet(), errors: [], files: [],
    rejected: [{ kind: 'Trigger', namespace: NS, name: 'dup', generation: 1, resourceVersion: '1', errors: [] }],
  }
  t.match(mergeLoads(file, cluster).errors.map(formatError), [/^hello\.yaml:4:\d+ metadata\.name: Trigger events\/dup also exists in the Kubernetes cluster/])
})

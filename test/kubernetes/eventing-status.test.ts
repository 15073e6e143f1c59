// The eventing status writer against the fake API server: leader only, once per change (condition
// times and key order aside), a bounded number of writes at once with the rest queued, conflicts
// retried from the object's new version, and rejected objects reported Ready=False with their errors.
import t from 'tap'
import { KubeConfig } from '@kubernetes/client-node'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { waitFor } from '../fixtures/wait.ts'
import { createLogger } from '../../gateway/log.ts'
import { EventingStatusWriter, sameStatus } from '../../control/status/eventing-status.ts'
import { clusterSource, type RawObject } from '../../control/sources/kubernetes/cluster-objects.ts'
import type { ReconcileOutput } from '../../control/reconcile/index.ts'
import type { KObject } from '../../control/resources/types.ts'
import { emptyResourceSet } from '../../control/resources/types.ts'

const NS = 'events'

t.test('sameStatus: lastTransitionTime and key order do not count; anything else does', async (t) => {
  const a = { observedGeneration: 1, address: { name: 'http', url: 'http://x/a' }, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }] }
  const b = { conditions: [{ lastTransitionTime: '2027-01-01T00:00:00Z', status: 'True', type: 'Ready' }], address: { url: 'http://x/a', name: 'http' }, observedGeneration: 1 }
  t.ok(sameStatus(a, b))
  t.notOk(sameStatus(a, { ...b, observedGeneration: 2 }))
  t.notOk(sameStatus(a, { ...b, conditions: [{ type: 'Ready', status: 'True', reason: 'X' }] }))
  t.notOk(sameStatus(a, { ...b, address: { name: 'http', url: 'http://x/b' } }))
})

t.test('leader only, once per change, bounded, conflicts retried, rejected objects reported', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const kc = new KubeConfig()
  kc.loadFromFile(api.kubeconfig())
  const N = 40
  for (let i = 0; i < N; i++) api.apply({ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: `b${i}`, namespace: NS, annotations: { 'eventing.knative.dev/broker.class': 'sluice.dev/memory' } }, spec: {} })
  api.apply({ apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'bad', namespace: NS }, spec: { broker: 'b0' } })
  let leader = false
  const writer = new EventingStatusWriter({
    kubeConfig: kc, log: createLogger('error'), isLeader: () => leader, maxInFlight: 4, retryMs: 20,
    current: (bucket, ns, name) => api.get('eventing.knative.dev/v1', bucket === 'brokers' ? 'Broker' : 'Trigger', ns, name) as RawObject | undefined,
  })
  t.teardown(() => writer.stop())
  const out = (time: string): ReconcileOutput => {
    const objects: KObject[] = []
    for (let i = 0; i < N; i++) {
      objects.push({
        apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: `b${i}`, namespace: NS, labels: {}, annotations: {}, generation: 1 }, spec: {},
        source: clusterSource('Broker', NS, `b${i}`),
        status: { observedGeneration: 1, address: { name: 'http', url: `http://broker-ingress/${NS}/b${i}` }, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: time }] },
      })
    }
    // a Broker from a file (no cluster source): never written
    objects.push({ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'from-file', namespace: NS, labels: {}, annotations: {} }, spec: {}, status: { conditions: [] } })
    return { objects } as unknown as ReconcileOutput
  }
  const load = {
    resources: emptyResourceSet(), errors: [], files: [],
    rejected: [{ kind: 'Trigger', namespace: NS, name: 'bad', generation: 1, resourceVersion: '1', errors: [{ file: 'kubernetes:Trigger/events/bad', line: 0, column: 0, path: 'spec.subscriber', message: 'missing field' }] }],
  }

  writer.applied(out('2026-01-01T00:00:00Z'), load)
  t.equal(api.statusWrites.length, 0, 'a follower writes nothing')

  api.failNext({ method: 'PUT', pathIncludes: '/brokers/b3/status', status: 409 })
  const gate = api.hold({ method: 'PUT', pathIncludes: '/status' })
  leader = true
  writer.evaluate()
  await waitFor(() => gate.held === 4, { what: () => `4 writes in flight; ${gate.held}` })
  gate.release()
  await waitFor(() => api.statusWrites.length >= N + 1, { what: () => `every object written; ${api.statusWrites.length} so far` })
  t.equal(gate.maxHeld, 4, 'never more than maxInFlight writes at once; the others waited their turn')
  // the server stores a status before its answer reaches the writer: wait for the count too
  await waitFor(() => writer.writes.conflict === 1 && writer.writes.ok >= N + 1 && api.get('eventing.knative.dev/v1', 'Broker', NS, 'b3')?.['status'] !== undefined, { what: () => `the conflict was retried; ${JSON.stringify(writer.writes)}` })
  t.equal(writer.writes.ok, N + 1)
  const bad = api.get('eventing.knative.dev/v1', 'Trigger', NS, 'bad')!
  t.match(bad['status'], { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.subscriber: missing field' }] })

  // The same statuses an hour later: nothing to write.
  const before = api.statusWrites.length
  writer.applied(out('2026-01-01T01:00:00Z'), load)
  // a change to one object is written, and only that one (evaluated after the no-op pass above)
  const changed = out('2026-01-01T02:00:00Z')
  ;(changed.objects[7]!.status as { conditions: unknown[] }).conditions = [{ type: 'Ready', status: 'False', reason: 'X', lastTransitionTime: '2026-01-01T02:00:00Z' }]
  writer.applied(changed, load)
  await waitFor(() => api.statusWrites.length === before + 1, { what: 'the one change written' })
  t.equal(api.statusWrites.at(-1)!.name, 'b7')
  t.equal(api.statusWrites.filter((w) => w.name === 'from-file').length, 0)
  t.equal(api.statusWrites.at(-1)!.by, 'test')
})

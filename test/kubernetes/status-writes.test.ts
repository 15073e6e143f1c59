// The KIngress status writer's write economy, against the fake API server with a stand-in prober
// and an informer cache the test advances by hand: a probe round that ends within the grace gives
// one write (the final status), a slow one gives the Unknown status after the grace, a
// re-evaluation before the informer has seen a write does not conflict, and the write's own
// watch echo is skipped.
import t, { type Test } from 'tap'
import { startFakeApiServer, type FakeApiServer, type KObject } from '../fixtures/fake-apiserver.ts'
import { waitFor } from '../fixtures/wait.ts'
import { IngressStatusWriter, type ReadinessProber } from '../../control/status/ingress-status.ts'
import { loadKubeConfig } from '../../control/sources/kubernetes/kube-config.ts'
import { clusterSource, type RawObject } from '../../control/sources/kubernetes/cluster-objects.ts'
import type { ReconcileOutput } from '../../control/reconcile/index.ts'
import type { LoadResult } from '../../control/sources/load.ts'
import { emptyResourceSet, type KIngress } from '../../control/resources/types.ts'
import { conditionOf, kingress } from './fixtures/cluster.ts'
import type { Logger } from '../../gateway/log.ts'

const NS = 'writes'
const API = 'networking.internal.knative.dev/v1alpha1'
const noop = () => {}
const log = { debug: noop, info: noop, warn: noop, error: noop } as unknown as Logger

class StandInProber implements ReadinessProber {
  readonly ready = new Set<string>()
  readonly probing = new Map<string, string>()
  probe(key: string, hash: string): void { this.probing.set(key, hash) }
  isReady(key: string, hash: string): boolean { return this.ready.has(key) && this.probing.get(key) === hash }
  cancel(key: string): void { this.probing.delete(key) }
  cancelAll(): void { this.probing.clear() }
}

interface Setup {
  api: FakeApiServer
  writer: IngressStatusWriter
  prober: StandInProber
  /** the informer cache: what the writer reads; sync() copies the API server into it */
  cache: Map<string, RawObject>
  sync(): void
  writes(): number
}

async function setup(t: Test, names: readonly string[], opts: { probingGraceMs?: number } = {}): Promise<Setup> {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  for (const n of names) api.apply(kingress(NS, n, [`${n}.example.com`], [{ service: 'blue' }]))
  const cache = new Map<string, RawObject>()
  const sync = () => { for (const n of names) cache.set(n, structuredClone(api.get(API, 'Ingress', NS, n)) as RawObject) }
  sync()
  const prober = new StandInProber()
  const writer = new IngressStatusWriter({
    kubeConfig: loadKubeConfig(api.kubeconfig()), log, current: (_ns, name) => cache.get(name), isLeader: () => true, prober,
    loadBalancers: () => ({ public: 'sluice.sluice-system.svc.cluster.local', private: 'sluice-internal.sluice-system.svc.cluster.local' }),
    retryMs: 50, ...opts,
  })
  t.teardown(() => writer.stop())
  // What the control loop hands over after a load: the declared KIngresses and their reconciled statuses.
  const declared = names.map((n) => {
    const o = api.get(API, 'Ingress', NS, n) as KObject
    return { apiVersion: API, kind: 'Ingress', metadata: { name: n, namespace: NS, generation: o.metadata!.generation, labels: {}, annotations: { ...o.metadata!.annotations } }, spec: o['spec'], source: clusterSource('Ingress', NS, n) } as unknown as KIngress
  })
  const resources = emptyResourceSet()
  resources.ingresses.push(...declared)
  const conds = [{ type: 'LoadBalancerReady', status: 'True' }, { type: 'NetworkConfigured', status: 'True' }]
  const out = { objects: declared.map((d) => ({ ...d, status: { conditions: conds } })) } as unknown as ReconcileOutput
  writer.applied(out, { resources, errors: [], files: [] } as LoadResult)
  return { api, writer, prober, cache, sync, writes: () => api.statusWrites.filter((w) => w.kind === 'Ingress').length }
}

const status = (s: Setup, name: string) => s.api.get(API, 'Ingress', NS, name)

t.test('a probe round that ends within the grace: one write, the final status', async (t) => {
  const s = await setup(t, ['quick'], { probingGraceMs: 60_000 })
  await waitFor(() => s.prober.probing.has(`${NS}/quick`), { what: 'probing started' })
  t.equal(s.writes(), 0, 'nothing written while the round runs')
  s.prober.ready.add(`${NS}/quick`)
  s.writer.evaluate(`${NS}/quick`)
  await waitFor(() => conditionOf(status(s, 'quick'), 'Ready')?.status === 'True', { what: 'Ready written' })
  t.equal(s.writes(), 1)
})

t.test('a slow round: the Unknown status after the grace, then Ready, without a conflict while the cache lags', async (t) => {
  const s = await setup(t, ['slow'], { probingGraceMs: 100 })
  // the server stores a status before its answer reaches the writer: wait for the writer's count too
  await waitFor(() => conditionOf(status(s, 'slow'), 'LoadBalancerReady')?.status === 'Unknown' && s.writer.writes.ok === 1, { what: 'Unknown written after the grace' })
  t.equal(s.writes(), 1)
  // The informer has not delivered the write yet (the cache still holds the first version).
  s.prober.ready.add(`${NS}/slow`)
  s.writer.evaluate(`${NS}/slow`)
  await waitFor(() => conditionOf(status(s, 'slow'), 'Ready')?.status === 'True' && s.writer.writes.ok + s.writer.writes.conflict >= 2, { what: 'Ready written' })
  t.equal(s.writer.writes.conflict, 0, 'based on the version the first write returned')
  t.equal(s.writes(), 2)
  // The echo of that write arrives: recognised, nothing evaluated or written again.
  s.sync()
  s.writer.statusChanged(NS, 'slow')
  s.writer.evaluate(`${NS}/slow`)
  t.equal(s.writes(), 2)
  t.equal(s.writer.writes.ok, 2)
})

t.test('a status overwritten by someone else is written back', async (t) => {
  const s = await setup(t, ['other'], { probingGraceMs: 0 })
  s.prober.ready.add(`${NS}/other`)
  s.writer.evaluate(`${NS}/other`)
  await waitFor(() => conditionOf(status(s, 'other'), 'Ready')?.status === 'True', { what: 'Ready written' })
  const o = status(s, 'other')!
  s.api.apply({ ...o, status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'Meddling' }] } })
  s.sync()
  s.writer.statusChanged(NS, 'other')
  await waitFor(() => conditionOf(status(s, 'other'), 'Ready')?.status === 'True', { what: 'Ready written back' })
  t.pass()
})

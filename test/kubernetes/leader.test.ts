// Two Sluice replicas against one cluster: exactly one holds the `sluice-leader` Lease and writes
// KIngress status, both serve traffic; when the leader dies (SIGKILL, no release) the other takes
// over within the lease duration and writes from then on, never interleaved with the old one; a
// leader stopped with SIGTERM releases the Lease, so the takeover does not wait for it to expire.
import t from 'tap'
import { startFakeApiServer, type FakeApiServer, type KObject } from '../fixtures/fake-apiserver.ts'
import { request, type SluiceProcess } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { tcpTap, type TcpTap } from './fixtures/tcp-tap.ts'
import { SLUICE_NS, kingress, knativeBackend, serviceFor, sluicePodSlice, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'

const NS = 'serving-tests'
const LEASE_MS = 1500 // startClusterSluice's SLUICE_LEASE_DURATION

const backend = await knativeBackend('leader-backend')
t.teardown(() => backend.close())

function holder(api: FakeApiServer): string {
  const lease = api.get<KObject & { spec?: { holderIdentity?: string } }>('coordination.k8s.io/v1', 'Lease', SLUICE_NS, 'sluice-leader')
  return lease?.spec?.holderIdentity ?? ''
}

/** The status writers in order, runs collapsed: ['sluice-a', 'sluice-b'] means a wrote, then only b. */
function writerRuns(api: FakeApiServer, from = 0): string[] {
  const runs: string[] = []
  for (const w of api.statusWrites.slice(from)) if (runs.at(-1) !== w.by) runs.push(w.by ?? '(unknown)')
  return runs
}

/** Two replicas, each a sluice-internal endpoint (so the leader probes both), and one Ready ingress. */
async function twoReplicas(teardown: (fn: () => unknown) => void): Promise<{ api: FakeApiServer; pods: Map<string, SluiceProcess>; taps: Map<string, TcpTap> }> {
  const api = await startFakeApiServer()
  teardown(() => api.close())
  for (const o of serviceFor(NS, 'leader-backend', [backend])) api.apply(o)
  const [a, b] = await Promise.all([startClusterSluice(api, { pod: 'sluice-a' }), startClusterSluice(api, { pod: 'sluice-b' })])
  teardown(() => Promise.all([a.stop(), b.stop()]))
  const pods = new Map([['sluice-a', a], ['sluice-b', b]])
  // Each endpoint goes through a counting forwarder: the test sees that the leader probed both.
  const taps = new Map<string, TcpTap>()
  for (const [pod, s] of pods) {
    const tap = await tcpTap(s.internalPort)
    teardown(() => tap.close())
    taps.set(pod, tap)
    api.apply(sluicePodSlice(pod, tap.port))
  }
  api.apply(kingress(NS, 'first', ['first.example.com'], [{ service: 'leader-backend' }]))
  await waitIngressReady(api, NS, 'first')
  return { api, pods, taps }
}

t.test('one leader writes status, both serve; SIGKILL of the leader: the other takes over', async (t) => {
  const { api, pods, taps } = await twoReplicas((fn) => t.teardown(fn))
  const leader = await waitFor(() => holder(api), { what: 'a Lease holder' })
  t.ok(pods.has(leader), `the Lease is held by one of the replicas (${leader})`)
  for (const [pod, tap] of taps) t.ok(tap.connections > 0, `the leader probed ${pod} through its sluice-internal endpoint (${tap.connections} connections)`)
  const other = [...pods.keys()].find((p) => p !== leader)!
  t.ok(api.statusWrites.length > 0, 'status was written')
  t.same(writerRuns(api), [leader], 'every status write so far comes from the leader')
  for (const [pod, s] of pods) t.equal((await request(s.port, 'first.example.com', '/')).status, 200, `${pod} serves traffic`)

  const writesBefore = api.statusWrites.length
  const killedAt = performance.now()
  pods.get(leader)!.child.kill('SIGKILL')
  // The dead pod's endpoint goes away, as the kubelet would have it.
  api.delete('discovery.k8s.io/v1', 'EndpointSlice', SLUICE_NS, `sluice-internal-${leader}`)
  await waitFor(() => holder(api) === other, { what: () => `${other} holding the Lease; holder is ${holder(api)}`, timeoutMs: 20_000 })
  const tookMs = performance.now() - killedAt
  t.ok(tookMs < LEASE_MS + 5000, `${other} leads within the lease duration + margin (${Math.round(tookMs)} ms)`)

  api.apply(kingress(NS, 'second', ['second.example.com'], [{ service: 'leader-backend' }]))
  await waitIngressReady(api, NS, 'second')
  t.equal((await request(pods.get(other)!.port, 'second.example.com', '/')).status, 200, `${other} serves the new ingress`)
  const after = api.statusWrites.slice(writesBefore)
  t.ok(after.length > 0, 'status writes continue after the takeover')
  t.same([...new Set(after.map((w) => w.by))], [other], `every write after the kill comes from ${other}`)
  t.same(writerRuns(api), [leader, other], 'the writers never interleave: the old leader, then only the new one')
  t.equal(api.statusWrites.filter((w) => w.by !== leader && w.by !== other).length, 0, 'no write from anyone else')
})

t.test('SIGTERM of the leader releases the Lease: the other takes over before it would expire', async (t) => {
  const { api, pods } = await twoReplicas((fn) => t.teardown(fn))
  const leader = await waitFor(() => holder(api), { what: 'a Lease holder' })
  const other = [...pods.keys()].find((p) => p !== leader)!
  const stoppedAt = performance.now()
  const code = await pods.get(leader)!.stop('SIGTERM')
  t.equal(code, 0, 'the leader exits cleanly')
  t.not(holder(api), leader, 'the Lease no longer names the stopped leader once it has exited')
  await waitFor(() => holder(api) === other, { what: () => `${other} holding the Lease; holder is ${holder(api)}`, timeoutMs: 20_000 })
  const tookMs = performance.now() - stoppedAt
  t.ok(tookMs < LEASE_MS, `${other} leads sooner than the lease duration (${Math.round(tookMs)} ms < ${LEASE_MS} ms)`)
  api.delete('discovery.k8s.io/v1', 'EndpointSlice', SLUICE_NS, `sluice-internal-${leader}`)
  const writesBefore = api.statusWrites.length
  api.apply(kingress(NS, 'third', ['third.example.com'], [{ service: 'leader-backend' }]))
  await waitIngressReady(api, NS, 'third')
  t.same([...new Set(api.statusWrites.slice(writesBefore).map((w) => w.by))], [other], `status is written by ${other} now`)
  t.same(writerRuns(api), [leader, other], 'the writers never interleave')
})

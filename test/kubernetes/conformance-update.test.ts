// Knative's `update` conformance scenario (test/conformance/ingress/update.go) against a real
// `sluice serve --kubernetes`: a sequential prober runs on the host the whole time; ten updates that
// only change a sentinel header, then ten that each move the KIngress to a fresh backend Service
// (whose predecessor — Service, EndpointSlice and process — is removed right after Ready). Every
// probe must be 200, and the very next request after each Ready must carry the new sentinel.
import t from 'tap'
import type { Backend } from '../fixtures/backend.ts'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import { startProber } from './fixtures/prober.ts'

const NS = 'serving-tests'
const HOST = 'update.example.com'

t.test('update: header-only updates, then fresh backends each time, without a single non-200', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const backends = new Set<Backend>()
  t.teardown(() => Promise.all([...backends].map((b) => b.close())))
  const fresh = async (name: string): Promise<Backend> => {
    const b = await knativeBackend(name)
    backends.add(b)
    for (const o of serviceFor(NS, name, [b])) api.apply(o)
    return b
  }
  let current = await fresh('update-0')
  api.apply(kingress(NS, 'update', [HOST], [{ service: 'update-0', appendHeaders: { 'Update-Sentinel': 's0' } }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'update')

  const sentinelNow = async (): Promise<{ sentinel: string; backend: string }> => {
    const r = await request(sluice.port, HOST, '/')
    if (r.status !== 200) return { sentinel: `status ${r.status}`, backend: '' }
    const b = JSON.parse(r.body) as { backend: string; headers: Record<string, string> }
    return { sentinel: b.headers['update-sentinel'] ?? '', backend: b.backend }
  }
  t.equal((await sentinelNow()).sentinel, 's0')

  const prober = startProber(sluice.port, HOST)
  t.teardown(() => prober.stop())

  for (let i = 1; i <= 10; i++) {
    api.apply(kingress(NS, 'update', [HOST], [{ service: current.name, appendHeaders: { 'Update-Sentinel': `h${i}` } }]))
    await waitIngressReady(api, NS, 'update')
    t.equal((await sentinelNow()).sentinel, `h${i}`, `header update ${i}: the next request after Ready carries it`)
  }

  for (let i = 1; i <= 10; i++) {
    const name = `update-${i}`
    const next = await fresh(name)
    api.apply(kingress(NS, 'update', [HOST], [{ service: name, appendHeaders: { 'Update-Sentinel': `b${i}` } }]))
    await waitIngressReady(api, NS, 'update')
    t.same(await sentinelNow(), { sentinel: `b${i}`, backend: name }, `backend update ${i}: the next request after Ready reaches ${name}`)
    // Then the previous version goes: its Service, its EndpointSlice and its process.
    const old = current
    current = next
    api.delete('v1', 'Service', NS, old.name)
    api.delete('discovery.k8s.io/v1', 'EndpointSlice', NS, `${old.name}-${old.port}`)
    await old.close()
    backends.delete(old)
  }

  const { sent, failures } = await prober.stop()
  t.comment(`prober: ${sent} requests, ${failures.length} not 200`)
  t.ok(sent > 20, `the prober ran throughout (${sent} requests)`)
  t.same(failures, [], 'every probe was a 200')
})

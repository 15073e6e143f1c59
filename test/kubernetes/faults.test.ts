// Sluice in Kubernetes mode when the API server misbehaves: down when Sluice starts, watch
// connections cut, history compacted under a watch (410 Gone, relist), status writes conflicting,
// and the API server away for a while with changes made meanwhile. Each time Sluice converges on
// what the cluster says, and keeps serving its last good table while it cannot know.
import { createServer } from 'node:net'
import t from 'tap'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { getIngress, kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'

const NS = 'serving-tests'

const backend = await knativeBackend('faults')
t.teardown(() => backend.close())

/** The sentinel header the request reached the backend with, or `status N`. */
async function served(port: number, host: string): Promise<string> {
  const r = await request(port, host, '/').catch((e: Error) => ({ status: 0, body: e.message }))
  if (r.status !== 200) return `status ${r.status}`
  return (JSON.parse(r.body) as { headers: Record<string, string> }).headers['sentinel'] ?? '(none)'
}

const servedAs = (port: number, host: string, want: string) =>
  waitFor(async () => (await served(port, host)) === want, { what: `${host} served with sentinel ${want}`, timeoutMs: 30_000 })

t.test('the API server is down when Sluice starts: it converges once the server is up', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  for (const o of serviceFor(NS, 'faults', [backend])) api.apply(o)
  api.apply(kingress(NS, 'early', ['early.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 'early' } }]))
  await api.down()
  // While it is down, something on its port cuts every connection at once (as a refused one would
  // fail), and counts them: so the test knows Sluice really tried and failed before the server is up.
  let attempts = 0
  const cutter = createServer((s) => { attempts++; s.destroy() })
  await new Promise<void>((r) => cutter.listen(api.port, '127.0.0.1', r))
  const starting = startClusterSluice(api)
  starting.catch(() => {}) // awaited below; a rejection before that is not unhandled
  await waitFor(() => attempts >= 7, { what: () => `Sluice trying the API server (lease + 6 lists; ${attempts} so far)`, timeoutMs: 30_000 })
  await new Promise<void>((r) => cutter.close(() => r()))
  await api.up()
  const sluice = await starting
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'early')
  t.equal(await served(sluice.port, 'early.example.com'), 'early', 'served once the API server came up')
  t.match(sluice.logs(), /WARN  watch failed; retrying/, 'the failed lists were reported')
})

t.test('a shared Sluice through watch faults', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  for (const o of serviceFor(NS, 'faults', [backend])) api.apply(o)
  api.apply(kingress(NS, 'stay', ['stay.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 's1' } }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'stay')
  t.equal(await served(sluice.port, 'stay.example.com'), 's1', 'served before the faults')

  t.test('watch connections dropped, then a change: served', async (t) => {
    await waitFor(() => api.watchCount > 0, { what: 'Sluice watching' })
    api.dropWatches()
    api.apply(kingress(NS, 'stay', ['stay.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 's2' } }]))
    api.apply(kingress(NS, 'after-drop', ['after-drop.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 'd' } }]))
    await waitIngressReady(api, NS, 'stay')
    await waitIngressReady(api, NS, 'after-drop')
    t.equal(await served(sluice.port, 'stay.example.com'), 's2', 'the change made while the watches reconnected is served')
    t.equal(await served(sluice.port, 'after-drop.example.com'), 'd', 'a new ingress made meanwhile is served')
  })

  t.test('compaction mid-watch while objects change: converges after the relist', async (t) => {
    await waitFor(() => api.watchCount > 0, { what: 'Sluice watching' })
    // Changes right after the 410: the watches resume from a compacted resourceVersion and must relist.
    api.compact({ notifyWatches: true })
    api.delete('networking.internal.knative.dev/v1alpha1', 'Ingress', NS, 'after-drop')
    api.apply(kingress(NS, 'after-compact', ['after-compact.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 'c' } }]))
    api.compact({ notifyWatches: true })
    await waitIngressReady(api, NS, 'after-compact')
    t.equal(await served(sluice.port, 'after-compact.example.com'), 'c', 'the ingress created across the compaction is served')
    await servedAs(sluice.port, 'after-drop.example.com', 'status 404')
    t.pass('the ingress deleted across the compaction is no longer served')
    t.equal(await served(sluice.port, 'stay.example.com'), 's2', 'the unchanged one keeps serving')
  })

  t.test('status writes conflicting (409) three times: the status still ends Ready', async (t) => {
    const before = api.requestsFor({ subresource: 'status', name: 'conflicted' }).length
    api.failNext({ method: 'PUT', pathIncludes: '/status', status: 409, count: 3 })
    api.apply(kingress(NS, 'conflicted', ['conflicted.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 'x' } }]))
    await waitIngressReady(api, NS, 'conflicted')
    const writes = api.requestsFor({ subresource: 'status' }).filter((q) => q.method === 'PUT').length
    t.ok(writes >= 4, `status writes were retried after the conflicts (${writes} PUTs in all, ${api.requestsFor({ subresource: 'status', name: 'conflicted' }).length - before} for this one)`)
    t.equal(await served(sluice.port, 'conflicted.example.com'), 'x', 'and it is served')
  })

  t.test('the API server away for a while: the last good table serves; changes made meanwhile converge', async (t) => {
    await api.down()
    const failedBefore = (sluice.logs().match(/watch failed/g) ?? []).length
    await waitFor(() => (sluice.logs().match(/watch failed/g) ?? []).length > failedBefore, { what: 'Sluice noticed the API server is gone', timeoutMs: 30_000 })
    t.equal(await served(sluice.port, 'stay.example.com'), 's2', 'the last good table keeps serving while the API server is down')
    t.equal(await served(sluice.port, 'conflicted.example.com'), 'x', 'all of it')
    api.apply(kingress(NS, 'stay', ['stay.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 's3' } }]))
    api.apply(kingress(NS, 'while-down', ['while-down.example.com'], [{ service: 'faults', appendHeaders: { Sentinel: 'w' } }]))
    api.delete('networking.internal.knative.dev/v1alpha1', 'Ingress', NS, 'conflicted')
    // The outage lasts until Sluice has retried and failed again at least once (no fixed wait).
    const failedNow = (sluice.logs().match(/watch failed/g) ?? []).length
    await waitFor(() => (sluice.logs().match(/watch failed/g) ?? []).length > failedNow, { what: 'a retry that failed while the API server is down', timeoutMs: 30_000 })
    t.equal(await served(sluice.port, 'stay.example.com'), 's2', 'still the last good table')
    await api.up()
    await waitIngressReady(api, NS, 'stay', 45_000)
    await waitIngressReady(api, NS, 'while-down', 45_000)
    t.equal(await served(sluice.port, 'stay.example.com'), 's3', 'the change made while down is served')
    t.equal(await served(sluice.port, 'while-down.example.com'), 'w', 'the ingress created while down is served')
    await servedAs(sluice.port, 'conflicted.example.com', 'status 404')
    t.pass('the ingress deleted while down is no longer served')
    t.equal(getIngress(api, NS, 'conflicted'), undefined, 'it is gone from the cluster')
  })
})

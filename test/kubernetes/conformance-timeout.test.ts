// knative/networking ingress conformance, ported (timeout.go): no route or stream timeout of 10 s
// or less, neither before the response headers nor between them and the body. The two slow cases
// run in parallel so the file takes about 10 s.
import t from 'tap'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import { kingressOf, runtimeService, timeoutHandler, uniq } from './fixtures/conformance.ts'

const NS = 'serving-tests'

t.test('timeout: 10 s before the headers, or 10 s of silence after them, still → 200', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const timers = new Set<NodeJS.Timeout>()
  t.teardown(() => { for (const tm of timers) clearTimeout(tm) })
  const name = uniq('timeout')
  const b = await runtimeService(api, NS, name, timeoutHandler(timers))
  t.teardown(() => b.close())
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths: [{ splits: [{ service: name }] }] }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, name)

  const host = `${name}.example.com`
  const get = (q: string) => request(sluice.port, host, `/?${q}`, { timeoutMs: 30_000 })
  const [none, before, after] = await Promise.all([
    get('initialTimeout=0&timeout=0'),
    get('initialTimeout=10000&timeout=0'),
    get('initialTimeout=0&timeout=10000'),
  ])
  t.equal(none.status, 200, 'no delays is OK')
  t.equal(before.status, 200, 'a 10 s delay before the headers is OK')
  t.equal(before.body, 'Slept for 10000 milliseconds')
  t.equal(after.status, 200, 'a 10 s delay after the headers is OK')
  t.equal(after.body, 'Slept for 10000 milliseconds', 'the whole body arrives after the silence')
})

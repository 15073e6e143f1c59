// KIngress conformance dispatch/percentage, dispatch/path_and_percentage and visibility/split
// against a real `sluice serve`: 1000 requests, 8 at a time, counted per backend.
import t from 'tap'
import type { Test } from 'tap'
import { Pool, request } from 'undici'
import { startBackend, type Backend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { coreBackend, kingress, send, yamlDocs } from './helpers.ts'

const PERCENTS = [1, 2, 4, 8, 16, 32, 37, 0, 0, 0]
const splitBackends: Backend[] = await Promise.all(PERCENTS.map((_, i) => startBackend(`s${i}`)))
const blue = await startBackend('blue')
const green = await startBackend('green')
const other = await startBackend('other')
for (const b of [...splitBackends, blue, green, other]) t.teardown(() => b.close())

const files = {
  'backends.yaml': yamlDocs(
    ...splitBackends.flatMap((b, i) => coreBackend(`s${i}`, b.port, { slice: i % 2 === 0 })),
    ...coreBackend('blue', blue.port), ...coreBackend('green', green.port), ...coreBackend('other', other.port),
  ),
  'ingresses.yaml': yamlDocs(
    kingress('percentage', [{ hosts: ['percentage.example.com'], paths: [{ splits: PERCENTS.map((percent, i) => ({ service: `s${i}`, percent })) }] }]),
    kingress('local-percentage', [{
      hosts: ['split.default.svc.cluster.local'], visibility: 'ClusterLocal',
      paths: [{ splits: PERCENTS.map((percent, i) => ({ service: `s${i}`, percent })) }],
    }]),
    kingress('path-and-percentage', [{
      hosts: ['pp.example.com'],
      paths: [
        { path: '/foo', splits: [{ service: 'blue', percent: 50 }, { service: 'green', percent: 50 }] },
        { splits: [{ service: 'other' }] },
      ],
    }]),
  ),
}
const s = await startSluice(files)
t.teardown(() => s.stop())

/** `total` GETs, `concurrency` at a time over keep-alive connections; counts by x-backend. */
async function distribute(port: number, host: string, path: string, total = 1000, concurrency = 8): Promise<Map<string, number>> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency })
  const counts = new Map<string, number>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++
      const r = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: pool, headers: { host }, headersTimeout: 5000, bodyTimeout: 5000 })
      await r.body.dump()
      const name = r.statusCode === 200 ? String(r.headers['x-backend']) : `status ${r.statusCode}`
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker))
  } finally {
    await pool.close()
  }
  return counts
}

function checkPercentages(t: Test, counts: Map<string, number>, total: number): void {
  t.same([...counts.keys()].filter((k) => !/^s\d$/.test(k)), [], 'every answer came from a split backend')
  PERCENTS.forEach((percent, i) => {
    const got = counts.get(`s${i}`) ?? 0
    const share = (got * 100) / total
    if (percent === 0) t.equal(got, 0, `s${i} (0%) gets nothing`)
    else t.ok(Math.abs(share - percent) <= 10, `s${i}: ${share.toFixed(1)}% within 10 points of ${percent}%`)
  })
}

t.test('dispatch/percentage: 1, 2, 4, 8, 16, 32, 37, 0, 0, 0 over 1000 requests', async (t) => {
  const counts = await distribute(s.port, 'percentage.example.com', '/')
  checkPercentages(t, counts, 1000)
  t.equal([...counts.values()].reduce((a, b) => a + b, 0), 1000)
})

t.test('dispatch/path_and_percentage: /foo 50/50, each 500 ± 150, the catch-all never', async (t) => {
  const counts = await distribute(s.port, 'pp.example.com', '/foo')
  t.same([...counts.keys()].sort(), ['blue', 'green'])
  for (const name of ['blue', 'green']) {
    const n = counts.get(name) ?? 0
    t.ok(Math.abs(n - 500) <= 150, `${name}: ${n} within 500 ± 150`)
  }
  t.equal(other.requests.length, 0)
  const r = await send(s.port, 'pp.example.com', { path: '/elsewhere' })
  t.equal(r.headers['x-backend'], 'other', 'other paths reach the catch-all')
})

t.test('visibility/split: the same weights on a ClusterLocal rule via the internal port; 404 in public', async (t) => {
  t.equal((await send(s.port, 'split.default.svc.cluster.local')).status, 404)
  for (const b of splitBackends) b.requests.length = 0
  const counts = await distribute(s.internalPort, 'split.default.svc.cluster.local', '/')
  checkPercentages(t, counts, 1000)
})

// Starting instances are probed every 2 ms, but when many start at once their probes are spaced
// out (0.5 ms × instances starting, at most 50 ms apart), so a scale-up does not spend a core on
// probes. Counted at an HTTP server that fails every readiness probe it gets.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { harness, revision, sleep, waitFor } from './fixtures/helpers.ts'

let probes = 0
const server = http.createServer((_req, res) => { probes++; res.writeHead(503).end() })
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
const port = (server.address() as AddressInfo).port
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))

/** Probes per second over one second, once `n` never-ready instances are starting. */
async function rate(t: { teardown(fn: () => unknown): void }, n: number): Promise<number> {
  const { rt } = harness(t)
  const rev = revision({ command: ['sleep', '60'], readinessProbe: { httpGet: { port, path: '/' } } })
  rt.setRevisions([rev])
  rt.scale(rev.key, n)
  await waitFor(() => rt.status(rev.key).starting === n, `${n} starting instances`)
  await sleep(300)
  const before = probes
  await sleep(1_000)
  return probes - before
}

t.test('one starting instance is probed about every 2 ms', async (t) => {
  const r = await rate(t, 1)
  t.ok(r >= 100 && r <= 520, `${r} probes in 1 s`)
})

t.test('twenty starting instances share about one probe per 0.5 ms', async (t) => {
  const r = await rate(t, 20)
  // Without spacing: 20 × 500 = 10,000 per second. Each is still probed at least every 50 ms.
  t.ok(r >= 20 * 15 && r <= 2_400, `${r} probes in 1 s`)
})

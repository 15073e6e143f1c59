// Starting instances are probed every 2 ms, but when many start at once their probes are spaced
// out (0.5 ms × instances starting, at most 50 ms apart), so a scale-up does not spend a core on
// probes. Counted at an HTTP server that fails every readiness probe it gets, as rates over the
// window actually measured. A loaded machine only lowers the rates, so the upper bounds are exact;
// the lower bounds sit ten times below the designed rates and only catch a lost aggressive probe.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { harness, revision, waitFor } from './fixtures/helpers.ts'

/** probes counted per measurement: about 0.4 s at the designed rate of one instance */
const WINDOW = 200

let probes = 0
const server = http.createServer((_req, res) => { probes++; res.writeHead(503).end() })
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
const port = (server.address() as AddressInfo).port
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))

/** Probes per second once `n` never-ready instances are probing, measured over the next WINDOW probes. */
async function rate(t: { teardown(fn: () => unknown): void }, n: number): Promise<number> {
  const { rt } = harness(t)
  const rev = revision({ command: ['sleep', '60'], readinessProbe: { httpGet: { port, path: '/' } } })
  rt.setRevisions([rev])
  const start = probes
  rt.scale(rev.key, n)
  await waitFor(() => rt.status(rev.key).starting === n, `${n} starting instances`)
  await waitFor(() => probes - start >= 2 * n, `probes from the ${n} starting instances`)
  const before = probes
  const t0 = performance.now()
  // The window ends when enough probes came (a loaded machine only makes it longer).
  await waitFor(() => probes - before >= WINDOW, `${WINDOW} probes from ${n} starting instances`)
  return (probes - before) / ((performance.now() - t0) / 1000)
}

let one = 0

t.test('one starting instance is probed about every 2 ms', async (t) => {
  one = await rate(t, 1)
  t.ok(one <= 600, `${one.toFixed(0)} probes/s: never more often than every 2 ms`)
  t.ok(one >= 50, `${one.toFixed(0)} probes/s: aggressively (periodSeconds would be 0.1/s)`)
})

t.test('twenty starting instances share about one probe per 0.5 ms', async (t) => {
  const twenty = await rate(t, 20)
  // Without spacing: 20 × 500 = 10,000 per second and 20 times the rate of one. Each is still
  // probed at least every 50 ms (400/s for twenty).
  t.ok(twenty <= 2_400, `${twenty.toFixed(0)} probes/s in all`)
  t.ok(twenty <= one * 10, `${(twenty / one).toFixed(1)}× the probes of one instance, not 20×`)
  t.ok(twenty >= 40, `${twenty.toFixed(0)} probes/s: every instance is still probed`)
})

// A collector that never answers must not slow or fail requests: at 100% sampling, spans beyond
// the bounded export queue are dropped and counted in sluice_tracing_spans_dropped_total.
import t from 'tap'
import http from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, metric, request, serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { startOtlpReceiver } from '../fixtures/otlp-receiver.ts'
import { configMapYaml } from '../activator/fixtures/helpers.ts'

const receiver = await startOtlpReceiver()
receiver.hang = true
t.teardown(() => receiver.close())
const backend = await startBackend('bp')
t.teardown(() => backend.close())
const s = await startSluice({
  'observability.yaml': configMapYaml('config-observability', { 'tracing-protocol': 'http/protobuf', 'tracing-endpoint': receiver.url, 'tracing-sampling-rate': '1' }),
  'svc.yaml': serviceYaml('bp', backend.origin),
})
t.teardown(() => s.stop())
const host = 'bp.default.localhost'
t.ok(await eventually(async () => (await request(s.port, host)).status === 200, 60_000, 100), 'served')

t.test('requests go on while the collector hangs; the overflow is dropped and counted', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 })
  t.teardown(() => agent.destroy())
  // 2 spans a request: 2000 requests overflow the 2048-span queue even with one batch taken out.
  let ok = 0
  for (let i = 0; i < 20; i++) {
    const rs = await Promise.all(Array.from({ length: 100 }, () => request(s.port, host, '/', { agent })))
    ok += rs.filter((r) => r.status === 200).length
  }
  t.equal(ok, 2000, 'every request answered 200')
  t.ok(await eventually(() => receiver.hung > 0, 10_000), 'an export reached the hanging collector')
  const dropped = metric((await s.admin('/metrics')).body, 'sluice_tracing_spans_dropped_total') ?? 0
  t.ok(dropped > 0, `spans dropped and counted (${dropped})`)
  t.equal(metric((await s.admin('/metrics')).body, 'sluice_tracing_spans_exported_total'), 0, 'nothing counted as exported')
})

// Outlier detection through a real sluice: config-sluice sets the defaults, a revision's
// annotations override them, an instance answering 502 is ejected (metrics and /debug/instances
// show it) and the other serves everything after; bad values are reported where they are written.
import t from 'tap'
import http from 'node:http'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { metric, request, startSluice, tempDir, validateErrors } from '../fixtures/sluice.ts'
import { readSettings } from '../../control/settings/read-settings.ts'
import { waitFor } from '../fixtures/wait.ts'
import { configMap } from '../control/fixtures.ts'

async function upstream(status: number) {
  const srv = http.createServer((req, res) => { req.resume(); res.writeHead(status).end(`status ${status}`) })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
}

function service(name: string, upstreams: string[], annotations: Record<string, string>): string {
  return [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  template:', '    metadata:', '      annotations:',
    `        sluice.dev/upstream: ${upstreams.join(',')}`,
    ...Object.entries(annotations).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`),
    '    spec:', '      containers:', '        - image: example.dev/hello',
  ].join('\n') + '\n'
}

const configSluice = (data: Record<string, string>): string => [
  'apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-sluice', '  namespace: knative-serving', 'data:',
  ...Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
].join('\n') + '\n'

t.test('a 502-answering instance is ejected after the annotation\'s streak; the other serves everything', async (t) => {
  const good = await upstream(200)
  const bad = await upstream(502)
  const s = await startSluice({
    'config-sluice.yaml': configSluice({ 'outlier-consecutive-gateway-errors': '4', 'outlier-base-ejection': '5m' }),
    'flaky.yaml': service('flaky', [good, bad], { 'sluice.dev/outlier-consecutive-gateway-errors': '2' }),
  })
  t.teardown(() => s.stop())
  const host = 'flaky.default.localhost'
  // 502s count from the first request on: round robin may reach the bad instance while this waits.
  let errors = 0
  await waitFor(async () => {
    const status = (await request(s.port, host)).status
    if (status === 502) errors++
    return status === 200
  }, { what: 'the route serves' })
  const ejections = async () => metric((await s.admin('/metrics')).body, 'sluice_outlier_ejections_total', { revision: 'flaky-00001' }) ?? 0
  for (let i = 0; i < 200 && (await ejections()) === 0; i++) if ((await request(s.port, host)).status === 502) errors++
  t.equal(await ejections(), 1, 'ejected')
  t.equal(errors, 2, 'after two 502s: the annotation (2) wins over config-sluice (4)')
  const after: number[] = []
  for (let i = 0; i < 40; i++) after.push((await request(s.port, host)).status)
  t.same([...new Set(after)], [200], 'no client-visible error after the ejection')
  const d = JSON.parse((await s.admin('/debug/instances')).body) as { upstreams: Record<string, { id: string; ejected: boolean; ejectedForMs?: number; ejections: number }[]> }
  const insts = d.upstreams['revision/default/flaky-00001'] ?? []
  const badInst = insts.find((i) => i.id === bad)
  t.equal(badInst?.ejected, true, '/debug/instances shows the ejected instance')
  t.ok((badInst?.ejectedForMs ?? 0) > 60_000, `for config-sluice's base ejection (5m), ${badInst?.ejectedForMs} ms left`)
  t.equal(insts.find((i) => i.id === good)?.ejected, false)
  t.equal(metric((await s.admin('/metrics')).body, 'sluice_outlier_ejected_instances', { revision: 'flaky-00001' }), 1)
})

t.test('bad values are reported where they are written', async (t) => {
  const bad = readSettings([configMap('config-sluice', { 'outlier-base-ejection': 'soon', 'outlier-max-ejection-percent': '150', 'breaker-max-pending': '10' })])
  t.same(bad.errors.map((e) => e.path), ['data.outlier-base-ejection', 'data.outlier-max-ejection-percent'])
  t.match(bad.errors[0]!.message, /config-sluice: outlier-base-ejection must be a duration from 1ms to 5m such as "30s"/)
  t.equal(bad.settings.sluice.resilience.outlier.baseEjectionMs, 30_000, 'a bad value keeps the default')
  t.equal(bad.settings.sluice.resilience.breaker.maxPending, 10, 'the good ones apply')

  const dir = tempDir('sluice-outlier-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'svc.yaml'), service('svc', ['http://127.0.0.1:9'], {
    'sluice.dev/outlier-consecutive-5xx': 'five',
    'sluice.dev/outlier-base-ejection': '30',
    'sluice.dev/outlier-max-ejction-percent': '10',
  }))
  writeFileSync(path.join(dir, 'route.yaml'), [
    'apiVersion: serving.knative.dev/v1', 'kind: Route', 'metadata:', '  name: r', '  annotations:', '    sluice.dev/retry-attempts: "many"',
    'spec:', '  traffic:', '    - configurationName: svc', '      percent: 100',
  ].join('\n') + '\n')
  const lines = (await validateErrors(dir)).sort()
  t.equal(lines.length, 3, lines.join('\n'))
  t.match(lines[0], /route\.yaml:6:\d+ metadata\.annotations\["sluice\.dev\/retry-attempts"\]: sluice\.dev\/retry-attempts must be a whole number from 0 to 10/)
  lines.shift()
  t.match(lines[0], /svc\.yaml:10:\d+ spec\.template\.metadata\.annotations\["sluice\.dev\/outlier-consecutive-5xx"\]: sluice\.dev\/outlier-consecutive-5xx must be a whole number from 0 to 1000000 \(0 turns it off\), got "five"/)
  t.match(lines[1], /svc\.yaml:12:\d+ .*unknown annotation sluice\.dev\/outlier-max-ejction-percent; the outlier, breaker and retry budget annotations are/)
})

// A local instance that outlier detection ejects again and again is restarted: two instances of an
// app that answers every request with 502 take turns being ejected (the 50% cap keeps one in), the
// ejections grow longer, and the third ejection in a row replaces the instance with a new process.
import t from 'tap'
import { request, startSluice } from '../fixtures/sluice.ts'
import { appServiceYaml, host, instances } from './fixtures/helpers.ts'
import { waitFor } from '../fixtures/wait.ts'

const TAG = `outlier-restart-${process.pid}`
const APP_502 = "require('http').createServer((q, r) => { r.writeHead(q.url === '/ready' ? 200 : 502); r.end() }).listen(process.env.PORT)"

const s = await startSluice({
  'sick.yaml': appServiceYaml(TAG, {
    name: 'sick', readinessPath: '/ready',
    command: [process.execPath, '-e', APP_502, '--', `--tag=${TAG}`],
    annotations: {
      'autoscaling.knative.dev/min-scale': '2',
      'sluice.dev/outlier-consecutive-gateway-errors': '2',
      'sluice.dev/outlier-base-ejection': '300ms',
    },
  }),
})
t.teardown(() => s.stop())

t.test('an instance ejected three times in a row is restarted', async (t) => {
  await waitFor(async () => (await instances(s))['default/sick-00001']?.ready === 2, { what: 'two ready instances', timeoutMs: 60_000 })
  const before = new Set((await instances(s))['default/sick-00001']!.instances.map((i) => i.id))
  const restarts = async () => ((JSON.parse((await s.admin('/debug/instances')).body) as { outlierRestarts?: number }).outlierRestarts ?? 0)
  await waitFor(async () => {
    await request(s.port, host('sick'))
    return (await restarts()) > 0
  }, { what: 'an instance restarted by outlier detection', timeoutMs: 60_000 })
  await waitFor(async () => {
    const now = (await instances(s))['default/sick-00001']
    return now !== undefined && now.instances.some((i) => !before.has(i.id) && i.state === 'ready')
  }, { what: 'a new instance takes its place', timeoutMs: 60_000 })
  t.pass('restarted')
})

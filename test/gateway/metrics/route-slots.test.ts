// Route slots: Knative's revision labels and the exact status code on every request series, with
// the code's cardinality bounded by the 100–599 array (anything else is `other`), read through a
// real prom-client Registry the way /metrics reads them.
import t from 'tap'
import { Registry } from 'prom-client'
import { RouteSlot, RouteSlots } from '../../../gateway/metrics/route-slots.ts'
import { GatewayMetrics } from '../../../gateway/metrics/gateway-metrics.ts'
import { RevisionThrottler } from '../../../gateway/activator/throttler.ts'
import { metric } from '../../fixtures/sluice.ts'

const target = { revision: 'hello-00001', service: 'hello', configuration: 'hello' }

t.test('codes are counted exactly, in ascending order, out-of-range ones as other', async (t) => {
  const s = new RouteSlot('default', 'hello', target)
  t.same(s.codes(), [], 'an idle slot has no codes')
  for (const code of [503, 200, 200, 404, 999, 0, 200, 599, 100]) s.record(code, 0.01)
  t.same(s.codes(), [['100', 1], ['200', 3], ['404', 1], ['503', 1], ['599', 1], ['other', 2]])
  t.equal(s.count(1), 3, '2xx')
  t.equal(s.count(4), 4, '5xx counts 503, 599 and both out-of-range codes')
  t.equal(s.count(0), 1, '1xx')
})

t.test('series carry namespace, service, configuration, revision, route, code and class', async (t) => {
  const m = new GatewayMetrics()
  const registry = new Registry()
  const throttler = new RevisionThrottler('revision/default/hello-00001', 'default', 'hello-00001', { demand() {}, waiting() {} })
  m.register(registry, { inflight: () => 0, throttlers: () => [throttler] })
  const a = m.slots.slot('default', 'hello', target)
  t.equal(m.slots.slot('default', 'hello', { ...target }), a, 'one slot per label set')
  const local = m.slots.slot('default', 'hello', null)
  a.record(200, 0.002)
  a.record(200, 0.002)
  a.record(502, 0.5)
  local.record(401, 0.001)
  const body = await registry.metrics()
  const labels = { namespace: 'default', service: 'hello', configuration: 'hello', revision: 'hello-00001', route: 'hello' }
  t.equal(metric(body, 'sluice_requests_total', { ...labels, code: '200', class: '2xx' }), 2)
  t.equal(metric(body, 'sluice_requests_total', { ...labels, code: '502', class: '5xx' }), 1)
  t.equal(metric(body, 'sluice_requests_total', { route: 'hello', revision: '', service: '', code: '401', class: '4xx' }), 1, 'the route\'s own answers')
  t.equal(metric(body, 'sluice_request_duration_seconds_count', { ...labels, class: '2xx' }), 2, 'durations stay by class')
  t.notMatch(body, /sluice_request_duration_seconds_count\{[^}]*code=/, 'no code label on the histogram')
  t.equal(metric(body, 'sluice_revision_info', { namespace: 'default', service: 'hello', configuration: 'hello', revision: 'hello-00001' }), 1)
  t.equal(metric(body, 'sluice_activator_queue_depth', { namespace: 'default', service: 'hello', configuration: 'hello', revision: 'hello-00001' }), 0,
    'activator series get the Service and Configuration of the routed revision')
})

t.test('a revision no route sends traffic to has empty service and configuration', async (t) => {
  const slots = new RouteSlots()
  t.same(slots.labels('default', 'ghost-00001'), { namespace: 'default', service: '', configuration: '', revision: 'ghost-00001' })
})

// End to end on one Gateway: an event POSTed to the broker ingress is delivered to a subscriber
// that is a route of the same gateway, reached through the gateway's own internal listener
// (Destination.connectTo, Host from the URL), so the request goes through the route table and the
// activator's throttler like any other request; and the metrics of both paths pass promtool.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { Registry } from 'prom-client'
import { RouteSlot } from '../../../gateway/metrics/route-slots.ts'
import type { Backend, RouteTable, Split } from '../../../gateway/route-table.ts'
import { broker, ceHeaders, dest, gatewayWith, post, sink, table, trigger } from './helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

const SUB_HOST = 'subscriber.default.svc.cluster.local'

function routeTo(origin: string): RouteTable {
  const b: Backend = {
    key: 'default/subscriber-00001', namespace: 'default', revision: 'subscriber-00001', protocol: 'http1', origins: [origin], totalMs: 0, responseStartMs: 0, idleMs: 0,
    firstByteMs: 0, containerConcurrency: 1, managed: false, throttler: null,
  }
  const split: Split = { backend: b, upTo: 100, setHeaders: [], setNames: new Set<string>(), rewriteHost: null, probeHash: '', slot: new RouteSlot('default', 'subscriber', b) }
  const vh = {
    owner: 'default/subscriber', route: { namespace: 'default', name: 'subscriber' }, plugins: null, localSlot: new RouteSlot('default', 'subscriber', null),
    paths: [{ prefix: '/', matchNames: [], matchValues: [], splits: [split], total: 100 }], redirectHttps: false, allowTrace: false,
  }
  const internal = { exact: new Map([[SUB_HOST, vh]]), suffixes: [], any: null }
  const external = { exact: new Map(), suffixes: [], any: null }
  return { version: 1, external, internal, backends: new Map([[b.key, b]]), routeCount: 1, trustedProxies: null } as unknown as RouteTable
}

t.test('trigger → the gateway\'s own route (activator path) → subscriber', async (t) => {
  const sub = await sink()
  // The gateway starts with no eventing; the table comes once the internal port is known.
  const { g, internalPort } = await gatewayWith(table([]))
  const routes = routeTo(sub.origin)
  g.swap(routes)
  const tr = trigger('to-service', dest(`http://${SUB_HOST}/events`, `http://127.0.0.1:${internalPort}`))
  await g.swapEventing(table([broker('default/default', [tr])]))
  for (let i = 0; i < 20; i++) t.equal((await post(internalPort, '/default/default', ceHeaders(`e${i}`), `{"n":${i}}`)).status, 202)
  await waitFor(() => sub.seen.length === 20, { what: 'all 20 events delivered through the route' })
  const s = sub.seen[0]!
  t.equal(s.url, '/events')
  t.equal(s.headers.host, SUB_HOST, 'Host from the subscriber URL')
  t.ok(s.headers['x-forwarded-for'], 'went through the gateway proxy')
  t.equal(s.headers['prefer'], 'reply')
  t.equal(new Set(sub.seen.map((x) => x.headers['ce-id'])).size, 20)
  const slot = (routes.internal.exact.get(SUB_HOST)!.paths[0]!.splits[0]!).slot
  t.equal(slot.count(1), 20, 'the route counted 20 2xx (containerConcurrency 1 queued them in the throttler)')

  const registry = new Registry()
  g.metrics.register(registry, { inflight: () => g.inflight, throttlers: () => g.activator.throttlers() })
  const text = await registry.metrics()
  t.match(text, /sluice_broker_event_count_total\{namespace_name="default",broker_name="default",response_code="202",response_code_class="2xx"\} 20/)
  t.match(text, /sluice_trigger_event_count_total\{namespace_name="default",broker_name="default",trigger_name="to-service",response_code="200",response_code_class="2xx"\} 20/)
  t.match(text, /sluice_trigger_event_dispatch_latencies_seconds_count/)
  t.match(text, /sluice_broker_queue_depth\{namespace_name="default",broker_name="default",backing="memory"\} 0/)
  const lint = execFileSync('promtool', ['check', 'metrics'], { input: text }).toString()
  t.equal(lint.trim(), '', 'promtool check metrics finds nothing')
})

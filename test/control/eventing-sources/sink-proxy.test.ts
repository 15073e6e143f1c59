// The loopback sink proxy: forwards to the internal listener with the sink's Host, only for bound hosts, 503 before the gateway listens.
import t from 'tap'
import { SinkProxy } from '../../../control/eventing-sources/sink-proxy.ts'
import { startEventSink } from './helpers.ts'

t.test('forwards bound hosts with their Host header, refuses others', async (t) => {
  const gateway = await startEventSink() // stands in for the internal listener
  let origin: string | undefined
  const proxy = new SinkProxy(() => origin)
  await proxy.listen()
  t.teardown(async () => { await proxy.close(); await gateway.close() })
  const dest = { url: 'http://broker-ingress.knative-eventing.svc.cluster.local/default/default', connectTo: 'http://unused' }
  const url = proxy.urlFor(dest)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/broker-ingress\.knative-eventing\.svc\.cluster\.local\/default\/default$/)
  t.equal(proxy.urlFor({ url: 'http://example.com/x', connectTo: null }), 'http://example.com/x', 'a directly reachable sink is left alone')

  proxy.allow(new Set(['broker-ingress.knative-eventing.svc.cluster.local']))
  const before = await fetch(url, { method: 'POST', body: 'x' })
  t.equal(before.status, 503)
  t.equal(before.headers.get('retry-after'), '1')

  origin = gateway.origin
  const post = await fetch(url, { method: 'POST', headers: { 'ce-id': '1', 'content-type': 'application/json' }, body: '{"a":1}' })
  t.equal(post.status, 202)
  const seen = gateway.events[0]!
  t.equal(seen.url, '/default/default')
  t.equal(seen.headers.host, 'broker-ingress.knative-eventing.svc.cluster.local')
  t.equal(seen.headers['ce-id'], '1')
  t.equal(seen.body.toString(), '{"a":1}')

  const other = await fetch(url.replace('broker-ingress.knative-eventing', 'admin.sluice-system'), { method: 'POST', body: 'x' })
  t.equal(other.status, 404)
  t.equal(gateway.events.length, 1)
})

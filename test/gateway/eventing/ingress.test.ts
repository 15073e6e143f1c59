// The broker ingress on a real Gateway: every status code of eventing.md §1.2 in Knative's order
// (Allow, OPTIONS webhook headers, 405, 404 for `/`, 400 for a bad path, 400 for a bad event even
// to an unknown broker, 404 unknown broker, batch 400, TTL ≤ 0 → 400, 202, 413, 503 when full),
// binary and structured modes, and the public listener's ingress host.
import t from 'tap'
import { broker, ceHeaders, dest, gatewayWith, post, sink, table, trigger } from './helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

t.test('status codes in Knative order', async (t) => {
  const sub = await sink()
  const { internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])]))
  const p = (path: string, headers: Record<string, string>, body = '', method = 'POST') => post(internalPort, path, headers, body, method)

  const opt = await p('/default/default', {}, '', 'OPTIONS')
  t.equal(opt.status, 200)
  t.equal(opt.headers.allow, 'POST, OPTIONS')
  t.equal(opt.headers['webhook-allowed-origin'], '*')
  t.equal(opt.headers['webhook-allowed-rate'], '*')

  const get = await p('/default/default', {}, '', 'GET')
  t.equal(get.status, 405)
  t.equal(get.headers.allow, 'POST, OPTIONS')
  t.equal((await p('/default/default', {}, '', 'PUT')).status, 405)

  t.equal((await p('/', ceHeaders())).status, 404, 'path / is 404')
  t.equal((await p('/default', ceHeaders())).status, 400, 'one segment is 400')
  t.equal((await p('/a/b/c', ceHeaders())).status, 400, 'three segments are 400')
  t.equal((await p('/a//', ceHeaders())).status, 400, 'empty segment is 400')

  const bad = await p('/nope/nothere', { 'ce-specversion': '1.0', 'ce-source': '/x', 'ce-type': 't', 'content-type': 'text/plain' }, 'x')
  t.equal(bad.status, 400, 'a bad event to an unknown broker is 400 (parsed before lookup)')
  t.match(bad.body, /id is missing/)
  t.equal(bad.headers.allow, 'POST, OPTIONS')

  t.equal((await p('/nope/nothere', ceHeaders())).status, 404, 'a good event to an unknown broker is 404')
  t.equal((await p('/default/missing', ceHeaders(), '{}')).status, 404)

  const batch = await p('/default/default', { 'content-type': 'application/cloudevents-batch+json' }, '[]')
  t.equal(batch.status, 400)
  t.match(batch.body, /batch/)

  t.equal((await p('/default/default', { 'content-type': 'text/plain' }, 'hello')).status, 400, 'no CloudEvent at all')
  t.equal((await p('/default/default', ceHeaders('e', { 'ce-specversion': '0.3' }))).status, 400, 'specversion 0.3')
  t.equal((await p('/default/default', ceHeaders('e', { 'ce-time': 'yesterday' }))).status, 400, 'bad time')
  t.equal((await p('/default/default', ceHeaders('e', { 'ce-dataschema': 'not a uri' }))).status, 400, 'bad dataschema')
  t.equal((await p('/default/default', ceHeaders('e', { 'ce-bad': '%C0%A0' }))).status, 400, 'invalid UTF-8 after percent-decoding')
  t.equal((await p('/default/default', ceHeaders('e', { 'ce-knativebrokerttl': '1' }))).status, 400, 'TTL decremented to 0 is 400')
  t.equal((await p('/default/default', ceHeaders('e', { 'ce-knativebrokerttl': '0' }))).status, 400, 'TTL 0 is 400')

  const ok = await p('/default/default/', ceHeaders('ok1'), '{"a":1}')
  t.equal(ok.status, 202, 'trailing slash tolerated')
  t.equal(ok.headers.allow, 'POST, OPTIONS')
  await waitFor(() => sub.seen.length === 1, { what: 'the subscriber got the event' })
  const h = sub.seen[0]!.headers
  t.equal(h['ce-id'], 'ok1')
  t.ok(h['ce-knativearrivaltime'], 'knativearrivaltime added')
  t.notOk(h['ce-knativebrokerttl'], 'TTL stripped before delivery')
  t.equal(h['prefer'], 'reply')
  t.equal(h['kn-namespace'], 'default')
  t.match(h['traceparent'], /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  t.equal(sub.seen[0]!.body.toString(), '{"a":1}')
})

t.test('structured mode, charset parameter, and pass-through headers', async (t) => {
  const sub = await sink()
  const { internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])]))
  const ev = { specversion: '1.0', id: 's1', source: '/s', type: 'dev.t', time: '2018-04-05T17:31:00.123456789+02:00', datacontenttype: 'application/json', data: { hello: 'wörld' }, myext: 5, flag: true }
  const r = await post(internalPort, '/default/default', { 'content-type': 'application/cloudevents+json; charset=UTF-8', 'x-request-id': 'rid-1', 'knative-foo': 'bar', 'x-unrelated': 'no' }, JSON.stringify(ev))
  t.equal(r.status, 202)
  await waitFor(() => sub.seen.length === 1, { what: 'delivery' })
  const s = sub.seen[0]!
  t.equal(s.headers['ce-time'], '2018-04-05T17:31:00.123456789+02:00', 'time verbatim (no re-rendering)')
  t.equal(s.headers['ce-myext'], '5')
  t.equal(s.headers['ce-flag'], 'true')
  t.equal(s.headers['content-type'], 'application/json')
  t.same(JSON.parse(s.body.toString()), { hello: 'wörld' })
  t.equal(s.headers['x-request-id'], 'rid-1')
  t.equal(s.headers['knative-foo'], 'bar')
  t.notOk(s.headers['x-unrelated'])

  const both = await post(internalPort, '/default/default', { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ ...ev, data_base64: 'AAE=' }))
  t.equal(both.status, 400, 'data and data_base64 together')
  const noId = await post(internalPort, '/default/default', { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', source: '/s', type: 't' }))
  t.equal(noId.status, 400, 'structured without id is refused (the SDK would invent one)')
  t.equal((await post(internalPort, '/default/default', { 'content-type': 'application/cloudevents+json' }, '{nope')).status, 400)
  t.equal((await post(internalPort, '/default/default', { 'content-type': 'application/cloudevents+json' }, '[{}]')).status, 400)
})

t.test('413 over the body limit, and the public ingress host', async (t) => {
  const sub = await sink()
  const { port, internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])]))
  const big = Buffer.alloc(1024 * 1024 + 1, 'a')
  const r = await post(internalPort, '/default/default', ceHeaders('big', { 'content-type': 'text/plain' }), big)
  t.equal(r.status, 413)
  const pub = await post(port, '/default/default', { ...ceHeaders('pub'), host: 'broker-ingress.localhost:8080' })
  t.equal(pub.status, 202, 'broker-ingress.<domain> on the public listener')
  const notPublic = await post(port, '/default/default', ceHeaders('x'))
  t.equal(notPublic.status, 404, 'the cluster-local ingress host is not served publicly (route table 404)')
})

t.test('queue full: 503 with Retry-After, and the producer never waits', async (t) => {
  const sub = await sink()
  const held: (() => void)[] = []
  sub.answer = (_s, res) => { held.push(() => { res.writeHead(200, { 'content-length': '0' }); res.end() }) }
  const { internalPort, g } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])], { queueLimit: 2 }))
  t.equal((await post(internalPort, '/default/default', ceHeaders('1'))).status, 202)
  t.equal((await post(internalPort, '/default/default', ceHeaders('2'))).status, 202, 'accepted while the subscriber holds the first')
  const full = await post(internalPort, '/default/default', ceHeaders('3'))
  t.equal(full.status, 503)
  t.equal(full.headers['retry-after'], '1')
  t.equal(g.eventingStats()[0]!.depth, 2)
  t.equal(g.describeEventing().brokers[0]!.triggers[0]!.subscriber, sub.url)
  await waitFor(() => held.length === 2, { what: 'both deliveries in flight' })
  for (const f of held.splice(0)) f()
  await waitFor(() => g.eventingStats()[0]!.depth === 0, { what: 'the hold emptied' })
  t.equal((await post(internalPort, '/default/default', ceHeaders('4'))).status, 202, 'room again')
  await waitFor(() => held.length === 1, { what: 'the fourth delivered' })
  held[0]!()
})

t.test('a jetstream broker without nats-url answers 503', async (t) => {
  const { internalPort, g } = await gatewayWith(table([broker('default/durable', [], 'jetstream')]))
  const r = await post(internalPort, '/default/durable', ceHeaders('j'))
  t.equal(r.status, 503)
  t.match(g.eventingStats()[0]!.lastError, /nats-url/)
  const d = g.describeEventing()
  t.equal(d.brokers[0]!.backing, 'jetstream')
  t.match(d.brokers[0]!.lastError, /nats-url/)
})

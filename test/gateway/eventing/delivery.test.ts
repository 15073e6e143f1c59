// Delivery on real sockets through a Gateway's broker ingress: percent-encoding round trip,
// structured (`format: json`) delivery, per-attempt timeout, dead letters with knativeerror*
// extensions, a non-CloudEvent 2xx body as failure, a reply re-entering the broker, and a reply
// loop stopped by knativebrokerttl.
import t from 'tap'
import { HTTP } from 'cloudevents'
import { broker, ceHeaders, dest, gatewayWith, post, sink, table, trigger } from './helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

const EURO = 'Euro%20%E2%82%AC%20%F0%9F%98%80'

t.test('percent-encoding round trip: Euro € 😀', async (t) => {
  const sub = await sink()
  const { internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])]))
  t.equal((await post(internalPort, '/default/default', ceHeaders('b1', { 'ce-greeting': 'Euro%20%e2%82%ac%20%f0%9f%98%80' }))).status, 202, 'lower-case hex accepted')
  t.equal((await post(internalPort, '/default/default', { 'content-type': 'application/cloudevents+json' },
    JSON.stringify({ specversion: '1.0', id: 's1', source: '/s', type: 't', greeting: 'Euro € 😀', quote: 'a "b" 100%' }))).status, 202)
  await waitFor(() => sub.seen.length === 2, { what: 'both delivered' })
  for (const s of sub.seen) t.equal(s.headers['ce-greeting'], EURO, 'upper-case %XX of the UTF-8 bytes')
  t.equal(sub.seen.find((s) => s.headers['ce-id'] === 's1')!.headers['ce-quote'], 'a%20%22b%22%20100%25')
  // The SDK (after our percent-decoding) reads the same event.
  const s = sub.seen[0]!
  const ev = HTTP.toEvent({ headers: Object.fromEntries(Object.entries(s.headers).map(([k, v]) => [k, k.startsWith('ce-') ? decodeURIComponent(String(v)) : String(v)])), body: s.body })
  t.equal((ev as { greeting?: string }).greeting, 'Euro € 😀')
})

t.test('format json delivers structured mode', async (t) => {
  const sub = await sink()
  const { internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url), { delivery: { format: 'json' } })])]))
  t.equal((await post(internalPort, '/default/default', ceHeaders('j1', { 'ce-greeting': EURO }), '{"x":[1,2]}')).status, 202)
  await waitFor(() => sub.seen.length === 1, { what: 'delivery' })
  const s = sub.seen[0]!
  t.match(s.headers['content-type'], /^application\/cloudevents\+json/)
  const doc = JSON.parse(s.body.toString())
  t.equal(doc.greeting, 'Euro € 😀')
  t.same(doc.data, { x: [1, 2] })
  t.equal(doc.id, 'j1')
  t.notOk('knativebrokerttl' in doc)
  t.equal(doc.specversion, '1.0')
})

t.test('traceparent: a new trace per event without one (distinct ids), the producer\'s own passed through', async (t) => {
  const sub = await sink()
  const { internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])]))
  const N = 300 // more than one refill of the pooled random bytes
  for (let i = 0; i < N; i++) t.equal((await post(internalPort, '/default/default', ceHeaders(`tp${i}`))).status, 202)
  const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  t.equal((await post(internalPort, '/default/default', ceHeaders('given', { traceparent: given }))).status, 202)
  await waitFor(() => sub.seen.length === N + 1, { what: 'every event delivered' })
  const fresh = sub.seen.filter((s) => s.headers['ce-id'] !== 'given').map((s) => String(s.headers['traceparent']))
  for (const tp of fresh) {
    if (!/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$/.test(tp)) t.fail(`not a W3C traceparent: ${tp}`)
  }
  t.equal(new Set(fresh.map((tp) => tp.slice(3, 35))).size, N, 'every trace id differs')
  t.equal(new Set(fresh.map((tp) => tp.slice(36, 52))).size, N, 'every parent id differs')
  t.equal(sub.seen.find((s) => s.headers['ce-id'] === 'given')!.headers['traceparent'], given, 'the producer\'s trace continues')
})

t.test('dead letter: knativeerrordest, knativeerrorcode, knativeerrordata (base64, 1024 cap)', async (t) => {
  const sub = await sink()
  const dls = await sink()
  sub.answer = (s, res) => {
    const body = s.headers['ce-id'] === 'big' ? 'x'.repeat(2000) : 'boom'
    res.writeHead(s.headers['ce-id'] === 'bad' ? 400 : 500, { 'content-type': 'text/plain' })
    res.end(body)
  }
  const { internalPort, g } = await gatewayWith(table([broker('default/default', [
    trigger('t1', dest(sub.url + 'hook?x=1'), { delivery: { retry: 1, deadLetterSink: dest(dls.url) } }),
  ])]))
  await post(internalPort, '/default/default', ceHeaders('small', { 'ce-greeting': EURO }), '{"a":1}')
  await waitFor(() => dls.seen.length === 1, { what: 'the dead letter' })
  t.equal(sub.seen.length, 2, 'the 500 was retried once first')
  const d = dls.seen[0]!
  t.equal(d.headers['ce-id'], 'small', 'the original event')
  t.equal(d.headers['ce-greeting'], EURO)
  t.equal(d.headers['ce-knativeerrordest'], sub.url + 'hook?x=1')
  t.equal(d.headers['ce-knativeerrorcode'], '500')
  t.equal(Buffer.from(String(d.headers['ce-knativeerrordata']), 'base64').toString(), 'boom')
  t.equal(d.body.toString(), '{"a":1}')
  await post(internalPort, '/default/default', ceHeaders('big'))
  await waitFor(() => dls.seen.length === 2, { what: 'the second dead letter' })
  t.equal(String(dls.seen[1]!.headers['ce-knativeerrordata']).length, 1024)
  await post(internalPort, '/default/default', ceHeaders('bad'))
  await waitFor(() => dls.seen.length === 3, { what: 'the 400 dead letter' })
  t.equal(sub.seen.filter((s) => s.headers['ce-id'] === 'bad').length, 1, '400 is not retried')
  t.equal(dls.seen[2]!.headers['ce-knativeerrorcode'], '400')
  t.equal(g.metrics.eventing.trigger('default', 't1', 'default').deadLettered, 3)
})

t.test('per-attempt timeout, then the dead letter with code 500', async (t) => {
  const sub = await sink()
  const dls = await sink()
  sub.answer = () => { /* never answers */ }
  const { internalPort, g } = await gatewayWith(table([broker('default/default', [
    trigger('t1', dest(sub.url), { delivery: { timeoutMs: 150, deadLetterSink: dest(dls.url) } }),
  ])]))
  await post(internalPort, '/default/default', ceHeaders('slow'))
  await waitFor(() => dls.seen.length === 1, { what: 'the dead letter after the timeout' })
  t.equal(dls.seen[0]!.headers['ce-knativeerrorcode'], '500')
  t.notOk(dls.seen[0]!.headers['ce-knativeerrordata'])
  t.equal(g.metrics.eventing.trigger('default', 't1', 'default').dispatch.counts[0], 1, 'counted as no response')
})

t.test('a 2xx with a non-CloudEvent body is a failure (502)', async (t) => {
  const sub = await sink()
  const dls = await sink()
  sub.answer = (_s, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('thanks!') }
  const { internalPort } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url), { delivery: { deadLetterSink: dest(dls.url) } })])]))
  await post(internalPort, '/default/default', ceHeaders('nc'))
  await waitFor(() => dls.seen.length === 1, { what: 'the dead letter' })
  t.equal(dls.seen[0]!.headers['ce-knativeerrorcode'], '502')
})

t.test('a reply re-enters the broker and reaches the triggers that match it', async (t) => {
  const sub = await sink()
  const replies = await sink()
  sub.answer = (s, res) => {
    res.writeHead(200, { 'ce-specversion': '1.0', 'ce-id': 'reply-' + s.headers['ce-id'], 'ce-source': '/responder', 'ce-type': 'dev.reply', 'content-type': 'text/plain' })
    res.end('re: ' + s.body.toString())
  }
  const { internalPort } = await gatewayWith(table([broker('default/default', [
    trigger('orders', dest(sub.url), { filter: (e) => e.attributes.type === 'dev.sluice.test' }),
    trigger('replies', dest(replies.url), { filter: (e) => e.attributes.type === 'dev.reply' }),
  ])]))
  await post(internalPort, '/default/default', ceHeaders('o1', { 'content-type': 'text/plain' }), 'order')
  await waitFor(() => replies.seen.length === 1, { what: 'the reply delivered' })
  const r = replies.seen[0]!
  t.equal(r.headers['ce-id'], 'reply-o1')
  t.equal(r.body.toString(), 're: order')
  t.ok(r.headers['ce-knativearrivaltime'])
  t.notOk(r.headers['ce-knativebrokerttl'])
})

t.test('a reply loop is stopped by knativebrokerttl', async (t) => {
  const sub = await sink()
  let n = 0
  sub.answer = (_s, res) => {
    res.writeHead(200, { 'ce-specversion': '1.0', 'ce-id': `loop-${++n}`, 'ce-source': '/loop', 'ce-type': 'dev.sluice.test', 'content-length': '0' })
    res.end()
  }
  const { internalPort, g } = await gatewayWith(table([broker('default/default', [trigger('t1', dest(sub.url))])], { maxTtl: 5 }))
  await post(internalPort, '/default/default', ceHeaders('start'))
  const slot = g.metrics.eventing.broker('default', 'default')
  await waitFor(() => slot.ttlExpired === 1, { what: 'the loop stopped by the TTL' })
  await waitFor(() => g.eventingStats()[0]!.depth === 0, { what: 'everything settled' })
  t.equal(sub.seen.length, 5, 'TTL 5: the event and four replies were delivered, the fifth reply dropped')
})

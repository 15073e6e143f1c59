// PingSource events on the wire: binary mode, data vs dataBase64 vs contentType, ceOverrides, retries — against a real HTTP sink.
import t from 'tap'
import { pingEvent, pingTemplate } from '../../../control/eventing-sources/ping-event.ts'
import { percentEncode, sendEvent } from '../../../control/eventing-sources/sender.ts'
import type { PingSource } from '../../../control/resources/eventing.ts'
import { startEventSink } from './helpers.ts'

const ps = (spec: Partial<PingSource['spec']>): PingSource => ({
  apiVersion: 'sources.knative.dev/v1', kind: 'PingSource', metadata: { name: 'tick', namespace: 'demo' }, spec: { sink: {}, ...spec },
} as PingSource)

t.test('binary mode: attributes as ce- headers, data as the body', async (t) => {
  const sink = await startEventSink()
  t.teardown(() => sink.close())
  const now = Date.parse('2026-05-01T10:00:00.123Z')
  const cases: [Partial<PingSource['spec']>, string | undefined, string][] = [
    [{ contentType: 'application/json', data: '{"message":"hi"}' }, 'application/json', '{"message":"hi"}'],
    [{ contentType: 'text/plain', dataBase64: Buffer.from('bytes\u0000here').toString('base64') }, 'text/plain', 'bytes\u0000here'],
    [{ data: 'no type' }, undefined, 'no type'],
    [{}, undefined, ''],
  ]
  for (const [spec, ct, body] of cases) {
    const res = await sendEvent({ url: sink.url, connectTo: null }, pingEvent(pingTemplate(ps(spec)), now))
    t.same(res, { ok: true, status: 202, attempts: 1 })
    const e = sink.events.at(-1)!
    t.equal(e.method, 'POST')
    t.equal(e.headers['ce-specversion'], '1.0')
    t.equal(e.headers['ce-type'], 'dev.knative.sources.ping')
    t.equal(e.headers['ce-source'], '/apis/v1/namespaces/demo/pingsources/tick')
    t.match(e.headers['ce-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    t.equal(e.headers['ce-time'], '2026-05-01T10:00:00.123Z')
    t.equal(e.headers['content-type'], ct)
    t.equal(e.headers['ce-datacontenttype'], undefined, 'never in binary mode')
    t.equal(e.body.toString('utf8'), body)
  }
  const ids = new Set(sink.events.map((e) => e.headers['ce-id']))
  t.equal(ids.size, sink.events.length, 'a fresh id per tick')
})

t.test('ceOverrides extensions become ce- headers, percent-encoded', async (t) => {
  const sink = await startEventSink()
  t.teardown(() => sink.close())
  await sendEvent({ url: sink.url, connectTo: null }, pingEvent(pingTemplate(ps({ ceOverrides: { extensions: { team: 'blue', note: 'Euro € 😀' } } })), Date.now()))
  const e = sink.events[0]!
  t.equal(e.headers['ce-team'], 'blue')
  t.equal(e.headers['ce-note'], 'Euro%20%E2%82%AC%20%F0%9F%98%80')
  t.equal(percentEncode('a"b%c'), 'a%22b%25c')
})

t.test('retries: 50 ms · 2^n, 5 times, on transport errors and retriable codes only', async (t) => {
  const sink = await startEventSink()
  t.teardown(() => sink.close())
  const waits: number[] = []
  const sleep = async (ms: number): Promise<void> => { waits.push(ms) }
  const ev = pingEvent(pingTemplate(ps({})), Date.now())

  sink.statuses.push(503, 429, 404)
  t.same(await sendEvent({ url: sink.url, connectTo: null }, ev, { sleep }), { ok: true, status: 202, attempts: 4 })
  t.same(waits, [100, 200, 400])

  waits.length = 0
  sink.statuses.push(503, 503, 503, 503, 503, 503, 503)
  t.same(await sendEvent({ url: sink.url, connectTo: null }, ev, { sleep }), { ok: false, status: 503, attempts: 6 })
  t.same(waits, [100, 200, 400, 800, 1600], 'five retries, then the event is lost')
  sink.statuses.length = 0

  waits.length = 0
  sink.statuses.push(400)
  t.same(await sendEvent({ url: sink.url, connectTo: null }, ev, { sleep }), { ok: false, status: 400, attempts: 1 })
  sink.statuses.push(500)
  t.same(await sendEvent({ url: sink.url, connectTo: null }, ev, { sleep }), { ok: false, status: 500, attempts: 1 }, '500 is not in sdk-go\'s retriable set')
  t.same(waits, [])

  const before = sink.events.length
  const closed = await startEventSink()
  const deadUrl = closed.url
  await closed.close()
  const res = await sendEvent({ url: deadUrl, connectTo: null }, ev, { sleep, retries: 2 })
  t.equal(res.ok, false)
  t.equal(res.status, 0)
  t.equal(res.attempts, 3)
  t.ok(res.error)
  t.equal(sink.events.length, before)
})

t.test('connectTo: a Sluice-served sink is reached through the internal listener with the sink Host', async (t) => {
  const sink = await startEventSink()
  t.teardown(() => sink.close())
  await sendEvent({ url: 'http://broker-ingress.knative-eventing.svc.cluster.local/default/default', connectTo: sink.origin }, pingEvent(pingTemplate(ps({})), Date.now()))
  t.equal(sink.events[0]!.url, '/default/default')
  t.equal(sink.events[0]!.headers.host, 'broker-ingress.knative-eventing.svc.cluster.local')
})

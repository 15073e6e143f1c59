// The JetStream backing against a real nats-server and real HTTP subscribers: publish → deliver,
// retries as delayed naks (the delays are lower bounds JetStream guarantees, checked after the fact),
// dead letters after the last attempt and at once on a non-retryable answer, dedup by source+id,
// trigger filters, consumer retirement, and 'failed' (never a hang) while NATS is down.
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import t from 'tap'
import { JetStreamBacking } from '../../../../gateway/eventing/jetstream-backing.ts'
import { consumerName, decodeEvent, encodeEvent, messageId, streamName } from '../../../../gateway/eventing/jetstream-names.ts'
import { startNatsServer } from '../../../fixtures/nats-server.ts'
import { waitFor } from '../../../fixtures/wait.ts'
import { TestDeliverer, broker, deliverySpec, event, startSubscriber, table } from './helpers.ts'

t.test('names and the stored form', async (t) => {
  t.equal(streamName('default', 'my-broker'), 'KN_BROKER_DEFAULT__MY_BROKER')
  t.not(streamName('a--b', 'c'), streamName('a', 'b--c'), 'eventing-natss would collide here')
  t.equal(consumerName('1b2c-3d4e'), 'KN_TRIGGER_1B2C3D4E')
  t.not(messageId('/a', 'bc'), messageId('/ab', 'c'), 'source+id pairs never collide')
  t.match(messageId('/a\r\n', 'x'), /^sha256:/)
  for (const e of [event('1'), event('2', '/s', 't', null), { attributes: { id: 'ü', source: '/', specversion: '1.0', type: 'x' }, data: Buffer.from([0, 255, 1]) }]) {
    t.same(decodeEvent(encodeEvent(e)), e)
  }
  t.equal(decodeEvent(Buffer.from('{"id":"1"}')), null, 'foreign bytes are not an event')
})

t.test('JetStream backing', async (t) => {
  const nats = await startNatsServer()
  t.teardown(() => nats.close())
  const deliverer = new TestDeliverer()
  t.teardown(() => deliverer.close())
  const backings: JetStreamBacking[] = []
  t.teardown(async () => { for (const b of backings) await b.close() })
  function backing(): JetStreamBacking {
    const b = new JetStreamBacking({ servers: nats.url, deliverer, ackWaitMinMs: 2000, statsIntervalMs: 100, retireAfterMs: 0 })
    backings.push(b)
    return b
  }

  t.test('publish → deliver, filters, stats', async (t) => {
    const sub = await startSubscriber()
    t.teardown(() => sub.close())
    const b = backing()
    const br = broker('default', 'deliver', [
      { name: 'all', subscriber: sub.url + 'all' },
      { name: 'only-keep', subscriber: sub.url + 'keep', filter: (e) => e.attributes.type === 'keep' },
    ])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [br]))
    const results = await Promise.all([b.accept(br, event('e1')), b.accept(br, event('e2', '/test', 'keep'))])
    t.same(results, ['accepted', 'accepted'])
    await waitFor(() => sub.seen.length === 3, { what: () => `3 deliveries, saw ${sub.seen.length}` })
    t.same(sub.seen.filter((s) => s.attributes.type === 'keep').length, 2, 'the kept event went to both triggers')
    t.same(sub.seen.filter((s) => s.id === 'e1').length, 1, 'the other only to the unfiltered one')
    const e = sub.seen.find((s) => s.id === 'e1')
    t.equal(e?.attributes.datacontenttype, 'application/json', 'attributes arrive as accepted')
    await waitFor(() => b.stats()[0]?.depth === 0 && b.stats()[0]?.delivered === 3, { what: () => `stats to settle: ${JSON.stringify(b.stats())}` })
    t.match(b.stats()[0], { broker: 'default/deliver', backing: 'jetstream', published: 2, duplicates: 0, retriesInFlight: 0 })
    // settled by every trigger → trimmed from the stream (Interest retention, done by the backing)
    const nc = await connect({ servers: nats.url })
    t.teardown(() => nc.close())
    const jsm = await jetstreamManager(nc)
    await waitFor(async () => (await jsm.streams.info(streamName('default', 'deliver'))).state.messages === 0, { what: 'the stream to be trimmed' })
  })

  t.test('retryable failures are retried after the formula\'s delay, then delivered', async (t) => {
    const sub = await startSubscriber((_e, before) => before < 2 ? 503 : 200)
    t.teardown(() => sub.close())
    const b = backing()
    const br = broker('default', 'retry', [{ name: 'r', subscriber: sub.url, delivery: deliverySpec({ retry: 3, backoffPolicy: 'linear', backoffDelayMs: 300 }) }])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [br]))
    t.equal(await b.accept(br, event('r1')), 'accepted')
    await waitFor(() => sub.deliveredCounts().get('r1') === 1, { what: () => `r1 delivered, attempts ${sub.seen.length}`, timeoutMs: 20_000 })
    t.equal(sub.seen.length, 3, 'two failures and a success')
    // linear: retry n waits 300·n; JetStream does not redeliver a nak(ms) earlier than asked
    const gap1 = sub.seen[1].at - sub.seen[0].at
    const gap2 = sub.seen[2].at - sub.seen[1].at
    t.ok(gap1 >= 280, `first retry after ≥300 ms (was ${gap1.toFixed(0)})`)
    t.ok(gap2 >= 580, `second retry after ≥600 ms (was ${gap2.toFixed(0)})`)
    t.equal(deliverer.deadLetters.length, 0)
  })

  t.test('dead letter after the last attempt; at once on a non-retryable answer', async (t) => {
    const sub = await startSubscriber((e) => e.attributes.type === 'bad-request' ? 400 : 500)
    const dls = await startSubscriber()
    t.teardown(() => sub.close())
    t.teardown(() => dls.close())
    const b = backing()
    const delivery = deliverySpec({ retry: 2, backoffPolicy: 'exponential', backoffDelayMs: 50, deadLetterSink: { url: dls.url, connectTo: null } })
    const br = broker('default', 'dead', [{ name: 'd', subscriber: sub.url, delivery }])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [br]))
    t.equal(await b.accept(br, event('d1')), 'accepted')
    t.equal(await b.accept(br, event('d2', '/test', 'bad-request')), 'accepted')
    await waitFor(() => dls.seen.length === 2, { what: () => `2 dead letters, got ${dls.seen.length}`, timeoutMs: 20_000 })
    t.equal(sub.seen.filter((s) => s.id === 'd1').length, 3, 'retry 2 = 3 attempts')
    t.equal(sub.seen.filter((s) => s.id === 'd2').length, 1, 'a 400 is not retried')
    t.same(dls.seen.map((s) => [s.id, s.attributes.knativeerrorcode]).sort(), [['d1', '500'], ['d2', '400']])
    await waitFor(() => b.stats()[0]?.depth === 0, { what: () => `the consumer to settle: ${JSON.stringify(b.stats())}` })
    t.match(b.stats()[0], { deadLettered: 2, dropped: 0 })
    t.match(b.stats()[0].lastError, /answered (500|400)/)
  })

  t.test('the same source+id is stored once and counted as a duplicate', async (t) => {
    const sub = await startSubscriber()
    t.teardown(() => sub.close())
    const b = backing()
    const br = broker('default', 'dedup', [{ name: 'x', subscriber: sub.url }])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [br]))
    t.equal(await b.accept(br, event('same')), 'accepted')
    t.equal(await b.accept(br, event('same')), 'accepted', 'a duplicate is still accepted (202)')
    t.equal(await b.accept(br, event('same', '/other-source')), 'accepted')
    t.equal(await b.accept(br, event('marker')), 'accepted')
    await waitFor(() => sub.deliveredCounts().get('marker') === 1 && sub.seen.length >= 3, { what: 'the marker' })
    await waitFor(() => b.stats()[0]?.depth === 0, { what: 'the consumer to settle' })
    t.equal(sub.seen.filter((s) => s.id === 'same' && s.source === '/test').length, 1, 'delivered once')
    t.equal(sub.seen.filter((s) => s.id === 'same' && s.source === '/other-source').length, 1, 'another source is another event')
    t.match(b.stats()[0], { published: 3, duplicates: 1 })
  })

  t.test('install is idempotent; a trigger that leaves stops, and its consumer retires', async (t) => {
    const sub = await startSubscriber()
    t.teardown(() => sub.close())
    const b = backing()
    const two = broker('default', 'retire', [{ name: 'a', subscriber: sub.url + 'a' }, { name: 'b', subscriber: sub.url + 'b' }])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [two]))
    await b.install(table(nats.url, [two], 2))
    t.equal(await b.accept(two, event('t1')), 'accepted')
    await waitFor(() => sub.seen.length === 2, { what: 'both triggers' })
    const one = broker('default', 'retire', [{ name: 'a', subscriber: sub.url + 'a' }])
    await b.install(table(nats.url, [one], 3))
    t.equal(await b.accept(one, event('t2')), 'accepted')
    await waitFor(() => sub.seen.some((s) => s.id === 't2'), { what: 't2' })
    await waitFor(() => b.stats()[0]?.depth === 0, { what: 'settled' })
    t.equal(sub.seen.filter((s) => s.id === 't2').length, 1, 'only the remaining trigger gets new events')
    const nc = await connect({ servers: nats.url })
    t.teardown(() => nc.close())
    const jsm = await jetstreamManager(nc)
    const consumers = async (): Promise<string[]> => {
      const names: string[] = []
      for await (const ci of jsm.consumers.list(streamName('default', 'retire'))) names.push(ci.name)
      return names.sort()
    }
    // retireAfterMs is 0 here: the next stats tick deletes the departed trigger's consumer
    await waitFor(async () => (await consumers()).length === 1, { what: 'the departed trigger\'s consumer to be deleted' })
    t.same(await consumers(), [consumerName('uid-default-retire-a')])
    // a broker that leaves the table keeps its stream; accept answers 'failed' (ingress 503)
    await b.install(table(nats.url, [], 4))
    t.equal(await b.accept(one, event('t3')), 'failed')
    t.same(b.stats(), [])
    t.ok((await jsm.streams.info(streamName('default', 'retire'))).config, 'the stream is kept')
  })

  t.test('close() sends the acks of deliveries that just finished: nothing is handed out again', async (t) => {
    const sub = await startSubscriber()
    t.teardown(() => sub.close())
    const b = backing()
    const br = broker('default', 'closing', [{ name: 'x', subscriber: sub.url }])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [br]))
    const ids = Array.from({ length: 200 }, (_, i) => `c${i}`)
    t.same([...new Set(await Promise.all(ids.map((id) => b.accept(br, event(id)))))], ['accepted'])
    await waitFor(() => sub.deliveredCounts().size === ids.length, { what: () => `200 deliveries, saw ${sub.deliveredCounts().size}` })
    // acks batched for the next turn (or deliveries still finishing) must leave before the drain
    await b.close()
    const nc = await connect({ servers: nats.url })
    t.teardown(() => nc.close())
    const jsm = await jetstreamManager(nc)
    const ci = await jsm.consumers.info(streamName('default', 'closing'), consumerName('uid-default-closing-x'))
    t.match(ci, { num_ack_pending: 0, num_redelivered: 0, num_pending: 0, ack_floor: { stream_seq: ids.length } })
  })

  t.test('while NATS is down accept answers failed promptly, and recovers', async (t) => {
    const sub = await startSubscriber()
    t.teardown(() => sub.close())
    const b = backing()
    const br = broker('default', 'down', [{ name: 'x', subscriber: sub.url }])
    await waitFor(() => b.connected, { what: 'the backing to connect' })
    await b.install(table(nats.url, [br]))
    await nats.stop()
    await waitFor(() => !b.connected, { what: 'the backing to see the disconnect' })
    t.equal(await b.accept(br, event('n1')), 'failed')
    await nats.start()
    await waitFor(() => b.connected, { what: 'the backing to reconnect', timeoutMs: 30_000 })
    const r = await waitFor(async () => (await b.accept(br, event('n2'))) === 'accepted', { what: 'accepted again', timeoutMs: 20_000, everyMs: 200 })
    t.ok(r)
    await waitFor(() => sub.deliveredCounts().get('n2') === 1, { what: 'n2 delivered', timeoutMs: 20_000 })
  })
})

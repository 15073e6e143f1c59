// The pipelined JetStream publisher against a real nats-server: 'accepted' only on a PubAck naming a
// stream (stored or duplicate, with Nats-Msg-Id dedup), 'failed' on every other answer — a JetStream
// error (stream full), no stream on the subject (no responders), something that is not a PubAck, no
// answer within the timeout — and for whatever is still waiting when it closes. Never a hang.
import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import t from 'tap'
import { PubAckPipeline } from '../../../../gateway/eventing/jetstream-publisher.ts'
import type { PubAckSink } from '../../../../gateway/eventing/jetstream-publisher.ts'
import { startNatsServer } from '../../../fixtures/nats-server.ts'

class Counts implements PubAckSink {
  stored_ = 0
  duplicates = 0
  failures: string[] = []
  stored(duplicate: boolean): void {
    if (duplicate) this.duplicates++
    else this.stored_++
  }

  failed(reason: string): void { this.failures.push(reason) }
}

const bytes = (s: string): Uint8Array => Buffer.from(s)

t.test('PubAckPipeline', async (t) => {
  const nats = await startNatsServer()
  t.teardown(() => nats.close())
  const nc = await connect({ servers: nats.url, noAsyncTraces: true })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'OK', subjects: ['ok'], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: 60e9 })
  await jsm.streams.add({ name: 'SMALL', subjects: ['small'], retention: RetentionPolicy.Limits, storage: StorageType.File, max_msgs: 1, discard: DiscardPolicy.New })
  const pub = new PubAckPipeline(nc, 300)
  t.teardown(() => pub.close())

  t.test('stored, and a repeated Nats-Msg-Id stored once', async (t) => {
    const c = new Counts()
    const many = await Promise.all(Array.from({ length: 500 }, (_, i) => pub.publish('ok', bytes(`e${i}`), `id-${i}`, c)))
    t.ok(many.every((r) => r === 'accepted'), 'a burst of 500, written together, all accepted')
    t.equal(await pub.publish('ok', bytes('again'), 'id-7', c), 'accepted', 'a duplicate is accepted')
    t.same({ stored: c.stored_, duplicates: c.duplicates, failures: c.failures }, { stored: 500, duplicates: 1, failures: [] })
    t.equal((await jsm.streams.info('OK')).state.messages, 500, 'stored once each')
    t.equal(pub.inflight, 0)
  })

  t.test('a JetStream error is failed with its description', async (t) => {
    const c = new Counts()
    t.equal(await pub.publish('small', bytes('1'), 's1', c), 'accepted')
    t.equal(await pub.publish('small', bytes('2'), 's2', c), 'failed', 'the stream is full (discard new)')
    t.match(c.failures, [/publish to small: maximum messages exceeded \(err_code 10077\)/])
  })

  t.test('no stream on the subject is failed at once (no responders)', async (t) => {
    const c = new Counts()
    t.equal(await pub.publish('nowhere', bytes('x'), 'n1', c), 'failed')
    t.match(c.failures, [/no JetStream stream stores nowhere/])
  })

  t.test('an answer that is not a PubAck, and no answer, are failed', async (t) => {
    const answers = nc.subscribe('junk', { callback: (_e, m) => { m.respond(bytes('{"hello":1}')) } })
    const silent = nc.subscribe('silent', { callback: () => undefined })
    t.teardown(() => { answers.unsubscribe(); silent.unsubscribe() })
    await nc.flush()
    const c = new Counts()
    t.equal(await pub.publish('junk', bytes('x'), 'j1', c), 'failed')
    t.equal(await pub.publish('silent', bytes('x'), 'q1', c), 'failed', 'after the 300 ms timeout')
    t.match(c.failures, [/not a PubAck/, /no PubAck within 300 ms/])
    t.equal(pub.inflight, 0)
  })

  t.test('close fails what is still waiting; later publishes fail at once', async (t) => {
    const silent = nc.subscribe('silent2', { callback: () => undefined })
    t.teardown(() => silent.unsubscribe())
    await nc.flush()
    const own = new PubAckPipeline(nc, 60_000)
    const c = new Counts()
    const waiting = own.publish('silent2', bytes('x'), 'w1', c)
    const settled = own.settled()
    await new Promise<void>((resolve) => setImmediate(resolve)) // written, now waiting
    t.equal(own.inflight, 1)
    own.close()
    t.equal(await waiting, 'failed')
    await settled
    t.equal(await own.publish('ok', bytes('x'), 'w2', c), 'failed')
    t.match(c.failures, [/closed before the PubAck/, /closing/])
  })
})

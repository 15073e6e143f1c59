// Durable broker end to end on this machine: events accepted by the JetStream backing (202 after
// the PubAck), delivered by a durable pull consumer to a real HTTP subscriber on 127.0.0.1, acked.
// Prints delivered events/s and the accept → subscriber latency p50/p99 against the target
// (≥ 5,000 events/s durable), and, as the peer from the same run, the bare JetStream publish rate
// (js.publish awaited in the same window, no consumer) that bounds it.
//   node bench/eventing-jetstream.ts    (EVENTS=20000 WINDOW=32 concurrent producers, SIZE=256, MAX_ACK_PENDING=256, CONNS=64 tune it)
// Not wired into bench/run.sh (not this file's owner); exit status 1 when the target is missed.
import http from 'node:http'
import os from 'node:os'
import type { AddressInfo } from 'node:net'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Pool } from 'undici'
import { JetStreamBacking } from '../gateway/eventing/jetstream-backing.ts'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, Deliverer } from '../gateway/eventing/types.ts'
import { startNatsServer } from '../test/fixtures/nats-server.ts'
import { waitFor } from '../test/fixtures/wait.ts'
import { broker, deliverySpec, table } from '../test/gateway/eventing/jetstream/helpers.ts'

const EVENTS = Number(process.env.EVENTS ?? 20_000)
const WINDOW = Number(process.env.WINDOW ?? 32)
const SIZE = Number(process.env.SIZE ?? 256)
const TARGET = 5000

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

// the subscriber: reads the body, records when the event arrived (ce-id names it), answers 200
const sentAt = new Float64Array(EVENTS)
const latency: number[] = []
let received = 0
const seen = new Uint8Array(EVENTS)
let duplicates = 0
const server = http.createServer((req, res) => {
  const id = Number(req.headers['ce-id'])
  req.resume()
  req.on('end', () => {
    if (seen[id] === 1) duplicates++
    else {
      seen[id] = 1
      received++
      latency.push(performance.now() - sentAt[id])
    }
    res.writeHead(200, { 'content-length': '0' }).end()
  })
})
server.keepAliveTimeout = 60_000
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
const subUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

// a minimal binary-mode Deliverer (the real one adds Knative's headers; this one only has to be cheap)
const pool = new Pool(subUrl, { connections: Number(process.env.CONNS ?? 64), pipelining: 1, keepAliveTimeout: 60_000 })
const ok: AttemptOutcome = { status: 200, retryable: false, retryAfterMs: null, body: null, reply: null, error: null }
const deliverer: Deliverer = {
  async attempt(_t: CompiledTrigger, e: CloudEventRecord): Promise<AttemptOutcome> {
    const a = e.attributes
    const res = await pool.request({
      path: '/', method: 'POST', body: e.data ?? undefined,
      headers: { 'ce-specversion': '1.0', 'ce-id': a.id, 'ce-source': a.source, 'ce-type': a.type, 'content-type': a.datacontenttype ?? 'application/octet-stream' },
    })
    await res.body.dump()
    return res.statusCode === 200 ? ok : { ...ok, status: res.statusCode, retryable: res.statusCode >= 500 }
  },
  deadLetter: async () => false,
  reply: async () => true,
}

const nats = await startNatsServer()
try {
  const data = Buffer.alloc(SIZE, 'x')
  // peer: bare js.publish with the same window and payload, on a limits stream, nothing consuming
  const nc = await connect({ servers: nats.url })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'PEER', subjects: ['peer'], retention: RetentionPolicy.Limits, storage: StorageType.File })
  const js = jetstream(nc)
  let p = 0
  const p0 = performance.now()
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (p < EVENTS) {
      const i = p++
      await js.publish('peer', data, { msgID: `peer-${i}` })
    }
  }))
  const peerRate = EVENTS / ((performance.now() - p0) / 1000)
  await nc.close()

  const backing = new JetStreamBacking({ servers: nats.url, deliverer, maxAckPending: Number(process.env.MAX_ACK_PENDING ?? 256) })
  const br = broker('bench', 'durable', [{ name: 't', subscriber: subUrl, delivery: deliverySpec({ retry: 3, timeoutMs: 10_000 }) }])
  await waitFor(() => backing.connected, { what: 'NATS' })
  await backing.install(table(nats.url, [br]))
  let next = 0
  let refused = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (next < EVENTS) {
      const i = next++
      sentAt[i] = performance.now()
      const r = await backing.accept(br, { attributes: { specversion: '1.0', id: String(i), source: '/bench', type: 'bench', datacontenttype: 'application/octet-stream' }, data })
      if (r !== 'accepted') refused++
    }
  }))
  const acceptedIn = performance.now() - t0
  await waitFor(() => received + refused >= EVENTS, { what: () => `every event delivered (${received}/${EVENTS})`, timeoutMs: 300_000, everyMs: 20 })
  const elapsed = performance.now() - t0
  const rate = received / (elapsed / 1000)
  latency.sort((a, b) => a - b)
  await backing.close()
  console.log(`eventing-jetstream: ${EVENTS} events of ${SIZE} B, window ${WINDOW}, nats-server ${nats.url}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`)
  console.log(`  accepted (202 after PubAck): ${(EVENTS / (acceptedIn / 1000)).toFixed(0)}/s, refused ${refused}`)
  console.log(`  delivered end to end:        ${rate.toFixed(0)}/s   latency p50 ${pct(latency, 0.5).toFixed(1)} ms  p99 ${pct(latency, 0.99).toFixed(1)} ms  max ${latency[latency.length - 1].toFixed(1)} ms  duplicates ${duplicates}`)
  console.log(`  peer, bare js.publish:       ${peerRate.toFixed(0)}/s   (durable delivery / bare publish = ${(rate / peerRate).toFixed(2)})`)
  const pass = rate >= TARGET
  console.log(`  target ≥ ${TARGET}/s durable: ${pass ? 'MET' : 'MISSED'} (${(rate / TARGET).toFixed(2)}× target)`)
  process.exitCode = pass ? 0 : 1
} finally {
  await pool.close()
  server.closeAllConnections()
  server.close()
  await nats.close()
}

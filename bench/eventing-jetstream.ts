// Durable broker end to end on this machine (BENCH=eventing-jetstream): events accepted by the
// JetStream backing (202 after the PubAck), delivered by the durable pull consumer to a real HTTP
// subscriber on 127.0.0.1, acked. This process is the producer, the backing and the subscriber;
// nats-server (Debian's, a fresh store in tmp) is the child. Per round it prints delivered events/s,
// the accept → subscriber latency p50/p99, and the CPU each side spent per event; then the median
// round against the target (≥ 5,000 events/s durable) and, as the peer from the same run,
// bare `js.publish` (awaited with the same window, nothing consuming) that bounds it.
//   node bench/eventing-jetstream.ts
// EVENTS (per round, 20000), ROUNDS (3), WINDOW (32 concurrent producers), SIZE (256 B of data),
// MAX_ACK_PENDING (256), CONNS (64 subscriber connections) tune it. Exit status 1 when the median
// round misses the target; 0 with a "skipped" line when nats-server is not installed.
import { accessSync, constants } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import type { AddressInfo } from 'node:net'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Pool } from 'undici'
import { JetStreamBacking } from '../gateway/eventing/jetstream-backing.ts'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, Deliverer } from '../gateway/eventing/types.ts'
import { NATS_SERVER, startNatsServer } from '../test/fixtures/nats-server.ts'
import { waitFor } from '../test/fixtures/wait.ts'
import { broker, deliverySpec, table } from '../test/gateway/eventing/jetstream/helpers.ts'
import { cpuTicks, TCK } from './lib.ts'

try {
  accessSync(NATS_SERVER, constants.X_OK)
} catch {
  console.log(`eventing-jetstream: skipped: nats-server not found at ${NATS_SERVER} (apt-get install nats-server, or set NATS_SERVER)`)
  process.exit(0)
}

const EVENTS = Number(process.env.EVENTS ?? 20_000)
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 3))
const WINDOW = Number(process.env.WINDOW ?? 32)
const SIZE = Number(process.env.SIZE ?? 256)
const WARMUP = Math.min(EVENTS, 2000)
const TARGET = 5000

function pct(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

// the subscriber: reads the body, records when the event arrived (ce-id is its index), answers 200
const TOTAL = WARMUP + EVENTS * ROUNDS
const sentAt = new Float64Array(TOTAL)
const arrivedAfter = new Float64Array(TOTAL)
const seen = new Uint8Array(TOTAL)
let received = 0
let duplicates = 0
const server = http.createServer((req, res) => {
  const id = Number(req.headers['ce-id'])
  req.resume()
  req.on('end', () => {
    if (seen[id] === 1) duplicates++
    else {
      seen[id] = 1
      received++
      arrivedAfter[id] = performance.now() - sentAt[id]
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

/** CPU µs used so far by this process and by nats-server */
function cpuNow(natsPid: number): { self: number; nats: number } {
  const u = process.cpuUsage()
  return { self: u.user + u.system, nats: (cpuTicks(natsPid) / TCK) * 1e6 }
}

const nats = await startNatsServer()
let status = 0
try {
  const natsPid = nats.pid()!
  const data = Buffer.alloc(SIZE, 'x')
  console.log(`eventing-jetstream: ${ROUNDS} rounds of ${EVENTS} events of ${SIZE} B, window ${WINDOW}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} (nats-server ${nats.url})`)

  // peer: bare js.publish with the same window and payload, on a limits stream, nothing consuming
  const nc = await connect({ servers: nats.url, noAsyncTraces: true })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'PEER', subjects: ['peer'], retention: RetentionPolicy.Limits, storage: StorageType.File })
  const js = jetstream(nc)
  let p = 0
  const peerCpu0 = cpuNow(natsPid)
  const p0 = performance.now()
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (p < EVENTS) {
      const i = p++
      await js.publish('peer', data, { msgID: `peer-${i}` })
    }
  }))
  const peerRate = EVENTS / ((performance.now() - p0) / 1000)
  const peerCpu1 = cpuNow(natsPid)
  await jsm.streams.delete('PEER')
  await nc.close()
  console.log(`  peer, bare js.publish: ${peerRate.toFixed(0)}/s, CPU per event: client ${((peerCpu1.self - peerCpu0.self) / EVENTS).toFixed(0)} µs, nats-server ${((peerCpu1.nats - peerCpu0.nats) / EVENTS).toFixed(0)} µs`)

  const backing = new JetStreamBacking({ servers: nats.url, deliverer, maxAckPending: Number(process.env.MAX_ACK_PENDING ?? 256) })
  const br = broker('bench', 'durable', [{ name: 't', subscriber: subUrl, delivery: deliverySpec({ retry: 3, timeoutMs: 10_000 }) }])
  await waitFor(() => backing.connected, { what: 'NATS' })
  await backing.install(table(nats.url, [br]))

  let refused = 0
  /** WINDOW producers accept ids [from, to) */
  const produce = async (from: number, to: number): Promise<void> => {
    let next = from
    await Promise.all(Array.from({ length: WINDOW }, async () => {
      while (next < to) {
        const i = next++
        sentAt[i] = performance.now()
        const r = await backing.accept(br, { attributes: { specversion: '1.0', id: String(i), source: '/bench', type: 'bench', datacontenttype: 'application/octet-stream' }, data })
        if (r !== 'accepted') refused++
      }
    }))
  }
  const delivered = (n: number) => waitFor(() => received + refused >= n, { what: () => `every event delivered (${received}/${n})`, timeoutMs: 300_000, everyMs: 10 })

  await produce(0, WARMUP)
  await delivered(WARMUP)
  const rates: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const from = WARMUP + round * EVENTS
    const cpu0 = cpuNow(natsPid)
    const t0 = performance.now()
    await produce(from, from + EVENTS)
    const acceptedIn = performance.now() - t0
    await delivered(from + EVENTS)
    const elapsed = performance.now() - t0
    const cpu1 = cpuNow(natsPid)
    const rate = EVENTS / (elapsed / 1000)
    rates.push(rate)
    const lat = arrivedAfter.slice(from, from + EVENTS).sort()
    console.log(`  round ${round + 1}: delivered ${rate.toFixed(0)}/s end to end (accepted ${(EVENTS / (acceptedIn / 1000)).toFixed(0)}/s), latency p50 ${pct(lat, 0.5).toFixed(0)} ms p99 ${pct(lat, 0.99).toFixed(0)} ms; CPU per event: gateway side ${((cpu1.self - cpu0.self) / EVENTS).toFixed(0)} µs, nats-server ${((cpu1.nats - cpu0.nats) / EVENTS).toFixed(0)} µs`)
  }
  await backing.close()
  const mid = median(rates)
  const stats = `refused ${refused}, duplicates ${duplicates}`
  console.log(`  durable end to end: ${mid.toFixed(0)}/s median of ${ROUNDS} (min ${Math.min(...rates).toFixed(0)}, max ${Math.max(...rates).toFixed(0)}), ${stats}`)
  console.log(`  target ≥ ${TARGET}/s durable: ${(mid / TARGET).toFixed(2)}× ${mid >= TARGET ? 'MET' : 'MISSED'}; ${(mid / peerRate).toFixed(2)}× bare js.publish (which stores and never delivers); load average ${os.loadavg()[0].toFixed(1)}`)
  if (mid < TARGET || refused > 0) status = 1
} finally {
  await pool.close()
  server.closeAllConnections()
  server.close()
  await nats.close()
}
process.exit(status)

// Durable broker end to end on this machine (BENCH=eventing-jetstream; part of BENCH=eventing):
// events accepted by the JetStream backing (202 only after the PubAck), delivered by the trigger's
// durable pull consumer to a real HTTP subscriber on 127.0.0.1, acknowledged. nats-server (Debian's,
// a fresh store in tmp) is a child process. Two setups, each a warm-up and ROUNDS rounds:
//   1. backing: this process is the producer (calling accept() as the ingress does), the backing
//      and the subscriber — the figure the target (≥ 5,000 events/s durable) is held to;
//   2. gateway: a real Gateway in a child process (HTTP broker ingress → JetStream → its
//      HttpDeliverer), this process the HTTP producer and the subscriber: three processes on the
//      machine's cores instead of two, so lower on a 2-core machine.
// Per round: delivered events/s, accept → subscriber latency p50/p99, CPU per event of each process;
// then the median round against the target and against the peer from the same run, bare
// `js.publish` (awaited with the same window, nothing consuming), which only stores.
//   node bench/eventing-jetstream.ts
// EVENTS (per round, 20000), ROUNDS (3), WINDOW (32 concurrent producers), SIZE (256 B of data),
// MAX_ACK_PENDING (256, setup 1), CONNS (64 subscriber connections), SETUPS ("backing gateway")
// tune it; GATEWAY_PROF=DIR writes a --cpu-prof of the gateway child there. Exit status 1 when setup 1's median misses the target; 0 with a "skipped" line when
// nats-server is not installed.
import { fork, type ChildProcess } from 'node:child_process'
import { accessSync, constants, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Pool } from 'undici'
import { JetStreamBacking } from '../gateway/eventing/jetstream-backing.ts'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, Deliverer } from '../gateway/eventing/types.ts'
import { NATS_SERVER, startNatsServer } from '../test/fixtures/nats-server.ts'
import { waitFor } from '../test/fixtures/wait.ts'
import { broker, deliverySpec, table } from '../test/gateway/eventing/jetstream/helpers.ts'
import { cpuTicks, TCK } from './lib.ts'

const EVENTS = Number(process.env.EVENTS ?? 20_000)
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 3))
const WINDOW = Number(process.env.WINDOW ?? 32)
const SIZE = Number(process.env.SIZE ?? 256)
const SETUPS = (process.env.SETUPS ?? 'backing gateway').split(/[ ,]+/)
const WARMUP = Math.min(EVENTS, 10_000)
const TARGET = 5000
const HOST = 'broker-ingress.knative-eventing.svc.cluster.local'

function pct(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}
function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
}

// -- the gateway child (setup 2) -------------------------------------------------------------------

type ChildMsg = { cmd: 'table'; natsUrl: string; sink: string } | { cmd: 'quit' }

async function serve(): Promise<void> {
  const { Gateway } = await import('../gateway/gateway.ts')
  const g = new Gateway()
  const { internalPort } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  process.on('message', async (m: ChildMsg) => {
    if (m.cmd === 'table') {
      const delivery = { ...deliverySpec({ retry: 3, timeoutMs: 10_000 }), format: 'binary' as const }
      const trigger = { namespace: 'bench', name: 't', uid: 'bench-gateway-t', broker: 'bench/gateway', filter: () => true, subscriber: { url: m.sink, connectTo: null }, delivery }
      await g.swapEventing({
        version: 1, natsUrl: m.natsUrl, queueLimit: 10_000, maxTtl: 255, ingressHosts: { internal: [HOST], external: [] },
        brokers: new Map([['bench/gateway', { key: 'bench/gateway', namespace: 'bench', name: 'gateway', backing: 'jetstream' as const, delivery, triggers: [trigger] }]]),
      })
      // the backing connects and creates the stream and consumer in the background
      await waitFor(() => g.eventingStats().some((s) => s.broker === 'bench/gateway' && s.lastError === null), { what: 'the durable broker', timeoutMs: 30_000 })
      process.send!({ ok: true })
    } else if (m.cmd === 'quit') {
      process.exit(0) // writes the --cpu-prof profile
    }
  })
  process.send!({ internalPort })
}

function ask<T>(child: ChildProcess, m: ChildMsg): Promise<T> {
  return new Promise((resolve) => { child.once('message', (r) => resolve(r as T)); child.send(m) })
}

// -- the producer's side ------------------------------------------------------------------------

async function main(): Promise<void> {
  try {
    accessSync(NATS_SERVER, constants.X_OK)
  } catch {
    console.log(`eventing-jetstream: skipped: nats-server not found at ${NATS_SERVER} (apt-get install nats-server, or set NATS_SERVER)`)
    return
  }

  // the subscriber: reads the body, records when the event arrived (ce-id is its index), answers 200
  const perSetup = WARMUP + EVENTS * ROUNDS
  const TOTAL = perSetup * 2
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
  const subUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`

  // setup 1's Deliverer: binary mode, minimal (the gateway's HttpDeliverer adds Knative's headers)
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
  let child: ChildProcess | null = null
  // however it ends (bench/lib.ts exits on SIGINT/SIGTERM/SIGHUP, e.g. run.sh's timeout; a closed
  // stdout), nats-server, its store and the gateway child go with it
  process.on('exit', () => {
    child?.kill('SIGKILL')
    const pid = nats.pid()
    if (pid !== null) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    rmSync(nats.storeDir, { recursive: true, force: true })
  })
  process.stdout.on('error', () => process.exit(1))
  let status = 0
  try {
    const natsPid = nats.pid()!
    /** CPU µs used so far by this process, nats-server and the gateway child */
    const cpuNow = (): { self: number; nats: number; gateway: number } => {
      const u = process.cpuUsage()
      return { self: u.user + u.system, nats: (cpuTicks(natsPid) / TCK) * 1e6, gateway: child === null ? 0 : (cpuTicks(child.pid!) / TCK) * 1e6 }
    }
    const data = Buffer.alloc(SIZE, 'x')
    console.log(`eventing-jetstream: ${ROUNDS} rounds of ${EVENTS} events of ${SIZE} B after ${WARMUP} to warm up, window ${WINDOW}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} (nats-server ${nats.url})`)

    // peer: bare js.publish with the same window and payload, on a limits stream, nothing consuming
    const nc = await connect({ servers: nats.url, noAsyncTraces: true })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'PEER', subjects: ['peer'], retention: RetentionPolicy.Limits, storage: StorageType.File })
    const js = jetstream(nc)
    let p = 0
    const peerCpu0 = cpuNow()
    const p0 = performance.now()
    await Promise.all(Array.from({ length: WINDOW }, async () => {
      while (p < EVENTS) {
        const i = p++
        await js.publish('peer', data, { msgID: `peer-${i}` })
      }
    }))
    const peerRate = EVENTS / ((performance.now() - p0) / 1000)
    const peerCpu1 = cpuNow()
    await jsm.streams.delete('PEER')
    await nc.close()
    console.log(`  peer, bare js.publish: ${peerRate.toFixed(0)}/s stored; CPU per event: client ${((peerCpu1.self - peerCpu0.self) / EVENTS).toFixed(0)} µs, nats-server ${((peerCpu1.nats - peerCpu0.nats) / EVENTS).toFixed(0)} µs`)

    let refused = 0
    /** runs the warm-up and the rounds with `accept(i)` (ids from `base`); returns the median rate */
    const rounds = async (label: string, base: number, accept: (i: number) => Promise<boolean>): Promise<number> => {
      const produce = async (from: number, to: number): Promise<void> => {
        let next = from
        await Promise.all(Array.from({ length: WINDOW }, async () => {
          while (next < to) {
            const i = next++
            sentAt[i] = performance.now()
            if (!(await accept(i))) refused++
          }
        }))
      }
      const delivered = (n: number) => waitFor(() => received + refused >= n, { what: () => `every event delivered (${received}/${n})`, timeoutMs: 300_000, everyMs: 10 })
      const done = received + refused
      await produce(base, base + WARMUP)
      await delivered(done + WARMUP)
      const rates: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        const from = base + WARMUP + round * EVENTS
        const before = received + refused
        const cpu0 = cpuNow()
        const t0 = performance.now()
        await produce(from, from + EVENTS)
        const acceptedIn = performance.now() - t0
        await delivered(before + EVENTS)
        const elapsed = performance.now() - t0
        const cpu1 = cpuNow()
        const rate = EVENTS / (elapsed / 1000)
        rates.push(rate)
        const lat = arrivedAfter.slice(from, from + EVENTS).sort()
        const us = (k: 'self' | 'nats' | 'gateway'): string => ((cpu1[k] - cpu0[k]) / EVENTS).toFixed(0)
        const cpu = child === null ? `producer+backing+subscriber ${us('self')} µs` : `gateway ${us('gateway')} µs, producer+subscriber ${us('self')} µs`
        console.log(`    round ${round + 1}: ${rate.toFixed(0)}/s delivered (accepted ${(EVENTS / (acceptedIn / 1000)).toFixed(0)}/s), latency p50 ${pct(lat, 0.5).toFixed(0)} ms p99 ${pct(lat, 0.99).toFixed(0)} ms; CPU per event: ${cpu}, nats-server ${us('nats')} µs`)
      }
      const mid = median(rates)
      console.log(`  ${label}: ${mid.toFixed(0)}/s median (min ${Math.min(...rates).toFixed(0)}, max ${Math.max(...rates).toFixed(0)}); target ≥ ${TARGET}/s durable: ${(mid / TARGET).toFixed(2)}× ${mid >= TARGET ? 'MET' : 'MISSED'}; ${(mid / peerRate).toFixed(2)}× bare js.publish`)
      return mid
    }

    if (SETUPS.includes('backing')) {
      console.log('  1. backing in this process (producer → accept() → JetStream → consumer → HTTP subscriber):')
      const backing = new JetStreamBacking({ servers: nats.url, deliverer, maxAckPending: Number(process.env.MAX_ACK_PENDING ?? 256) })
      const br = broker('bench', 'durable', [{ name: 't', subscriber: subUrl, delivery: deliverySpec({ retry: 3, timeoutMs: 10_000 }) }])
      await waitFor(() => backing.connected, { what: 'NATS' })
      await backing.install(table(nats.url, [br]))
      const mid = await rounds('durable end to end, backing', 0, async (i) =>
        (await backing.accept(br, { attributes: { specversion: '1.0', id: String(i), source: '/bench', type: 'bench', datacontenttype: 'application/octet-stream' }, data })) === 'accepted')
      await backing.close()
      if (mid < TARGET) status = 1
    }

    if (SETUPS.includes('gateway')) {
      console.log('  2. through a Gateway child (HTTP producer → broker ingress → JetStream → HttpDeliverer → HTTP subscriber):')
      const execArgv = process.env.GATEWAY_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.GATEWAY_PROF] : []
      child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' } })
      const { internalPort } = await new Promise<{ internalPort: number }>((r) => child!.once('message', (m) => r(m as { internalPort: number })))
      await ask(child, { cmd: 'table', natsUrl: nats.url, sink: subUrl })
      const ingress = new Pool(`http://127.0.0.1:${internalPort}`, { connections: WINDOW, keepAliveTimeout: 60_000 })
      await rounds('durable end to end, gateway', perSetup, async (i) => {
        const r = await ingress.request({
          path: '/bench/gateway', method: 'POST', body: data,
          headers: { host: HOST, 'ce-specversion': '1.0', 'ce-id': String(i), 'ce-source': '/bench', 'ce-type': 'bench', 'content-type': 'application/octet-stream' },
        })
        await r.body.dump()
        return r.statusCode === 202
      })
      await ingress.close()
      const gone = new Promise((resolve) => child!.once('exit', resolve))
      child.send({ cmd: 'quit' })
      await gone
      child = null
    }
    console.log(`  refused ${refused}, duplicate deliveries ${duplicates}; load average ${os.loadavg()[0].toFixed(1)}`)
    if (refused > 0) status = 1
  } finally {
    child?.kill('SIGKILL')
    await pool.close()
    server.closeAllConnections()
    server.close()
    await nats.close()
  }
  process.exit(status)
}

if (process.argv.includes('--serve')) void serve()
else void main()

// Eventing benchmark (BENCH=eventing): a Gateway with an in-memory broker runs in a child process;
// this process is the producer and the subscriber. Prints
//   1. broker ingress events/s and events per gateway CPU-second (no trigger: ingress only;
//      target ≥ 20,000/s per core; Knative's MT broker was measured at ~1,200–1,500/s),
//   2. end-to-end delivery throughput and p99 latency (producer POST → subscriber receives),
//   3. memory per queued event (a subscriber that holds every request, 50,000 events queued).
// DURATION (s, default 5) and CONNS (default 32) tune it. Everything listens on 127.0.0.1.
import { fork, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { cpuTicks, TCK } from './lib.ts'

const DURATION = Number(process.env.DURATION ?? 5) * 1000
const CONNS = Number(process.env.CONNS ?? 32)
const HOST = 'broker-ingress.knative-eventing.svc.cluster.local'

type Msg = { cmd: 'table'; sink: string | null; queueLimit: number } | { cmd: 'mem' } | { cmd: 'depth' } | { cmd: 'bare' }

async function serve(): Promise<void> {
  const { Gateway } = await import('../gateway/gateway.ts')
  const g = new Gateway()
  const { internalPort } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  process.on('message', async (m: Msg) => {
    if (m.cmd === 'table') {
      const delivery = { retry: 0, backoffPolicy: null, backoffDelayMs: 0, backoffMaxMs: Infinity, timeoutMs: 0, retryAfterMaxMs: null, format: 'binary' as const, deadLetterSink: null }
      const triggers = m.sink === null ? [] : [{ namespace: 'default', name: 't', uid: 't', broker: 'default/default', filter: () => true, subscriber: { url: m.sink, connectTo: null }, delivery }]
      await g.swapEventing({
        version: Date.now(), natsUrl: null, queueLimit: m.queueLimit, maxTtl: 255, ingressHosts: { internal: [HOST], external: [] },
        brokers: new Map([['default/default', { key: 'default/default', namespace: 'default', name: 'default', backing: 'memory' as const, delivery, triggers }]]),
      })
      process.send!({ ok: true })
    } else if (m.cmd === 'mem') {
      globalThis.gc?.()
      process.send!({ heap: process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers })
    } else if (m.cmd === 'bare') {
      // The peer: a bare Node HTTP server in the same process that reads the body and answers 202.
      const bare = http.createServer({ noDelay: true }, (req, res) => {
        req.on('data', () => undefined)
        req.on('end', () => { res.writeHead(202, { 'content-length': '0' }); res.end() })
      })
      bare.listen(0, '127.0.0.1', () => process.send!({ port: (bare.address() as AddressInfo).port }))
    } else if (m.cmd === 'depth') {
      process.send!({ depth: g.eventingStats()[0]?.depth ?? 0 })
    }
  })
  process.send!({ internalPort })
}

function ask<T>(child: ChildProcess, m: Msg): Promise<T> {
  return new Promise((resolve) => { child.once('message', (r) => resolve(r as T)); child.send(m) })
}

const BODY = '{"order":12345,"item":"widget","qty":3}'

/** Keep CONNS requests in flight for `ms`; returns the count of 202s and the non-202s. */
async function load(pool: Pool, ms: number, onSend?: (id: string) => void, limit = Infinity): Promise<{ ok: number; other: number }> {
  let ok = 0, other = 0, n = 0
  const end = performance.now() + ms
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < end && n < limit) {
      const id = `${w}-${n++}`
      onSend?.(id)
      const r = await pool.request({
        path: '/default/default', method: 'POST', body: BODY,
        headers: { host: HOST, 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/bench', 'ce-type': 'dev.sluice.bench', 'content-type': 'application/json' },
      })
      await r.body.dump()
      if (r.statusCode === 202) ok++
      else other++
    }
  }
  await Promise.all(Array.from({ length: CONNS }, (_, w) => worker(w)))
  return { ok, other }
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' } })
  const kill = (): void => { child.kill('SIGKILL') }
  process.on('exit', kill)
  const { internalPort } = await new Promise<{ internalPort: number }>((r) => child.once('message', (m) => r(m as { internalPort: number })))
  const pool = new Pool(`http://127.0.0.1:${internalPort}`, { connections: CONNS })
  let status = 0

  /** events per CPU-second of the child while `p` is loaded for DURATION */
  const measure = async (p: Pool) => {
    await load(p, 500)
    const t0 = cpuTicks(child.pid!)
    const s0 = performance.now()
    const r = await load(p, DURATION)
    const secs = (performance.now() - s0) / 1000
    const cpu = (cpuTicks(child.pid!) - t0) / TCK
    return { r, perSec: r.ok / secs, perCore: r.ok / cpu, share: cpu / secs }
  }

  // 0. the peer: a bare Node HTTP server answering 202 (the ceiling of any Node ingress)
  const { port: barePort } = await ask<{ port: number }>(child, { cmd: 'bare' })
  const barePool = new Pool(`http://127.0.0.1:${barePort}`, { connections: CONNS })
  const bare = await measure(barePool)
  await barePool.close()
  console.log(`bare Node HTTP 202: ${Math.round(bare.perSec)} req/s → ${Math.round(bare.perCore)} req per CPU-second`)

  // 1. ingress only
  await ask(child, { cmd: 'table', sink: null, queueLimit: 10_000 })
  const { r: r1, perSec, perCore, share } = await measure(pool)
  console.log(`ingress: ${Math.round(perSec)} ev/s, gateway CPU ${(share * 100).toFixed(0)}% of a core → ${Math.round(perCore)} ev per CPU-second (target ≥ 20000: ${(perCore / 20000).toFixed(2)}×; ${(perCore / bare.perCore).toFixed(2)}× a bare Node server; Knative MT ~1500/s: ${(perCore / 1500).toFixed(1)}×)${r1.other ? `, ${r1.other} non-202` : ''}`)
  if (perCore < 20000) status = 1

  // 2. end to end
  const sent = new Map<string, number>()
  const lat: number[] = []
  let hold = false
  const heldRes: http.ServerResponse[] = []
  const sinkSrv = http.createServer((req, res) => {
    req.resume()
    const id = String(req.headers['ce-id'])
    const at = sent.get(id)
    if (at !== undefined) { lat.push(performance.now() - at); sent.delete(id) }
    if (hold) { heldRes.push(res); return }
    res.writeHead(200, { 'content-length': '0' })
    res.end()
  })
  sinkSrv.keepAliveTimeout = 60_000
  await new Promise<void>((r) => sinkSrv.listen(0, '127.0.0.1', r))
  const sinkUrl = `http://127.0.0.1:${(sinkSrv.address() as AddressInfo).port}/`
  await ask(child, { cmd: 'table', sink: sinkUrl, queueLimit: 10_000 })
  const s1 = performance.now()
  const r2 = await load(pool, DURATION, (id) => sent.set(id, performance.now()))
  for (let i = 0; i < 500 && lat.length < r2.ok; i++) await new Promise((r) => setTimeout(r, 10))
  const e2eSecs = (performance.now() - s1) / 1000
  lat.sort((a, b) => a - b)
  console.log(`end to end (memory): ${Math.round(lat.length / e2eSecs)} ev/s delivered of ${r2.ok} accepted (${r2.other} refused), latency p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms`)

  // 3. memory per queued event
  hold = true
  const N = 50_000
  await ask(child, { cmd: 'table', sink: sinkUrl, queueLimit: N + 1000 })
  const before = (await ask<{ heap: number }>(child, { cmd: 'mem' })).heap
  const r3 = await load(pool, 120_000, undefined, N)
  const depth = (await ask<{ depth: number }>(child, { cmd: 'depth' })).depth
  const after = (await ask<{ heap: number }>(child, { cmd: 'mem' })).heap
  console.log(`memory: ${depth} events held (${r3.ok} accepted) → ${Math.round((after - before) / Math.max(1, depth))} bytes per queued event (${BODY.length}-byte body, 4 attributes + arrival time and TTL)`)

  for (const res of heldRes) res.destroy()
  sinkSrv.closeAllConnections()
  sinkSrv.close()
  await pool.close()
  kill()
  process.exit(status)
}

if (process.argv.includes('--serve')) void serve()
else void main()

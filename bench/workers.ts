// `sluice serve --workers N` against one worker (BENCH=workers npm run bench, or node bench/workers.ts):
// CPU per request (target: 2 workers ≤ 1.10× one worker) and requests/s (target: ≥ 1.7× one
// worker when the load generator runs on other cores).
//
// Method, for a machine whose load generator cannot run elsewhere (this one has 2 cores):
// - Sluice is not pinned (its workers may use every core); the upstream (nginx answering by itself,
//   or bench/peers/node-floor.mjs) and wrk run at the lowest priority (nice 19), so the gateway
//   gets the cores first and the load generator only what is left.
// - CPU per request: utime+stime of the Sluice process (all its threads: primary and workers,
//   from /proc/<pid>/stat) over a round, divided by the requests wrk completed. It does not depend
//   on how much CPU wrk and the upstream take, so it compares across runs.
// - Requests/s is measured too, but on 2 cores wrk and the upstream take a large share of the same
//   cores, so the measured ratio understates what a separate load generator would see. The
//   capacity ratio is therefore also computed from CPU alone: a process with W workers can spend
//   at most min(W, cores) cores on requests, so capacity ≈ min(W, cores) × 1e6 / (µs per request),
//   and the ratio of those is the requests/s ratio a load generator elsewhere would measure when
//   the gateway is the bottleneck.
// Configurations take turns, ROUNDS times (drifting load from other processes hits them alike).
// Env: DURATION (measured s per configuration, 10), ROUNDS (5), WARMUP (s, 2), CONNS (50),
//      WORKERS (the configurations, default "1 2"; 0 = no --workers, the one-process gateway).
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NODE, ROOT, TCK, fmt, freePort, get, have, parseWrk, percentile, startGroup, startSluice, stopGroup, table, tmpDir, waitFor, type Sluice } from './lib.ts'

const env = (k: string, d: number): number => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d)
const DURATION = env('DURATION', 10)
const ROUNDS = Math.max(1, env('ROUNDS', 5))
const ROUND_S = Math.max(1, Math.round(DURATION / ROUNDS))
const WARMUP = env('WARMUP', 2)
const CONNS = env('CONNS', 50)
const CONFIGS = (process.env.WORKERS ?? '1 2').split(/[\s,]+/).filter((w) => w !== '').map(Number)
const CORES = os.availableParallelism()
const HOST = 'hello.default.localhost'
/** the niceness of wrk and the upstream (19: lowest priority; 0: the gateway's own) */
const NICE = String(env('NICE', 19))

/** wrk at the lowest priority (nice 19), so the gateway is served first. */
function lowWrk(port: number, seconds: number): Promise<string> {
  const args = ['-n', NICE, 'wrk', '-t1', `-c${CONNS}`, `-d${seconds}s`, '--latency', '-H', `Host: ${HOST}`, `http://127.0.0.1:${port}/`]
  return new Promise((resolve, reject) => {
    execFile('nice', args, { timeout: (seconds + 15) * 1000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)))
  })
}

/** user+system CPU ticks of a process, all its threads included. */
function ticks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

interface Run { workers: number; sluice: Sluice; ticks: number; requests: number; rps: number[]; p99: number[]; non2xx: number }

async function main(): Promise<number> {
  if (!have('wrk')) {
    console.log('skipped workers: wrk not installed (apt-get install wrk)')
    return 0
  }
  const dir = tmpDir('sluice-workers-bench-')
  console.log(`# workers: sluice unpinned on ${CORES} cores; upstream and wrk -t1 -c${CONNS} at nice ${NICE}; ${WARMUP} s warm-up, ${ROUNDS} rounds of ${ROUND_S} s, configurations taking turns; Node ${process.versions.node}`)
  const up = await freePort()
  let upstream: ReturnType<typeof startGroup>
  if (have('nginx')) {
    writeFileSync(path.join(dir, 'upstream.conf'), `worker_processes 1; daemon off; pid ${dir}/upstream.pid; error_log ${dir}/upstream.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  server { listen 127.0.0.1:${up}; location / { return 200 "hello world\\n"; } } }
`)
    upstream = startGroup('nice', ['-n', NICE, 'nginx', '-c', path.join(dir, 'upstream.conf')], { out: path.join(dir, 'upstream.log') })
  } else {
    console.log('upstream: nginx not installed (apt-get install nginx), using bench/peers/node-floor.mjs')
    upstream = startGroup('nice', ['-n', NICE, NODE, path.join(ROOT, 'bench/peers/node-floor.mjs'), String(up)], { out: path.join(dir, 'upstream.log') })
  }
  const runs: Run[] = []
  try {
    await waitFor(async () => (await get(up, 'x').catch(() => ({ status: 0 }))).status === 200, 10_000, () => `the upstream did not answer on 127.0.0.1:${up}`, 100)
    for (const workers of CONFIGS) {
      const config = path.join(dir, `config-${workers}`)
      mkdirSync(config)
      writeFileSync(path.join(config, 'bench.yaml'), readFileSync(path.join(ROOT, 'bench/config/bench.yaml'), 'utf8').replaceAll('127.0.0.1:9001', `127.0.0.1:${up}`))
      const sluice = await startSluice(config, { args: workers > 0 ? ['--workers', String(workers)] : [] })
      runs.push({ workers, sluice, ticks: 0, requests: 0, rps: [], p99: [], non2xx: 0 })
      await waitFor(async () => (await get(sluice.port, HOST).catch(() => ({ status: 0 }))).status === 200, 20_000, () => `sluice --workers ${workers} did not answer: ${sluice.log().slice(-2000)}`, 100)
      await lowWrk(sluice.port, WARMUP)
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of [...runs.slice(round % runs.length), ...runs.slice(0, round % runs.length)]) {
        const c0 = ticks(r.sluice.pid)
        const w = parseWrk(await lowWrk(r.sluice.port, ROUND_S))
        r.ticks += ticks(r.sluice.pid) - c0
        r.requests += w.requests
        r.rps.push(w.rps)
        r.p99.push(w.p99)
        r.non2xx += w.non2xx
      }
    }
  } finally {
    for (const r of runs) await r.sluice.stop()
    await stopGroup(upstream)
  }
  const us = (r: Run): number => (r.requests > 0 ? (r.ticks * 1e6) / TCK / r.requests : NaN)
  /** what the gateway could serve with the load generator elsewhere: its usable cores over its CPU per request */
  const capacity = (r: Run): number => (Math.min(Math.max(1, r.workers), CORES) * 1e6) / us(r)
  const name = (r: Run): string => (r.workers === 0 ? 'one process' : `--workers ${r.workers}`)
  const base = runs.find((r) => r.workers === 1) ?? runs[0]!
  console.log(`\nreq/s, p99: median of the ${ROUNDS} rounds; cpu µs/req: all rounds' CPU ÷ requests; capacity: min(workers, cores) × 1e6 ÷ cpu µs/req`)
  console.log(table(['gateway', 'req/s', 'p99 ms', 'cpu µs/req', 'cpu ÷ base', 'req/s ÷ base', 'capacity req/s', 'capacity ÷ base', 'non-2xx'], runs.map((r) => [
    name(r), fmt(percentile(r.rps, 50), 0), fmt(percentile(r.p99, 50), 2), fmt(us(r)), `${fmt(us(r) / us(base), 2)}×`,
    `${fmt(percentile(r.rps, 50) / percentile(base.rps, 50), 2)}×`, fmt(capacity(r), 0), `${fmt(capacity(r) / capacity(base), 2)}×`, String(r.non2xx),
  ])))
  const two = runs.find((r) => r.workers === 2)
  if (two !== undefined && base.workers === 1) {
    const cpu = us(two) / us(base)
    const cap = capacity(two) / capacity(base)
    console.log(`\ntarget --workers 2 CPU per request ≤ 1.10× one worker: ${fmt(cpu, 2)}× ${cpu <= 1.10 ? 'met' : 'missed'}`)
    console.log(`target --workers 2 requests/s ≥ 1.7× one worker (from CPU, load generator elsewhere): ${fmt(cap, 2)}× ${cap >= 1.7 ? 'met' : 'missed'}`)
    console.log(`measured requests/s on these ${CORES} cores, wrk and upstream included: ${fmt(percentile(two.rps, 50) / percentile(base.rps, 50), 2)}×`)
  }
  return runs.some((r) => r.requests === 0) ? 1 : 0
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`bench/workers.ts: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})

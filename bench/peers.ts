// Peer comparison (npm run bench, or BENCH=peers): Sluice side by side with nginx, HAProxy, a bare
// undici proxy, @fastify/http-proxy and `nodefloor` (a node:http server answering by itself, the
// cost of Node's server half alone), all in one run on this machine.
//
//   node bench/peers.ts                     (or: BENCH=peers npm run bench)
//
// Method: each proxy runs alone, pinned to CPU 1 (taskset); the upstream (nginx answering
// "hello world", or bench/peers/node-floor.mjs when nginx is absent) and the load generator
// (wrk -t1, CONNS connections) share CPU 0. Every peer is started and warmed up (WARMUP seconds of
// load, not counted); then the peers take turns, ROUNDS times, each round DURATION/ROUNDS seconds
// of wrk, so load from other processes that drifts over the run hits all of them alike. A peer's
// CPU time (utime+stime of its whole process group, from /proc/<pid>/stat) summed over its rounds,
// divided by the requests wrk completed: CPU µs per request, the figure that stays comparable on a
// loaded machine. Ratios are taken between rows of the same run.
// Sluice runs with bench/config (metrics on, its full header contract on, no plugins).
//
// Env: DURATION (measured s per peer, 10), ROUNDS (5), WARMUP (s, 2), CONNS (50), PEERS (default
//      "sluice sluice-node nginx haproxy undici fastify nodefloor"; sluice-node is Sluice with
//      SLUICE_FAST_PATH=off), BENCH_PROFILE=DIR (Sluice and the Node
//      peers run with --cpu-prof and write DIR/<name>.cpuprofile; read one with bench/profile-top.ts).
// A peer whose tool is missing is skipped with a line saying how to install it. Targets (issue 14:
// Sluice ≤ 2.0× nginx, ≤ 0.65× the bare undici peer) are printed as met/missed and do not fail the
// run; the exit status is non-zero only when Sluice itself could not be measured.
// Everything listens on 127.0.0.1, on free ports; every process started is killed however it ends.
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  ROOT, NODE, TCK, fmt, freePort, get, groupTicks, have, parseWrk, percentile, startGroup, startSluice, stopGroup, table, tmpDir, waitFor, wrk,
} from './lib.ts'

const env = (k: string, d: number): number => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d)
const DURATION = env('DURATION', 10)
const ROUNDS = Math.max(1, env('ROUNDS', 5))
const ROUND_S = Math.max(1, Math.round(DURATION / ROUNDS))
const WARMUP = env('WARMUP', 2)
const CONNS = env('CONNS', 50)
const ALL = ['sluice', 'sluice-node', 'nginx', 'haproxy', 'undici', 'fastify', 'nodefloor']
const PEERS = (process.env.PEERS ?? ALL.join(' ')).split(/[\s,]+/).filter((p) => p !== '')
const TARGETS: { peer: string; max: number; what: string }[] = [
  { peer: 'nginx', max: 2.0, what: 'Sluice ≤ 2.0× nginx' },
  { peer: 'undici', max: 0.65, what: 'Sluice ≤ 0.65× the bare undici proxy' },
  { peer: 'nodefloor', max: 1.0, what: 'stretch: Sluice below nodefloor' },
]

for (const p of PEERS) {
  if (!ALL.includes(p)) {
    console.error(`bench/peers.ts: PEERS: unknown peer "${p}" (known: ${ALL.join(', ')})`)
    process.exit(2)
  }
}

// Two cores: proxy on one, upstream + load on the other. With one core nothing is pinned (the
// CPU-per-request figures still hold; req/s and latency then share the core with wrk).
const PIN = have('taskset') && os.availableParallelism() >= 2
const PROXY_CPU = PIN ? 1 : null
const LOAD_CPU = PIN ? 0 : null
const pinned = (cpu: number | null, cmd: string, args: string[]): [string, string[]] =>
  cpu === null ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]]

// BENCH_PROFILE=DIR: every Node process (Sluice and the Node peers) runs with --cpu-prof and writes
// DIR/<name>.cpuprofile when it is stopped.
const PROFILE = process.env.BENCH_PROFILE ?? ''
const profileArgs = (name: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE)}`, `--cpu-prof-name=${name}.cpuprofile`]

interface Peer {
  name: string; what: string; host: string; pid: number; port: number; stop: () => Promise<void>
  ticks: number; requests: number; rps: number[]; p50: number[]; p99: number[]; roundUs: number[]; non2xx: number; errors: string[]
}

const nginxConf = (dir: string, name: string, body: string): string => `worker_processes 1; daemon off; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}/${name}-tmp;
  proxy_temp_path ${dir}/${name}-tmp; fastcgi_temp_path ${dir}/${name}-tmp; uwsgi_temp_path ${dir}/${name}-tmp; scgi_temp_path ${dir}/${name}-tmp;
${body} }
`

function haproxyConf(port: number, up: number): string {
  return `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:${up}
`
}

function resolvable(mod: string): boolean {
  try { createRequire(path.join(ROOT, 'package.json')).resolve(mod); return true } catch { return false }
}

async function main(): Promise<number> {
  if (!have('wrk')) {
    console.log('skipped peers: wrk not installed (apt-get install wrk)')
    return 0
  }
  const dir = tmpDir('sluice-peers-')
  console.log(`# peers: each proxy ${PIN ? 'on CPU 1, upstream and wrk on CPU 0' : 'unpinned (taskset missing or one CPU)'}; wrk -t1 -c${CONNS}, ${WARMUP} s warm-up, then ${ROUNDS} rounds of ${ROUND_S} s, the peers taking turns; ${os.cpus()[0]?.model ?? ''}, Node ${process.versions.node}`)

  // The upstream: nginx answering by itself; node-floor.mjs when nginx is not installed.
  const up = await freePort()
  let upstream: ReturnType<typeof startGroup>
  if (have('nginx')) {
    writeFileSync(path.join(dir, 'upstream.conf'), nginxConf(dir, 'upstream', `  server { listen 127.0.0.1:${up}; location / { return 200 "hello world\\n"; } }`))
    upstream = startGroup(...pinned(LOAD_CPU, 'nginx', ['-c', path.join(dir, 'upstream.conf')]), { out: path.join(dir, 'upstream.log') })
  } else {
    console.log('upstream: nginx not installed (apt-get install nginx), using bench/peers/node-floor.mjs')
    upstream = startGroup(...pinned(LOAD_CPU, NODE, [path.join(ROOT, 'bench/peers/node-floor.mjs'), String(up)]), { out: path.join(dir, 'upstream.log') })
  }
  await waitFor(async () => (await get(up, 'x').catch(() => ({ status: 0 }))).status === 200, 10_000,
    () => `the upstream did not answer on 127.0.0.1:${up}: ${readFileSync(path.join(dir, 'upstream.log'), 'utf8')}`, 100)
  const direct = parseWrk(await wrk(up, 'x', ROUND_S, CONNS, LOAD_CPU))

  // Start every peer (idle ones cost nothing), then measure them in turns, ROUNDS times: load from
  // other processes on this machine that drifts over the run then hits every peer alike.
  const peers: Peer[] = []
  let sluiceFailed = false
  for (const name of PEERS) {
    const port = await freePort()
    let start: (() => Promise<{ pid: number; port: number; stop: () => Promise<void> }>) | null = null
    let host = 'localhost'
    let what = ''
    const group = (cmd: string, args: string[]) => async () => {
      if (cmd === NODE && PROFILE !== '') args = [...profileArgs(name), ...args]
      const child = startGroup(...pinned(PROXY_CPU, cmd, args), { out: path.join(dir, `${name}.log`), env: { ...process.env, NODE_OPTIONS: '' } })
      return { pid: child.pid!, port, stop: () => stopGroup(child) }
    }
    switch (name) {
      case 'sluice':
      case 'sluice-node': {
        // sluice-node: the same Sluice with the HTTP/1.1 fast path off (node:http + undici), the
        // "before" of docs/performance.md in the same run
        const config = path.join(dir, `config-${name}`)
        mkdirSync(config)
        writeFileSync(path.join(config, 'bench.yaml'), readFileSync(path.join(ROOT, 'bench/config/bench.yaml'), 'utf8').replaceAll('127.0.0.1:9001', `127.0.0.1:${up}`))
        host = 'hello.default.localhost'
        what = name === 'sluice' ? 'metrics and header contract on, no plugins' : 'the same, SLUICE_FAST_PATH=off'
        const env = name === 'sluice' ? {} : { SLUICE_FAST_PATH: 'off' }
        start = async () => {
          const s = await startSluice(config, { cpu: PROXY_CPU ?? undefined, env, nodeArgs: PROFILE !== '' ? profileArgs(name) : [] })
          return { pid: s.pid, port: s.port, stop: s.stop }
        }
        break
      }
      case 'nginx':
        if (!have('nginx')) { console.log('skipped nginx: not installed (apt-get install nginx)'); continue }
        writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, 'nginx', `  upstream be { server 127.0.0.1:${up}; keepalive 64; keepalive_requests 1000000; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }`))
        what = '1 worker, upstream keep-alive'
        start = group('nginx', ['-c', path.join(dir, 'nginx.conf')])
        break
      case 'haproxy':
        if (!have('haproxy')) { console.log('skipped haproxy: not installed (apt-get install haproxy)'); continue }
        writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConf(port, up))
        what = '1 thread, http-reuse always'
        start = group('haproxy', ['-f', path.join(dir, 'haproxy.cfg')])
        break
      case 'undici':
        what = 'bench/peers/undici.mjs: Pool.stream'
        start = group(NODE, [path.join(ROOT, 'bench/peers/undici.mjs'), String(port), String(up)])
        break
      case 'fastify':
        if (!resolvable('fastify') || !resolvable('@fastify/http-proxy')) {
          console.log('skipped fastify: fastify or @fastify/http-proxy not installed (npm install: they are devDependencies)')
          continue
        }
        what = '@fastify/http-proxy, defaults'
        start = group(NODE, [path.join(ROOT, 'bench/peers/fastify.cjs'), String(port), String(up)])
        break
      case 'nodefloor':
        what = 'not a proxy: node:http answering itself'
        start = group(NODE, [path.join(ROOT, 'bench/peers/node-floor.mjs'), String(port)])
        break
    }
    try {
      const p = await start!()
      peers.push({ name, what, host, ...p, ticks: 0, requests: 0, rps: [], p50: [], p99: [], roundUs: [], non2xx: 0, errors: [] })
      await waitFor(async () => (await get(p.port, host).catch(() => ({ status: 0 }))).status === 200, 20_000,
        () => `${name} did not answer 200 on 127.0.0.1:${p.port}: ${readFileSync(path.join(dir, `${name}.log`), { encoding: 'utf8', flag: 'a+' }).slice(-2000)}`, 100)
      await wrk(p.port, host, WARMUP, CONNS, LOAD_CPU)
    } catch (err) {
      console.log(`failed ${name}: ${(err as Error).message}`)
      if (name === 'sluice') sluiceFailed = true
      const p = peers.pop()
      await p?.stop()
    }
  }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts with the next peer, so no peer is always measured first.
      for (const p of [...peers.slice(round % peers.length), ...peers.slice(0, round % peers.length)]) {
        const c0 = groupTicks(p.pid)
        const run = parseWrk(await wrk(p.port, p.host, ROUND_S, CONNS, LOAD_CPU))
        const c1 = groupTicks(p.pid)
        p.ticks += c1 - c0
        p.requests += run.requests
        p.roundUs.push(run.requests > 0 ? ((c1 - c0) * 1e6) / TCK / run.requests : NaN)
        p.rps.push(run.rps)
        p.p50.push(run.p50)
        p.p99.push(run.p99)
        p.non2xx += run.non2xx
        if (run.errors) p.errors.push(run.errors)
      }
    }
  } finally {
    for (const p of peers) await p.stop()
    await stopGroup(upstream)
  }

  const us = (p: Peer): number => (p.requests > 0 ? (p.ticks * 1e6) / TCK / p.requests : NaN)
  const ms = (v: number): string => (Number.isFinite(v) ? (v < 1 ? `${fmt(v * 1000, 0)} µs` : `${fmt(v, 2)} ms`) : 'n/a')
  const med = (v: number[]): number => percentile(v, 50)
  const sluice = peers.find((r) => r.name === 'sluice')
  console.log(`\nreq/s, p50, p99: median of the ${ROUNDS} rounds; cpu µs/req: all rounds' CPU ÷ all rounds' requests`)
  console.log(table(['proxy', 'req/s', 'p50', 'p99', 'cpu µs/req', 'sluice ÷ row', 'non-2xx', 'what'], [
    ['direct', fmt(direct.rps, 0), ms(direct.p50), ms(direct.p99), '-', '-', String(direct.non2xx), 'wrk straight to the upstream (one round)'],
    ...peers.map((r) => [r.name, fmt(med(r.rps), 0), ms(med(r.p50)), ms(med(r.p99)), fmt(us(r)), sluice && r !== sluice ? `${fmt(us(sluice) / us(r), 2)}×` : '-',
      `${r.non2xx}${r.errors.length > 0 ? ` (${r.errors[0]})` : ''}`, r.what]),
  ]))
  if (sluice !== undefined) {
    // Per-round ratios show the noise: each compares two measurements seconds apart.
    const spread = (r: Peer): string => {
      const v = sluice.roundUs.map((s, i) => s / r.roundUs[i]!).filter(Number.isFinite).sort((a, b) => a - b)
      return v.length > 1 ? ` (rounds ${fmt(v[0]!, 2)}–${fmt(v[v.length - 1]!, 2)})` : ''
    }
    console.log()
    for (const r of peers) {
      if (r === sluice) continue
      console.log(`sluice cpu/req vs ${r.name}: ${fmt(us(sluice) / us(r), 2)}×${spread(r)} (below 1 means Sluice is cheaper)`)
    }
    for (const t of TARGETS) {
      const r = peers.find((x) => x.name === t.peer)
      if (r === undefined) { console.log(`target ${t.what}: not measured (no ${t.peer} row in this run)`); continue }
      const ratio = us(sluice) / us(r)
      console.log(`target ${t.what}: ${fmt(ratio, 2)}× ${ratio <= t.max ? 'met' : 'missed'}`)
    }
    const bad = peers.filter((r) => r.non2xx > 0 || r.requests === 0)
    if (bad.length > 0) console.log(`note: non-2xx or no responses from ${bad.map((r) => r.name).join(', ')}: their figures do not compare`)
  }
  return sluiceFailed ? 1 : 0
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`bench/peers.ts: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})

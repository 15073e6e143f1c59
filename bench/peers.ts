// Peer comparison (npm run bench, or BENCH=peers): Sluice side by side with nginx, HAProxy, a bare
// undici proxy, @fastify/http-proxy and `nodefloor` (a node:http server answering by itself, the
// cost of Node's server half alone), all in one run on this machine.
//
//   node bench/peers.ts                     (or: BENCH=peers npm run bench)
//
// Method: each proxy runs alone, pinned to CPU 1 (taskset); the upstream (nginx answering
// "hello world", or bench/peers/node-floor.mjs when nginx is absent) and the load generator
// (wrk -t1, CONNS connections) share CPU 0. After a WARMUP-second run that is not counted, wrk runs
// DURATION seconds and the proxy's CPU time (utime+stime of its whole process group, from
// /proc/<pid>/stat) is divided by the requests wrk completed: CPU µs per request, the figure that
// stays comparable on a loaded machine. Ratios are taken between rows of the same run.
// Sluice runs with bench/config (metrics on, its full header contract on, no plugins).
//
// Env: DURATION (s, 10), WARMUP (s, 2), CONNS (50), PEERS (default
//      "sluice nginx haproxy undici fastify nodefloor"), BENCH_PROFILE=DIR (Sluice runs with
//      --cpu-prof, its profile is written to DIR; read it with bench/profile-top.ts).
// A peer whose tool is missing is skipped with a line saying how to install it. Targets (issue 14:
// Sluice ≤ 2.0× nginx, ≤ 0.65× the bare undici peer) are printed as met/missed and do not fail the
// run; the exit status is non-zero only when Sluice itself could not be measured.
// Everything listens on 127.0.0.1, on free ports; every process started is killed however it ends.
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  ROOT, NODE, TCK, fmt, freePort, get, groupTicks, have, parseWrk, startGroup, startSluice, stopGroup, table, tmpDir, waitFor, wrk,
  type WrkRun,
} from './lib.ts'

const env = (k: string, d: number): number => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d)
const DURATION = env('DURATION', 10)
const WARMUP = env('WARMUP', 2)
const CONNS = env('CONNS', 50)
const ALL = ['sluice', 'nginx', 'haproxy', 'undici', 'fastify', 'nodefloor']
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

interface Row { name: string; what: string; run: WrkRun; us: number }

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
  console.log(`# peers: each proxy ${PIN ? 'on CPU 1, upstream and wrk on CPU 0' : 'unpinned (taskset missing or one CPU)'}; wrk -t1 -c${CONNS}, ${WARMUP} s warm-up + ${DURATION} s measured; ${os.cpus()[0]?.model ?? ''}, Node ${process.versions.node}`)

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
  const direct = parseWrk(await wrk(up, 'x', DURATION, CONNS, LOAD_CPU))

  const rows: Row[] = []
  let sluiceFailed = false
  for (const name of PEERS) {
    const port = await freePort()
    let start: (() => Promise<{ pid: number; port: number; stop: () => Promise<void> }>) | null = null
    let host = 'localhost'
    let what = ''
    const group = (cmd: string, args: string[]) => async () => {
      const child = startGroup(...pinned(PROXY_CPU, cmd, args), { out: path.join(dir, `${name}.log`), env: { ...process.env, NODE_OPTIONS: '' } })
      return { pid: child.pid!, port, stop: () => stopGroup(child) }
    }
    switch (name) {
      case 'sluice': {
        const config = path.join(dir, 'config')
        mkdirSync(config)
        writeFileSync(path.join(config, 'bench.yaml'), readFileSync(path.join(ROOT, 'bench/config/bench.yaml'), 'utf8').replaceAll('127.0.0.1:9001', `127.0.0.1:${up}`))
        host = 'hello.default.localhost'
        what = 'metrics and header contract on, no plugins'
        const profile = process.env.BENCH_PROFILE
        start = async () => {
          const s = await startSluice(config, { cpu: PROXY_CPU ?? undefined, nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : [] })
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
    let p: Awaited<ReturnType<NonNullable<typeof start>>> | null = null
    try {
      p = await start!()
      const pp = p.port
      await waitFor(async () => (await get(pp, host).catch(() => ({ status: 0 }))).status === 200, 20_000,
        () => `${name} did not answer 200 on 127.0.0.1:${pp}: ${readFileSync(path.join(dir, `${name}.log`), { encoding: 'utf8', flag: 'a+' }).slice(-2000)}`, 100)
      await wrk(p.port, host, WARMUP, CONNS, LOAD_CPU)
      const c0 = groupTicks(p.pid)
      const run = parseWrk(await wrk(p.port, host, DURATION, CONNS, LOAD_CPU))
      const c1 = groupTicks(p.pid)
      rows.push({ name, what, run, us: run.requests > 0 ? ((c1 - c0) * 1e6) / TCK / run.requests : NaN })
    } catch (err) {
      console.log(`failed ${name}: ${(err as Error).message}`)
      if (name === 'sluice') sluiceFailed = true
    } finally {
      await p?.stop()
    }
  }
  await stopGroup(upstream)

  const ms = (v: number): string => (Number.isFinite(v) ? (v < 1 ? `${fmt(v * 1000, 0)} µs` : `${fmt(v, 2)} ms`) : 'n/a')
  const sluice = rows.find((r) => r.name === 'sluice')
  console.log(table(['proxy', 'req/s', 'p50', 'p99', 'cpu µs/req', 'sluice ÷ row', 'non-2xx', 'what'], [
    ['direct', fmt(direct.rps, 0), ms(direct.p50), ms(direct.p99), '-', '-', String(direct.non2xx), 'wrk straight to the upstream'],
    ...rows.map((r) => [r.name, fmt(r.run.rps, 0), ms(r.run.p50), ms(r.run.p99), fmt(r.us), sluice && r !== sluice ? `${fmt(sluice.us / r.us, 2)}×` : '-',
      `${r.run.non2xx}${r.run.errors ? ` (${r.run.errors})` : ''}`, r.what]),
  ]))
  if (sluice !== undefined) {
    for (const r of rows) {
      if (r === sluice) continue
      console.log(`sluice cpu/req vs ${r.name}: ${fmt(sluice.us / r.us, 2)}× (below 1 means Sluice is cheaper)`)
    }
    for (const t of TARGETS) {
      const r = rows.find((x) => x.name === t.peer)
      if (r === undefined) { console.log(`target ${t.what}: not measured (${t.peer} skipped)`); continue }
      const ratio = sluice.us / r.us
      console.log(`target ${t.what}: ${fmt(ratio, 2)}× ${ratio <= t.max ? 'met' : 'missed'}`)
    }
    const bad = rows.filter((r) => r.run.non2xx > 0 || r.run.requests === 0)
    if (bad.length > 0) console.log(`note: non-2xx or no responses from ${bad.map((r) => r.name).join(', ')}: their figures do not compare`)
  }
  return sluiceFailed ? 1 : 0
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`bench/peers.ts: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})

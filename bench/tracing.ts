// Tracing's cost (npm run bench, or BENCH=tracing): gateway CPU µs per request on the plain path
// with tracing off, at 1% and at 100% sampling (config-observability tracing-sampling-rate),
// exporting OTLP/HTTP protobuf to a local sink that answers 200. Three gateways on CPU 1, one
// nginx upstream and wrk on CPU 0; the gateways take turns (in a rotating order) for ROUNDS rounds of
// DURATION seconds, so drifting noise hits all three; the figure is the median over rounds. Target (issue 15): 1%
// costs ≤ 5% more CPU per request than off. Dropped spans at 100% are printed (the bounded queue
// drops rather than slowing requests).
//   DURATION (3 s), CONNS (50), ROUNDS (5)
import { writeFileSync, mkdirSync } from 'node:fs'
import { execFile } from 'node:child_process'
import http from 'node:http'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { TCK, cpuTicks, fmt, freePort, get, have, metric, percentile, startGroup, startSluice, stopGroup, table, tmpDir, verdict, waitFor, killAll, type Sluice } from './lib.ts'

const env = (k: string, d: number): number => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d)
const DURATION = env('DURATION', 3)
const CONNS = env('CONNS', 50)
const ROUNDS = env('ROUNDS', 5)
const HOST = 'traced.default.localhost'

function wrk(port: number, seconds: number, conns: number): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('taskset', ['-c', '0', 'wrk', '-t1', `-c${conns}`, `-d${seconds}s`, '-H', `Host: ${HOST}`, `http://127.0.0.1:${port}/`],
      { timeout: (seconds + 15) * 1000 }, (err, stdout) => (err ? reject(err) : resolve(Number(/^\s*(\d+) requests in/m.exec(stdout)?.[1] ?? NaN))))
  })
}

const cm = (data: Record<string, string>): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-observability\n  namespace: knative-serving\ndata:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`

async function main(): Promise<void> {
  console.log(`\n## tracing cost: gateway on CPU 1; nginx and wrk (-c${CONNS}, ${DURATION}s × ${ROUNDS} rounds) on CPU 0`)
  const missing = ['taskset', 'wrk', 'nginx'].filter((c) => !have(c))
  if (missing.length > 0) {
    console.log(`SKIPPED: missing ${missing.join(', ')} (bench/run.sh installs wrk and nginx-light)`)
    return
  }
  const dir = tmpDir('sluice-bench-tracing-')
  const upPort = await freePort()
  writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:${upPort}; location / { return 200 "hello world\\n"; } } }
`)
  const nginx = startGroup('taskset', ['-c', '0', 'nginx', '-e', path.join(dir, 'nginx.early.err'), '-c', path.join(dir, 'nginx.conf')])
  // The collector: takes every export and answers 200 without decoding (its cost is not the gateway's).
  const sink = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end() }) })
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r))
  const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`
  const modes: { name: string; data: Record<string, string> }[] = [
    { name: 'off', data: {} },
    { name: '1%', data: { 'tracing-protocol': 'http/protobuf', 'tracing-endpoint': endpoint, 'tracing-sampling-rate': '0.01' } },
    { name: '100%', data: { 'tracing-protocol': 'http/protobuf', 'tracing-endpoint': endpoint, 'tracing-sampling-rate': '1' } },
  ]
  const gateways: Sluice[] = []
  try {
    for (const m of modes) {
      const conf = path.join(dir, `config-${m.name.replace('%', 'pct')}`)
      mkdirSync(conf)
      writeFileSync(path.join(conf, 'svc.yaml'), `apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: traced\nspec:\n  template:\n    metadata:\n      annotations:\n        sluice.dev/upstream: http://127.0.0.1:${upPort}\n    spec:\n      containers:\n        - image: example.dev/bench\n`)
      writeFileSync(path.join(conf, 'observability.yaml'), cm(m.data))
      const g = await startSluice(conf, { cpu: 1 })
      gateways.push(g)
      await waitFor(async () => (await get(g.port, HOST).catch(() => ({ status: 0 }))).status === 200, 20_000, () => `${m.name}: the route never answered; log:\n${g.log()}`)
      if (m.data['tracing-protocol'] !== undefined) await waitFor(() => g.log().includes('tracing on'), 20_000, () => `${m.name}: tracing never started; log:\n${g.log()}`)
    }
    const perReq: number[][] = modes.map(() => [])
    const rps: number[][] = modes.map(() => [])
    for (let round = 0; round < ROUNDS + 1; round++) {
      // The order rotates each round: whichever runs first after a pause is not always the same one.
      for (let k = 0; k < modes.length; k++) {
        const i = (k + round) % modes.length
        const g = gateways[i]!
        const t0 = cpuTicks(g.pid)
        const n = await wrk(g.port, DURATION, CONNS)
        const ticks = cpuTicks(g.pid) - t0
        // Round 0 warms every gateway (JIT, connection pools) and is not counted.
        if (round > 0) {
          perReq[i]!.push((ticks / TCK) * 1e6 / n)
          rps[i]!.push(n / DURATION)
        }
      }
    }
    const off = percentile(perReq[0]!, 50)
    const ratios = modes.map((_, i) => percentile(perReq[i]!.map((v, r) => v / perReq[0]![r]!), 50))
    const dropped = await Promise.all(gateways.map((g) => metric(g.admin, 'sluice_tracing_spans_dropped_total').catch(() => NaN)))
    const exported = await Promise.all(gateways.map((g) => metric(g.admin, 'sluice_tracing_spans_exported_total').catch(() => NaN)))
    console.log(table(['sampling', 'CPU µs/req', 'vs off', 'req/s', 'spans exported', 'spans dropped'], modes.map((m, i) => [
      m.name, fmt(percentile(perReq[i]!, 50)), `${fmt((ratios[i]! - 1) * 100)}%`, fmt(percentile(rps[i]!, 50), 0), String(exported[i]), String(dropped[i]),
    ])))
    console.log(`off: ${fmt(off)} µs/req. 1% sampling: ${fmt((ratios[1]! - 1) * 100)}% more CPU per request (target ≤ 5%): ${verdict(ratios[1]! <= 1.05)}`)
  } finally {
    for (const g of gateways) await g.stop()
    await stopGroup(nginx)
    sink.close()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  killAll()
  process.exitCode = 1
})

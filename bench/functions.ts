// The functions benchmark (issue 16 §4): from `sluice func deploy` to the first 200 of the Node HTTP
// template, cold (a fresh state: no dependency cache) and warm (a redeploy after an edit: same
// lockfile, so the cache replaces npm), the snapshot's size, and the Node function runtime's CPU per
// request against a plain node:http app answering the same bytes (target ≤ 1.10×).
//
//   npm run bench    (BENCH=functions)        node bench/functions.ts
//
// DEPLOYS (3): cold+warm pairs, each on a fresh `sluice serve` and state; ROUNDS (6) × ROUND_S (4 s):
// wrk -t1 -c$CONNS (4) GET /?name=Ada at each app, VIA (both by default) `direct` (its own port) and
// `sluice` (through `sluice serve`, a Service per app naming it with sluice.dev/upstream), the apps
// taking turns, after a WARMUP (2 s); CPU = utime+stime of the app's process (/proc/<pid>/stat, as bench/peers.ts) over
// all its rounds ÷ its requests. Apps on CPU 1, wrk on CPU 0 when taskset and 2 CPUs are there.
// COMPARE=FILE.mjs: a third app, another version of node-runtime.mjs (kept inside the checkout, so
// that it resolves `cloudevents`), for a before/after in one run.
// BENCH_PROFILE=DIR: the apps run with --cpu-prof (read with `node bench/profile-top.ts DIR/x.cpuprofile`).
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NODE_RUNTIME } from '../control/functions/runtimes.ts'
import {
  NODE, ROOT, TCK, cpuTicks, fmt, freePort, get, have, parseWrk, percentile, startGroup, startSluice, stopGroup, table, tmpDir, verdict, waitFor, wrk,
} from './lib.ts'

const env = (k: string, d: number): number => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d)
const DEPLOYS = env('DEPLOYS', 3)
const ROUNDS = env('ROUNDS', 6)
const ROUND_S = env('ROUND_S', 4)
const WARMUP = env('WARMUP', 2)
const CONNS = env('CONNS', 4)
const TARGET = 1.10
const PIN = have('taskset') && os.cpus().length >= 2
const APP_CPU = PIN ? 1 : null
const LOAD_CPU = PIN ? 0 : null
const PROFILE = process.env.BENCH_PROFILE ?? ''
const SLUICE = path.join(ROOT, 'bin/sluice.ts')

/** `sluice …` as a user runs it (the CLI's own start-up is part of a deploy). */
function cli(args: string[]): string {
  return execFileSync(NODE, [SLUICE, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
}

/** Bytes and files under dir. */
function du(dir: string): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const st = statSync(path.join(dir, rel), { throwIfNoEntry: false })
    if (st?.isFile()) { bytes += st.size; files++ }
  }
  return { bytes, files }
}

interface Deploy { ms: number; cliMs: number; buildMs: number; cacheHit: boolean }

/** Deploys fnDir into config and times it until `host` answers 200 with `expect` in the body. */
async function timeDeploy(port: number, fnDir: string, config: string, expect: string, log: () => string, revision: string): Promise<Deploy> {
  const t0 = performance.now()
  cli(['func', 'deploy', fnDir, '--config', config])
  const cliMs = performance.now() - t0
  await waitFor(async () => {
    const r = await get(port, 'hello.default.localhost', '/', 5_000).catch(() => ({ status: 0, body: '' }))
    return r.status === 200 && r.body.includes(expect)
  }, 120_000, () => `the deploy did not serve "${expect}"; log:\n${log().slice(-3000)}`, 10)
  const ms = performance.now() - t0
  const text = log()
  const built = new RegExp(`\\[build default/${revision}\\] build succeeded: .* built in (\\d+) ms`).exec(text)
  return { ms, cliMs, buildMs: Number(built?.[1] ?? NaN), cacheHit: text.includes(`[build default/${revision}] dependency cache hit`) }
}

async function deploys(work: string): Promise<boolean> {
  const cold: Deploy[] = []
  const warm: Deploy[] = []
  let snapshot = { bytes: 0, files: 0 }
  for (let i = 0; i < DEPLOYS; i++) {
    const run = path.join(work, `deploy-${i}`)
    const config = path.join(run, 'config')
    mkdirSync(config, { recursive: true })
    const fn = path.join(run, 'fns', 'hello')
    cli(['func', 'create', fn])
    const s = await startSluice(config)
    try {
      cold.push(await timeDeploy(s.port, fn, config, 'Hello from hello', s.log, 'hello-00001'))
      const index = path.join(fn, 'index.js')
      writeFileSync(index, readFileSync(index, 'utf8').replace('Hello from', 'Howdy from'))
      warm.push(await timeDeploy(s.port, fn, config, 'Howdy from hello', s.log, 'hello-00002'))
      const snapshots = path.join(run, 'state-config', 'snapshots')
      const dirs = readdirSync(snapshots).filter((d) => !d.startsWith('.'))
      snapshot = du(path.join(snapshots, dirs[0]!))
    } finally {
      await s.stop()
    }
  }
  const med = (v: number[]): number => percentile(v, 50)
  const row = (name: string, d: Deploy[]): (string | number)[] => [name, `${fmt(med(d.map((x) => x.ms)), 0)} ms`, d.map((x) => fmt(x.ms, 0)).join(' / '),
    `${fmt(med(d.map((x) => x.cliMs)), 0)} ms`, `${fmt(med(d.map((x) => x.buildMs)), 0)} ms`, d.filter((x) => x.cacheHit).length + `/${d.length}`]
  console.log(`# functions: sluice func deploy → first 200 (Node HTTP template, ${DEPLOYS} runs, each on a fresh sluice serve and --state)`)
  console.log(table(['deploy', 'median', 'runs', 'CLI', 'build', 'cache hits'], [row('cold (no dependency cache)', cold), row('warm (redeploy after an edit)', warm)]))
  console.log(`snapshot of the template: ${fmt(snapshot.bytes / 1024, 1)} KiB in ${snapshot.files} files (no dependencies: the runtime ships with Sluice)`)
  return cold.length === DEPLOYS && warm.every((d) => d.cacheHit)
}

interface App { name: string; service: string; pid: number; port: number; stop(): Promise<void> }
interface Tally { ticks: number; requests: number; roundUs: number[]; rps: number[] }

/**
 * CPU per request of each app, wrk driving it `via` its own port (direct) or through `sluice serve`
 * (a Service per app naming it with sluice.dev/upstream: the gateway's CPU is not counted, only the
 * app's, now behind a pooled keep-alive client as in production).
 */
async function cpu(work: string): Promise<boolean> {
  if (!have('wrk')) {
    console.log('skipped the CPU comparison: wrk not installed (apt-get install wrk)')
    return true
  }
  const pinned = (args: string[]): [string, string[]] => (APP_CPU === null ? [NODE, args] : ['taskset', ['-c', String(APP_CPU), NODE, ...args]])
  const prof = (name: string): string[] => (PROFILE === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE)}`, `--cpu-prof-name=${name}.cpuprofile`])
  const apps: App[] = []
  const specs: [string, string, string[]][] = [
    ['node:http', 'bare', [...prof('bare'), path.join(ROOT, 'bench/functions/bare.mjs')]],
    ['function runtime', 'runtime', [...prof('runtime'), NODE_RUNTIME, path.join(ROOT, 'bench/functions/minimal')]],
  ]
  if (process.env.COMPARE) specs.push([`COMPARE ${path.basename(process.env.COMPARE)}`, 'compare', [...prof('compare'), path.resolve(process.env.COMPARE), path.join(ROOT, 'bench/functions/minimal')]])
  const vias = (process.env.VIA ?? 'direct sluice').split(/[\s,]+/).filter((v) => v === 'direct' || v === 'sluice')
  let ok = true
  let sluice: Awaited<ReturnType<typeof startSluice>> | undefined
  try {
    for (const [name, service, args] of specs) {
      const port = await freePort()
      const child = startGroup(...pinned(args), { out: path.join(work, `${service}.log`), env: { ...process.env, PORT: String(port), NODE_OPTIONS: '' } })
      apps.push({ name, service, pid: child.pid!, port, stop: () => stopGroup(child) })
      await waitFor(async () => (await get(port, 'x', '/?name=Ada').catch(() => ({ status: 0 }))).status === 200, 20_000, () => `${name} did not answer`, 50)
    }
    for (const via of vias) {
      let target = (a: App): [number, string] => [a.port, 'x']
      if (via === 'sluice') {
        const config = path.join(work, 'cpu-config')
        mkdirSync(config, { recursive: true })
        writeFileSync(path.join(config, 'apps.yaml'), apps.map((a) => ['apiVersion: serving.knative.dev/v1', 'kind: Service', `metadata: {name: ${a.service}}`, 'spec:', '  template:',
          '    metadata:', `      annotations: {sluice.dev/upstream: "http://127.0.0.1:${a.port}"}`, '    spec: {containers: [{image: bench/app}]}', ''].join('\n')).join('---\n'))
        sluice = await startSluice(config)
        const port = sluice.port
        target = (a) => [port, `${a.service}.default.localhost`]
        for (const a of apps) await waitFor(async () => (await get(port, target(a)[1], '/?name=Ada').catch(() => ({ status: 0 }))).status === 200, 30_000, () => `${a.name} not routed: ${sluice!.log().slice(-2000)}`, 50)
      }
      const tallies = new Map<App, Tally>(apps.map((a) => [a, { ticks: 0, requests: 0, roundUs: [], rps: [] }]))
      for (const a of apps) await wrk(...target(a), WARMUP, CONNS, LOAD_CPU, '/?name=Ada')
      for (let round = 0; round < ROUNDS; round++) {
        // they take turns, each round starting with the next one
        for (const a of [...apps.slice(round % apps.length), ...apps.slice(0, round % apps.length)]) {
          const t = tallies.get(a)!
          const c0 = cpuTicks(a.pid)
          const r = parseWrk(await wrk(...target(a), ROUND_S, CONNS, LOAD_CPU, '/?name=Ada'))
          const c1 = cpuTicks(a.pid)
          t.ticks += c1 - c0
          t.requests += r.requests
          t.roundUs.push(r.requests > 0 ? ((c1 - c0) * 1e6) / TCK / r.requests : NaN)
          t.rps.push(r.rps)
        }
      }
      await sluice?.stop()
      sluice = undefined
      ok = report(via, apps, tallies) && ok
    }
  } finally {
    await sluice?.stop()
    for (const a of apps) await a.stop()
  }
  return ok
}

function report(via: string, apps: App[], tallies: Map<App, Tally>): boolean {
  const us = (a: App): number => { const t = tallies.get(a)!; return (t.ticks * 1e6) / TCK / t.requests }
  const [bare, runtime, compare] = apps as [App, App, App | undefined]
  const ratio = us(runtime) / us(bare)
  const perRound = tallies.get(runtime)!.roundUs.map((u, i) => u / tallies.get(bare)!.roundUs[i]!)
  console.log(`\n# functions: CPU per request ${via === 'direct' ? 'straight at each app' : 'behind sluice serve (the apps\' CPU only)'}, the Node function runtime (bench/functions/minimal) vs node:http answering the same (bench/functions/bare.mjs)`)
  console.log(`# ${PIN ? 'apps on CPU 1, wrk on CPU 0' : 'unpinned'}${via === 'sluice' ? ', sluice unpinned' : ''}; wrk -t1 -c${CONNS} GET /?name=Ada, ${WARMUP} s warm-up, ${ROUNDS} rounds of ${ROUND_S} s taking turns; ${os.cpus()[0]?.model ?? ''}, Node ${process.versions.node}`)
  console.log(table(['app', 'cpu µs/req', 'req/s (median)', 'requests'], apps.map((a) => [a.name, fmt(us(a), 1), fmt(percentile(tallies.get(a)!.rps, 50), 0), tallies.get(a)!.requests])))
  console.log(`function runtime ÷ node:http (${via}): ${fmt(ratio, 2)}× (rounds ${fmt(Math.min(...perRound), 2)}–${fmt(Math.max(...perRound), 2)}); target ≤ ${TARGET.toFixed(2)}×: ${verdict(ratio <= TARGET)}`)
  if (compare !== undefined) console.log(`${compare.name} ÷ node:http (${via}): ${fmt(us(compare) / us(bare), 2)}×`)
  return ratio <= TARGET
}

async function main(): Promise<number> {
  const work = tmpDir('sluice-bench-functions-')
  const parts = (process.env.FUNCTIONS ?? 'deploy cpu').split(/[\s,]+/)
  let ok = true
  if (parts.includes('deploy')) ok = (await deploys(work)) && ok
  if (parts.includes('cpu')) ok = (await cpu(work)) && ok
  return ok ? 0 : 1
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`bench functions failed: ${(err as Error).stack ?? err}`)
  process.exit(1)
})

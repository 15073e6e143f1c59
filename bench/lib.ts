// Shared pieces of the benchmarks (activator, peers): starting `sluice serve` (optionally pinned to a CPU)
// with its log in a file, reading its admin metrics and its CPU time, percentiles, and a process
// registry so every process a benchmark starts is killed (by process group) however it ends.
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** The Node that runs the benchmark (Node 24 from node_modules when started through npm run bench). */
export const NODE = process.execPath
export const TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

// ---------- processes ----------

const groups = new Set<number>()
const loads = new Set<ChildProcess>() // running load generators (wrk), killed with the groups
let cleaning = false

/** Kill every process group this benchmark started (SIGKILL; used on exit and on signals). */
export function killAll(): void {
  cleaning = true
  for (const c of loads) c.kill('SIGKILL')
  loads.clear()
  for (const g of groups) {
    try { process.kill(-g, 'SIGKILL') } catch { /* gone */ }
  }
  groups.clear()
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping every process it started\n`)
    killAll()
    process.exit(130)
  })
}

/** Start a command in its own process group (so it and all its children can be killed together). */
export function startGroup(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; out?: string; nofile?: number } = {}): ChildProcess {
  if (cleaning) throw new Error('bench is stopping')
  const fd = opts.out !== undefined ? openSync(opts.out, 'a') : 'ignore'
  // `ulimit -n` then exec: the pid stays the command's own.
  const pre = opts.nofile !== undefined ? `ulimit -n ${opts.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ` : ''
  const child = spawn('sh', ['-c', `${pre}exec "$@"`, 'sh', cmd, ...args], {
    cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, detached: true, stdio: ['ignore', fd, fd],
  })
  if (typeof fd === 'number') closeSync(fd)
  groups.add(child.pid!)
  child.once('exit', () => { /* the group may still hold children: stopGroup kills it */ })
  return child
}

/** SIGTERM the whole group, wait for the leader (up to graceMs), then SIGKILL whatever is left. */
export async function stopGroup(child: ChildProcess, graceMs = 3_000): Promise<void> {
  const pid = child.pid!
  if (!groups.has(pid)) return
  const exited = child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try { process.kill(-pid, 'SIGTERM') } catch { /* gone */ }
  await Promise.race([exited, sleep(graceMs)])
  try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ }
  groups.delete(pid)
  // Let the kernel reap the group before the next benchmark measures anything.
  for (let i = 0; i < 50 && groupAlive(pid); i++) await sleep(20)
}

function groupAlive(pgid: number): boolean {
  try { process.kill(-pgid, 0); return true } catch { return false }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function tmpDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  if (process.env.BENCH_KEEP !== '1') process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function have(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true } catch { return false }
}

/** The highest open-files limit a child can get (the hard limit). */
export function hardNofile(): number {
  const v = execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()
  return v === 'unlimited' ? 1_048_576 : Number(v)
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

// ---------- sluice ----------

export interface Sluice {
  child: ChildProcess
  pid: number
  port: number
  admin: number
  logFile: string
  log(): string
  stop(): Promise<void>
}

/** `sluice serve` on ephemeral ports (127.0.0.1 only), its log (info level) in a file. */
export async function startSluice(configDir: string, opts: { cpu?: number; nofile?: number; env?: NodeJS.ProcessEnv; nodeArgs?: string[]; args?: string[] } = {}): Promise<Sluice> {
  const work = path.dirname(configDir)
  const logFile = path.join(work, `sluice-${path.basename(configDir)}.log`)
  writeFileSync(logFile, '')
  // BENCH_NODE_ARGS: extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const sluiceArgs = [...extra, ...(opts.nodeArgs ?? []), path.join(ROOT, 'bin/sluice.ts'), 'serve', '--config', configDir, '--state', path.join(work, `state-${path.basename(configDir)}`),
    '--port', '0', '--internal-port', '0', '--admin-port', '0', '--host', '127.0.0.1', ...(opts.args ?? [])]
  const [cmd, args] = opts.cpu !== undefined ? ['taskset', ['-c', String(opts.cpu), NODE, ...sluiceArgs]] : [NODE, sluiceArgs]
  const env = { ...process.env, SLUICE_LOG_LEVEL: 'info', NODE_OPTIONS: '', ...opts.env }
  const child = startGroup(cmd as string, args as string[], { out: logFile, env, nofile: opts.nofile })
  const log = (): string => readFileSync(logFile, 'utf8')
  const line = await waitFor(() => /sluice listening public=(\d+) .*admin=127\.0\.0\.1:(\d+)/.exec(log()), 20_000, () => `sluice did not start; log:\n${log()}`)
  return {
    child, pid: child.pid!, port: Number(line[1]), admin: Number(line[2]), logFile, log,
    stop: () => stopGroup(child, 5_000),
  }
}

export async function waitFor<T>(probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, what: () => string, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`)
    await sleep(everyMs)
  }
}

export interface Reply { status: number; body: string }

/** One GET on a fresh connection (no keep-alive). */
export function get(port: number, host: string, pathname = '/', timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, headers: { host }, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${host}${pathname} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

export async function getJson<T>(port: number, pathname: string): Promise<T> {
  const r = await get(port, '127.0.0.1', pathname)
  if (r.status !== 200) throw new Error(`GET ${pathname}: ${r.status} ${r.body.slice(0, 200)}`)
  return JSON.parse(r.body) as T
}

/** Samples of one metric family from the admin /metrics page (those whose labels contain `having`), summed. */
export async function metric(adminPort: number, name: string, having = ''): Promise<number> {
  let r: Reply | undefined
  // A scrape can be reset while the machine is busy accepting thousands of connections: retry.
  for (let attempt = 1; r === undefined; attempt++) {
    try {
      r = await get(adminPort, '127.0.0.1', '/metrics')
    } catch (err) {
      if (attempt >= 3) throw err
      await sleep(100)
    }
  }
  let sum = 0
  let found = false
  for (const l of r.body.split('\n')) {
    if (!l.startsWith(name)) continue
    const rest = l.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    if (having !== '' && !rest.includes(having)) continue
    sum += Number(l.slice(l.lastIndexOf(' ') + 1))
    found = true
  }
  if (!found) throw new Error(`metric ${name} not found`)
  return sum
}

/** user+system CPU ticks of one process (its threads included, its children not). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // after "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based) → indexes 11 and 12
  return Number(f[11]) + Number(f[12])
}

// ---------- numbers ----------

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return s[i]!
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a'
}

/** A small fixed-width table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n')
}

export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'FAIL'
}

export { existsSync }

// ---------- load (wrk) ----------

/** wrk -t1 against 127.0.0.1:port (GET `pathname`) with a Host header, pinned to `cpu` when given (taskset). */
export function wrk(port: number, host: string, seconds: number, conns: number, cpu: number | null = 0, pathname = '/'): Promise<string> {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency', '-H', `Host: ${host}`, `http://127.0.0.1:${port}${pathname}`]
  const [cmd, argv] = cpu === null ? ['wrk', args] : ['taskset', ['-c', String(cpu), 'wrk', ...args]]
  return new Promise((resolve, reject) => {
    const child = execFile(cmd as string, argv as string[], { timeout: (seconds + 15) * 1000 }, (err, stdout) => {
      loads.delete(child)
      if (err) reject(err)
      else resolve(stdout)
    })
    loads.add(child)
  })
}

export interface WrkRun { requests: number; rps: number; p50: number; p99: number; non2xx: number; errors: string }

/** wrk's `1.23ms` / `456.00us` / `1.01s` → ms */
function wrkMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v)
  if (m === null) return NaN
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
}

export function parseWrk(out: string): WrkRun {
  const m = (re: RegExp): string => re.exec(out)?.[1] ?? ''
  return {
    requests: Number(m(/^\s*(\d+) requests in/m)),
    rps: Number(m(/Requests\/sec:\s*([\d.]+)/)),
    p50: wrkMs(m(/^\s*50%\s+(\S+)/m)),
    p99: wrkMs(m(/^\s*99%\s+(\S+)/m)),
    non2xx: Number(m(/Non-2xx or 3xx responses:\s*(\d+)/) || 0),
    errors: m(/(Socket errors:.*)$/m),
  }
}

/** user+system CPU ticks of every live process in process group `pgid` (a proxy and its workers). */
export function groupTicks(pgid: number): number {
  let sum = 0
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue
    let stat: string
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8') } catch { continue }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // after "pid (comm) ": state, ppid, pgrp (index 2) … utime (11), stime (12)
    if (Number(f[2]) === pgid) sum += Number(f[11]) + Number(f[12])
  }
  return sum
}

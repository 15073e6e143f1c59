// Builds revisions' sources into snapshots, off the request path: each revision is built once
// (when it is created), at most BUILD_CONCURRENCY builds run at a time, each under a timeout, and
// a revision whose snapshot digest is already recorded is never built again — that is what makes a
// revision immutable (Knative gets the same from an image digest). Build output goes to the
// revisions' log rings (`sluice logs`), the last lines of a failure to the BuildSucceeded condition.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { Logger } from '../../gateway/log.ts'
import type { AppLogs } from '../runtime/app-logs.ts'
import { track } from '../runtime/children.ts'
import type { RevisionState } from '../state.ts'
import { detect } from './detect.ts'
import { collectGarbage } from './gc.ts'
import { BuildError, type BuildPlan, type BuildStep } from './plan.ts'
import { META_FILE, copySource, placeSnapshot, snapshotsDir } from './snapshot.ts'

const BUILD_CONCURRENCY = 2
const DEFAULT_TIMEOUT_MS = 10 * 60_000
/** lines of the build log quoted in a failed BuildSucceeded condition */
const FAILURE_LINES = 15

/** BuildSucceeded, as the Revision's status shows it; `snapshot` once it is True. */
export interface BuildView {
  readonly status: 'Unknown' | 'True' | 'False'
  readonly reason: string
  readonly message: string
  readonly snapshot?: Snapshot
}

/** What a finished build leaves in its snapshot's META_FILE. */
export interface Snapshot {
  readonly digest: string
  readonly dir: string
  readonly builder: BuildPlan['builder']
  readonly start: readonly string[]
  /** why `start` is empty (the source does not say how to start) */
  readonly startProblem?: string
  readonly env: Readonly<Record<string, string>>
  readonly durationMs: number
}

export interface BuildsOptions {
  stateDir: string
  log: Logger
  /** where build output is kept for `sluice logs` (instance "build") */
  appLogs?: AppLogs
  /** a revision's build state changed: reconcile again */
  onChange(): void
  timeoutMs?: number
}

interface Entry {
  view: BuildView
  source: string
  /** the revision's template names its command, so the source need not say how to start */
  ownCommand: boolean
}

export class Builds {
  readonly #opts: BuildsOptions
  readonly #entries = new Map<string, Entry>()
  /** digest → the build making that snapshot (two revisions with the same content share it) */
  readonly #building = new Map<string, Promise<Snapshot>>()
  #running = 0
  readonly #waiting: (() => void)[] = []
  readonly #children = new Set<ChildProcess>()
  #referenced = ''
  #stopped = false

  constructor(opts: BuildsOptions) {
    this.#opts = opts
  }

  view(revisionKey: string): BuildView | undefined {
    return this.#entries.get(revisionKey)?.view
  }

  /**
   * After every reconcile: starts the build of every revision with a source that has none yet,
   * records finished snapshots in the revision history (returned), forgets revisions that are
   * gone and collects the snapshots nothing references any more.
   */
  sync(state: RevisionState): RevisionState {
    const keep = new Set<string>()
    let settled = false
    const configurations: RevisionState['configurations'] = {}
    for (const [cfgKey, cfg] of Object.entries(state.configurations)) {
      const ns = cfgKey.slice(0, cfgKey.indexOf('/'))
      const revisions = cfg.revisions.map((r) => {
        if (r.source === undefined) return r
        const key = `${ns}/${r.name}`
        keep.add(key)
        let entry = this.#entries.get(key)
        if (entry === undefined) {
          entry = this.#start(key, r.source.dir, r.source.snapshot, r.source.command === true)
          if (entry.view.status !== 'Unknown') settled = true
        }
        const digest = entry.view.snapshot?.digest
        return digest !== undefined && r.source.snapshot === undefined ? { ...r, source: { ...r.source, snapshot: digest } } : r
      })
      configurations[cfgKey] = { ...cfg, revisions }
    }
    for (const key of [...this.#entries.keys()]) if (!keep.has(key)) this.#entries.delete(key)
    const next = { ...state, configurations }
    this.#collect(next)
    if (settled) queueMicrotask(() => this.#opts.onChange())
    return next
  }

  /** Kills running builds (serve's shutdown). */
  stop(): void {
    this.#stopped = true
    for (const c of this.#children) killGroup(c)
  }

  /** Build state of every revision, for /debug. */
  describe(): Record<string, BuildView & { source: string }> {
    const out: Record<string, BuildView & { source: string }> = {}
    for (const [k, e] of this.#entries) out[k] = { ...e.view, source: e.source }
    return out
  }

  #start(key: string, source: string, recorded: string | undefined, ownCommand: boolean): Entry {
    if (recorded !== undefined) {
      // Built before (maybe by an earlier process): run that snapshot, never the source as it is now.
      const snap = readMeta(join(snapshotsDir(this.#opts.stateDir), recorded))
      const view: BuildView = snap !== undefined
        ? succeeded(snap, false)
        : { status: 'False', reason: 'SnapshotMissing', message: `snapshot ${recorded} of this revision is gone from ${snapshotsDir(this.#opts.stateDir)}; it cannot run again. Change the template (e.g. an annotation) to build a new revision` }
      const entry = { view, source, ownCommand }
      this.#entries.set(key, entry)
      return entry
    }
    const entry: Entry = { view: { status: 'Unknown', reason: 'Building', message: `waiting to build ${source}` }, source, ownCommand }
    this.#entries.set(key, entry)
    void this.#build(key, entry)
    return entry
  }

  async #build(key: string, entry: Entry): Promise<void> {
    await this.#slot()
    const startedAt = performance.now()
    const tail: string[] = []
    const line = (stream: 'stdout' | 'stderr', text: string): void => this.#line(key, stream, text, tail)
    try {
      if (this.#stopped) throw new BuildError('sluice is stopping')
      entry.view = { status: 'Unknown', reason: 'Building', message: `building ${entry.source}` }
      this.#changed(key, entry)
      line('stdout', `building ${entry.source}`)
      const { stateDir } = this.#opts
      const copied = await copySource(entry.source, stateDir, [resolve(stateDir)])
      line('stdout', `copied ${copied.files} files (${Math.round(copied.bytes / 1024)} KiB); snapshot ${copied.digest}`)
      let snap: Snapshot
      const existing = readMeta(join(snapshotsDir(stateDir), copied.digest))
      const shared = this.#building.get(copied.digest)
      if (existing !== undefined) {
        await rm(copied.tmp, { recursive: true, force: true })
        line('stdout', `snapshot ${copied.digest} already built (${existing.builder}); reusing it`)
        snap = existing
      } else if (shared !== undefined) {
        await rm(copied.tmp, { recursive: true, force: true })
        line('stdout', `snapshot ${copied.digest} is being built for another revision; waiting for it`)
        snap = await shared
      } else {
        const p = this.#make(copied.tmp, copied.digest, line, startedAt)
        this.#building.set(copied.digest, p)
        try { snap = await p } finally { this.#building.delete(copied.digest) }
      }
      if (snap.start.length === 0 && !entry.ownCommand) throw new BuildError(snap.startProblem ?? 'the source does not say how to start; add a command to the template')
      entry.view = succeeded(snap, true, Math.round(performance.now() - startedAt))
      line('stdout', `build succeeded: ${entry.view.message}`)
      this.#opts.log.info('build succeeded', { revision: key, digest: snap.digest, builder: snap.builder, ms: Math.round(performance.now() - startedAt) })
    } catch (err) {
      const what = err instanceof BuildError ? err.message : `${(err as Error).message ?? err}`
      line('stderr', `build failed: ${what}`)
      const lines = tail.slice(-FAILURE_LINES).join('\n')
      entry.view = { status: 'False', reason: 'BuildFailed', message: `building ${entry.source} failed: ${what}\nlast lines of the build log:\n${lines}` }
      this.#opts.log.error('build failed', { revision: key, source: entry.source, error: what })
    } finally {
      this.#release()
    }
    this.#changed(key, entry)
  }

  /** Detects, installs (or restores from the cache) and writes the meta file. */
  async #make(tmp: string, digest: string, line: (s: 'stdout' | 'stderr', t: string) => void, startedAt: number): Promise<Snapshot> {
    const { stateDir } = this.#opts
    const dir = await placeSnapshot(tmp, stateDir, digest)
    try {
      const plan = detect(dir)
      line('stdout', `builder: ${plan.builder}`)
      let steps = plan.steps
      const cache = plan.cache
      const cached = cache !== undefined ? join(stateDir, 'build-cache', cache.key) : undefined
      if (cache !== undefined && cached !== undefined && existsSync(join(cached, '.complete'))) {
        await cp(join(cached, 'content'), join(dir, cache.dir), { recursive: true, verbatimSymlinks: true })
        line('stdout', `dependency cache hit ${cache.key}: restored ${cache.dir}, install not run`)
        steps = steps.slice(cache.steps)
      } else if (cache !== undefined) {
        line('stdout', `dependency cache miss ${cache.key}`)
      }
      const deadline = startedAt + (this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)
      for (const [i, step] of steps.entries()) {
        await this.#run(step, dir, deadline, line)
        if (cache !== undefined && cached !== undefined && steps === plan.steps && i === cache.steps - 1) await storeCache(dir, cache.dir, cached, line)
      }
      const snap: Snapshot = { digest, dir, builder: plan.builder, start: plan.start, ...(plan.startProblem !== undefined ? { startProblem: plan.startProblem } : {}), env: plan.env, durationMs: Math.round(performance.now() - startedAt) }
      await writeFile(join(dir, META_FILE), JSON.stringify(snap, null, 2) + '\n')
      return snap
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  #run(step: BuildStep, cwd: string, deadline: number, line: (s: 'stdout' | 'stderr', t: string) => void): Promise<void> {
    const shown = [step.file, ...step.args].join(' ')
    line('stdout', `$ ${shown}`)
    return new Promise((resolve, reject) => {
      const remaining = deadline - performance.now()
      if (remaining <= 0) { reject(new BuildError('the build timed out')); return }
      // npm and friends run on this Node (Node 24), whatever `node` is first on PATH
      const env = { ...process.env, ...step.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, npm_config_update_notifier: 'false' }
      const child = spawn(step.file, [...step.args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      track(child)
      this.#children.add(child)
      let timedOut = false
      const timer = setTimeout(() => { timedOut = true; killGroup(child) }, remaining)
      for (const stream of ['stdout', 'stderr'] as const) {
        let rest = ''
        child[stream]!.setEncoding('utf8').on('data', (chunk: string) => {
          const parts = (rest + chunk).split(/\r?\n/)
          rest = parts.pop()!
          for (const p of parts) if (p.trim() !== '') line(stream, p)
        }).on('end', () => { if (rest.trim() !== '') line(stream, rest) })
      }
      child.on('error', (err) => { clearTimeout(timer); this.#children.delete(child); reject(new BuildError(`cannot run ${step.file}: ${err.message}; is it installed?`)) })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        this.#children.delete(child)
        if (timedOut) reject(new BuildError(`${shown} did not finish within the build timeout (${Math.round((this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s)`))
        else if (code === 0) resolve()
        else reject(new BuildError(`${shown} exited with ${code !== null ? `code ${code}` : `signal ${signal}`}`))
      })
    })
  }

  #line(key: string, stream: 'stdout' | 'stderr', text: string, tail: string[]): void {
    tail.push(text)
    if (tail.length > FAILURE_LINES * 4) tail.splice(0, tail.length - FAILURE_LINES)
    this.#opts.log.info(`[build ${key}] ${text}`, { revision: key, stream })
    this.#opts.appLogs?.append({ time: Date.now(), revision: key, instance: 'build', stream, line: text })
  }

  #changed(key: string, entry: Entry): void {
    if (this.#entries.get(key) !== entry) return
    try { this.#opts.onChange() } catch (err) { this.#opts.log.error('build onChange listener threw', { err }) }
  }

  async #slot(): Promise<void> {
    if (this.#running < BUILD_CONCURRENCY) { this.#running++; return }
    await new Promise<void>((resolve) => this.#waiting.push(resolve))
  }

  #release(): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#running--
  }

  /** Snapshots referenced by no revision (and not being built) are removed. */
  #collect(state: RevisionState): void {
    const keep = new Set<string>()
    for (const cfg of Object.values(state.configurations)) for (const r of cfg.revisions) if (r.source?.snapshot !== undefined) keep.add(r.source.snapshot)
    for (const e of this.#entries.values()) if (e.view.snapshot !== undefined) keep.add(e.view.snapshot.digest)
    for (const d of this.#building.keys()) keep.add(d)
    const id = [...keep].sort().join(',') + `|${this.#building.size}`
    if (id === this.#referenced) return
    this.#referenced = id
    // only while nothing is being copied or built: their directories are not referenced yet
    if (this.#running > 0) { this.#referenced = ''; return }
    void collectGarbage(this.#opts.stateDir, keep, this.#opts.log)
  }
}

function succeeded(snap: Snapshot, fresh: boolean, ms?: number): BuildView {
  const how = fresh ? `built in ${ms ?? snap.durationMs} ms` : `built earlier in ${snap.durationMs} ms`
  return { status: 'True', reason: 'Succeeded', message: `snapshot ${snap.digest} (${snap.builder}) ${how}`, snapshot: snap }
}

function readMeta(dir: string): Snapshot | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as Snapshot
    return { ...m, dir }
  } catch {
    return undefined
  }
}

/** Keeps a copy of the installed dependencies for the next build with the same lockfile. */
async function storeCache(dir: string, sub: string, cached: string, line: (s: 'stdout' | 'stderr', t: string) => void): Promise<void> {
  const tmp = `${cached}.tmp-${process.pid}-${Date.now()}`
  try {
    await mkdir(join(tmp, 'content'), { recursive: true })
    if (existsSync(join(dir, sub))) await cp(join(dir, sub), join(tmp, 'content'), { recursive: true, verbatimSymlinks: true })
    await writeFile(join(tmp, '.complete'), '')
    await rm(cached, { recursive: true, force: true })
    await rename(tmp, cached)
    line('stdout', `dependency cache stored ${cached}`)
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    line('stderr', `could not store the dependency cache (the build goes on): ${(err as Error).message}`)
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return
  try { process.kill(-child.pid, 'SIGKILL') } catch { try { child.kill('SIGKILL') } catch { /* gone */ } }
}

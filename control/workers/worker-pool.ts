// The primary's side of `sluice serve --workers N`: starts N worker threads (worker-thread.ts),
// each a gateway on the same ports (SO_REUSEPORT), and stands between them and the control plane:
// tables go to every worker in two phases (all compile, then all install), instances go to every
// worker with a slot in the shared counts (gateway/worker/shared-slots.ts), and the workers'
// meters come back summed for the autoscaler (it is an ActivatorPort). A worker that exits is
// started again; its connections are lost, the others' are not touched.
import { Worker } from 'node:worker_threads'
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client'
import type { Logger } from '../../gateway/log.ts'
import type { InstanceRef } from '../../gateway/activator/upstream-instance.ts'
import type { ThrottlerStats } from '../../gateway/activator/throttler.ts'
import { SharedSlots } from '../../gateway/worker/shared-slots.ts'
import type { ActivatorPort } from '../scaling/activator-port.ts'
import type { FromWorker, TableSnapshot, ToWorker, WorkerFigures, WorkerStart } from './protocol.ts'

/** instance counters in the shared buffer; an instance beyond them is limited per worker only */
const SLOT_COUNT = 4096
/** how long the primary waits for a worker's answer (metrics, figures, a prepared table) */
const ANSWER_TIMEOUT_MS = 10_000
const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 5_000

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker-thread.ts' : './worker-thread.js', import.meta.url)

type Metrics = MetricObjectWithValues<MetricValue<string>>[]

export interface WorkerPoolOptions {
  count: number
  log: Logger
  listen: { port: number; internalPort: number; host?: string; internalHost: string }
}

/** One worker thread and what the primary knows of it. */
class Slot {
  readonly index: number
  worker: Worker | null = null
  listening = false
  /** the table version it installed last */
  version = 0
  restarts = 0
  startedAt = 0
  /** its last meter report */
  concurrency = new Map<string, number>()
  current = new Map<string, [number, number]>()
  readonly waiters = new Map<string, (m: FromWorker | null) => void>()

  constructor(index: number) {
    this.index = index
  }

  post(m: ToWorker): void {
    this.worker?.postMessage(m)
  }

  /** Resolves with the worker's answer named `key`, or null when it exits or takes too long. */
  answer(key: string, timeoutMs = ANSWER_TIMEOUT_MS): Promise<FromWorker | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(key); resolve(null) }, timeoutMs)
      timer.unref()
      this.waiters.set(key, (m) => { clearTimeout(timer); resolve(m) })
    })
  }

  settle(key: string, m: FromWorker | null): void {
    const w = this.waiters.get(key)
    if (w === undefined) return
    this.waiters.delete(key)
    w(m)
  }

  gone(): void {
    this.worker = null
    this.listening = false
    this.concurrency.clear()
    this.current.clear()
    for (const key of [...this.waiters.keys()]) this.settle(key, null)
  }
}

export class WorkerPool implements ActivatorPort {
  readonly #opts: WorkerPoolOptions
  readonly #slots: Slot[]
  readonly shared: SharedSlots
  #table: TableSnapshot | null = null
  /** swaps run one at a time, in order */
  #swaps: Promise<void> = Promise.resolve()
  readonly #instances = new Map<string, readonly InstanceRef[]>()
  /** `key id` → shared slot; slots of instances that went away wait until their count is 0 */
  readonly #slotOf = new Map<string, number>()
  readonly #retiredSlots: number[] = []
  #nextSlot = 0
  /** requests since the last sample(), by backend */
  readonly #requests = new Map<string, number>()
  #hooks: Parameters<ActivatorPort['listen']>[0] | null = null
  #ports: { port: number; internalPort: number } | null = null
  #stopping = false
  #req = 0

  constructor(opts: WorkerPoolOptions) {
    this.#opts = opts
    this.shared = new SharedSlots({ slots: SLOT_COUNT, workers: opts.count })
    this.#slots = Array.from({ length: opts.count }, (_, i) => new Slot(i))
  }

  get count(): number {
    return this.#opts.count
  }

  /**
   * Start every worker with the latest table published (`empty` before any: the configuration did
   * not load); resolves with the ports they share once all listen.
   */
  async start(empty: TableSnapshot): Promise<{ port: number; internalPort: number }> {
    if (this.#table === null) this.publish(empty)
    // The first worker picks the ports when they are 0; the others join them.
    const first = await this.#spawn(this.#slots[0]!)
    this.#ports = first
    await Promise.all(this.#slots.slice(1).map((s) => this.#spawn(s)))
    return first
  }

  /** A new table from the control loop: every listening worker compiles it, then all install it. */
  publish(published: TableSnapshot): void {
    const table = { ...published, fixedSlots: this.#fixedSlots(published) }
    this.#table = table
    this.#warnUnserved(table)
    this.#swaps = this.#swaps.then(() => this.#swap(table)).catch((err: unknown) => this.#opts.log.error('swapping the table in the workers failed', { err }))
  }

  #warned = { tls: false, brokers: false }
  /** `key origin` of the fixed origins that have a shared slot */
  #fixed = new Set<string>()

  /**
   * Fixed upstreams and endpoints with containerConcurrency get shared slots too, one per origin,
   * kept while the origin stays in the table.
   */
  #fixedSlots(table: TableSnapshot): [string, number][] {
    const keep = new Set<string>()
    const out: [string, number][] = []
    for (const spec of table.model.backends.values()) {
      if (spec.managed || spec.containerConcurrency === 0) continue
      for (const origin of spec.origins) {
        const slot = this.#slotFor(spec.key, origin)
        if (slot === undefined) continue
        keep.add(`${spec.key} ${origin}`)
        out.push([`${spec.key} ${origin}`, slot])
      }
    }
    for (const k of this.#fixed) {
      if (keep.has(k)) continue
      const slot = this.#slotOf.get(k)
      this.#slotOf.delete(k)
      if (slot !== undefined) this.#retiredSlots.push(slot)
    }
    this.#fixed = keep
    return out
  }

  /** Said once each: what the configuration asks for that workers do not serve. */
  #warnUnserved(table: TableSnapshot): void {
    const u = table.unserved
    if (u === undefined) return
    if (u.tls && !this.#warned.tls) {
      this.#warned.tls = true
      this.#opts.log.warn('TLS certificates are configured, but TLS listeners are not opened with --workers; serve TLS in front of Sluice or run without --workers (docs/workers.md)')
    }
    if (u.brokers > 0 && !this.#warned.brokers) {
      this.#warned.brokers = true
      this.#opts.log.warn('brokers are configured, but broker ingress is not served with --workers; run without --workers to use brokers (docs/workers.md)', { brokers: u.brokers })
    }
  }

  async #swap(table: TableSnapshot): Promise<void> {
    if (this.#table !== table) return // a newer one is queued behind
    const live = this.#slots.filter((s) => s.listening && s.version < table.version)
    const prepared = await Promise.all(live.map((s) => {
      const a = s.answer(`prepared ${table.version}`)
      s.post({ t: 'prepare', table })
      return a
    }))
    const committed = live.map((s, i) => {
      const p = prepared[i]
      if (p === null || (p.t === 'prepared' && p.error !== undefined)) return Promise.resolve(null)
      const a = s.answer(`committed ${table.version}`)
      s.post({ t: 'commit', version: table.version })
      return a
    })
    await Promise.all(committed)
    for (let i = 0; i < live.length; i++) if (prepared[i] !== null) live[i]!.version = table.version
  }

  #spawn(slot: Slot): Promise<{ port: number; internalPort: number }> {
    const ports = this.#ports
    const start: WorkerStart = {
      index: slot.index, slots: this.shared.buffer, slotCount: SLOT_COUNT, workerCount: this.#opts.count,
      listen: ports === null ? this.#opts.listen : { ...this.#opts.listen, ...ports },
      table: this.#table!, instances: [...this.#instances],
    }
    const worker = new Worker(WORKER_URL, { workerData: start, stdout: false, stderr: false })
    slot.worker = worker
    slot.startedAt = performance.now()
    slot.version = start.table.version
    const listening = slot.answer('listening')
    worker.on('message', (m: FromWorker) => this.#message(slot, m))
    worker.on('error', (err) => this.#opts.log.error('worker failed', { worker: slot.index, err }))
    worker.once('exit', (code) => this.#exited(slot, worker, code))
    return listening.then((m) => {
      if (m === null || m.t !== 'listening') throw new Error(`worker ${slot.index} did not start listening`)
      return { port: m.port, internalPort: m.internalPort }
    })
  }

  #message(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'listening':
        slot.listening = true
        slot.settle('listening', m)
        // A table published while it started: bring it up to date.
        if (this.#table !== null && this.#table.version > slot.version) this.publish(this.#table)
        return
      case 'prepared':
        slot.settle(`prepared ${m.version}`, m)
        return
      case 'committed':
        slot.settle(`committed ${m.version}`, m)
        return
      case 'demand':
        slot.current.set(m.key, [m.current, slot.current.get(m.key)?.[1] ?? 0])
        this.#hooks?.demand(m.key)
        return
      case 'ejected':
        this.#hooks?.ejected(m.key, m.id, m.ejections)
        return
      case 'sample':
        slot.concurrency.clear()
        for (const s of m.stats) {
          slot.concurrency.set(s.key, s.concurrency)
          if (s.requests > 0) this.#requests.set(s.key, (this.#requests.get(s.key) ?? 0) + s.requests)
        }
        slot.current.clear()
        for (const [key, current, queued] of m.current) slot.current.set(key, [current, queued])
        return
      case 'done':
      case 'metrics':
      case 'figures':
        slot.settle(`req ${m.req}`, m)
        return
      case 'drained':
        slot.settle('drained', m)
        return
    }
  }

  #exited(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return
    slot.gone()
    // What its requests held on shared instances is free again.
    this.shared.releaseWorker(slot.index)
    if (this.#stopping) {
      return
    }
    slot.restarts++
    const uptime = performance.now() - slot.startedAt
    const delay = uptime > 30_000 ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(slot.restarts, 6))
    this.#opts.log.error('worker exited; starting it again', { worker: slot.index, code, restartInMs: delay, restarts: slot.restarts })
    setTimeout(() => {
      if (this.#stopping) return
      this.#spawn(slot).catch((err: unknown) => this.#opts.log.error('worker did not start again', { worker: slot.index, err }))
    }, delay).unref()
  }

  // ActivatorPort: what the scaling loop sees, summed over the workers.

  listen(hooks: Parameters<ActivatorPort['listen']>[0]): void {
    this.#hooks = hooks
  }

  setInstances(key: string, refs: readonly InstanceRef[]): void {
    const withSlots = refs.map((r) => ({ ...r, slot: this.#slotFor(key, r.id) }))
    for (const [k, slot] of this.#slotOf) {
      if (!k.startsWith(key + ' ') || refs.some((r) => k === `${key} ${r.id}`)) continue
      this.#slotOf.delete(k)
      this.#retiredSlots.push(slot)
    }
    if (withSlots.length === 0) this.#instances.delete(key)
    else this.#instances.set(key, withSlots)
    for (const s of this.#slots) s.post({ t: 'instances', key, refs: withSlots })
  }

  #slotFor(key: string, id: string): number | undefined {
    const k = `${key} ${id}`
    let slot = this.#slotOf.get(k)
    if (slot !== undefined) return slot
    if (this.#nextSlot < SLOT_COUNT) slot = this.#nextSlot++
    else {
      // A slot is reused once no worker counts a request on it any more.
      const i = this.#retiredSlots.findIndex((s) => this.shared.count(s) === 0)
      if (i < 0) {
        this.#opts.log.warn('no shared slot left for an instance; its containerConcurrency is enforced per worker', { instance: id })
        return undefined
      }
      slot = this.#retiredSlots.splice(i, 1)[0]!
    }
    this.#slotOf.set(k, slot)
    return slot
  }

  async drainInstance(key: string, id: string, timeoutMs: number): Promise<void> {
    await Promise.all(this.#slots.filter((s) => s.worker !== null).map((s) => {
      const req = ++this.#req
      const a = s.answer(`req ${req}`, timeoutMs + ANSWER_TIMEOUT_MS)
      s.post({ t: 'drain-instance', req, key, id, timeoutMs })
      return a
    }))
  }

  sample(_now: number): ThrottlerStats[] {
    const keys = new Set<string>(this.#requests.keys())
    for (const s of this.#slots) for (const k of s.concurrency.keys()) keys.add(k)
    const out: ThrottlerStats[] = []
    for (const key of keys) {
      let concurrency = 0
      for (const s of this.#slots) concurrency += s.concurrency.get(key) ?? 0
      out.push({ key, concurrency, requests: this.#requests.get(key) ?? 0 })
    }
    this.#requests.clear()
    return out
  }

  current(key: string): number | undefined {
    let n: number | undefined
    for (const s of this.#slots) {
      const c = s.current.get(key)
      if (c !== undefined) n = (n ?? 0) + c[0]
    }
    return n
  }

  queued(key: string): number {
    let n = 0
    for (const s of this.#slots) n += s.current.get(key)?.[1] ?? 0
    return n
  }

  describeInstance(key: string, id: string): object | undefined {
    const slot = this.#slotOf.get(`${key} ${id}`)
    return slot === undefined ? undefined : { inflight: this.shared.count(slot) }
  }

  describeFixed(): Record<string, object[]> {
    return {}
  }

  // Admin: one scrape for all workers, per-worker figures.

  /**
   * The primary's metrics and every worker's, merged: series of the same name and labels are
   * summed (prom-client's AggregatorRegistry; each metric's aggregator decides, e.g. route count
   * takes the max). A family only the primary has (process, control loop) is passed through.
   */
  async metrics(primary: Registry): Promise<{ contentType: string; body: string }> {
    return { contentType: primary.contentType, body: await (await this.merged(primary)).metrics() }
  }

  /** The merged registry /metrics serves (the dashboard reads it too). */
  async merged(primary: Registry): Promise<Registry> {
    const answers = await Promise.all(this.#slots.filter((s) => s.listening).map((s) => {
      const req = ++this.#req
      const a = s.answer(`req ${req}`)
      s.post({ t: 'collect', req })
      return a
    }))
    const workers: Metrics[] = []
    for (const a of answers) if (a !== null && a.t === 'metrics') workers.push(a.metrics)
    const inWorkers = new Set<string>()
    for (const w of workers) for (const m of w) inWorkers.add(m.name)
    const own = (await primary.getMetricsAsJSON() as Metrics).map((m) => inWorkers.has(m.name) ? m : { ...m, aggregator: 'first' as const })
    return AggregatorRegistry.aggregate([own, ...workers])
  }

  /** Per-worker figures for /debug/workers. */
  async describe(): Promise<object> {
    const workers = await Promise.all(this.#slots.map(async (s) => {
      const base = { index: s.index, listening: s.listening, restarts: s.restarts }
      if (!s.listening) return base
      const req = ++this.#req
      const a = s.answer(`req ${req}`)
      s.post({ t: 'describe', req })
      const m = await a
      return m !== null && m.t === 'figures' ? { ...base, ...m.figures } satisfies WorkerFigures & typeof base : base
    }))
    return { count: this.#opts.count, ports: this.#ports, table: this.#table?.version ?? 0, workers }
  }

  /** SIGTERM: every worker stops accepting and finishes its requests; resolves true if all did in time. */
  async drain(timeoutMs: number): Promise<{ finished: boolean; cut: number }> {
    this.#stopping = true
    const live = this.#slots.filter((s) => s.worker !== null)
    const answers = await Promise.all(live.map((s) => {
      const a = s.answer('drained', timeoutMs + ANSWER_TIMEOUT_MS)
      s.post({ t: 'drain', timeoutMs })
      return a
    }))
    let finished = true
    let cut = 0
    for (const a of answers) {
      if (a === null || a.t !== 'drained') { finished = false; continue }
      finished &&= a.finished
      cut += a.cut
    }
    // Drained workers have nothing left to do (idle keep-alive pools may still hold sockets): stop them.
    await Promise.all(this.#slots.map((s) => s.worker?.terminate()))
    return { finished, cut }
  }
}

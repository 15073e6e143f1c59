// The live dashboard on the admin listener: `/` (the page), `/dashboard/dashboard.{css,js}`,
// `/dashboard/snapshot` (one JSON snapshot) and `/dashboard/events` (server-sent events: a
// snapshot every second, and at once when the configuration, its errors or an instance's state
// change). Everything is computed here on the control side from what already exists: the
// resources view, the runtime's instances and the metrics registry. admin-server.ts checks
// Host and token before any of this runs.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import type { ControlLoop } from '../../control-loop.ts'
import type { Revision } from '../../resources/types.ts'
import { isRunnable, type ScalingLoop } from '../../scaling/scaling-loop.ts'
import type { Redactor } from '../redact.ts'
import { ASSET_HEADERS, loadAssets, type Asset } from './assets.ts'
import { EventStream, type EventStreamOptions } from './event-stream.ts'
import { MetricReader, type RevisionCounters } from './metric-reader.ts'
import { RevisionHistory, type HistoryOptions } from './revision-history.ts'
import { buildSnapshot, keyOf, type DashboardSnapshot, type InstancesView } from './snapshot.ts'
import { send } from '../send.ts'

const SAMPLE_MS = 1_000
/** request counts are read while a page is open and this long after (a reload keeps its rates) */
const WATCH_MS = 10 * 60_000

export interface DashboardOptions {
  loop: ControlLoop
  registry: Registry
  /** with --workers: the primary's registry merged with the workers' (what /metrics serves) */
  metrics?: () => Promise<Registry>
  scaling?: ScalingLoop
  /** the admin server's current redactor: every snapshot is scrubbed like every admin answer */
  redactor: () => Redactor
  stream?: EventStreamOptions
  history?: HistoryOptions
  /** how often a change is looked for while a page is open (ms) */
  checkEveryMs?: number
  clock?: () => number
}

export class Dashboard {
  readonly #opts: DashboardOptions
  readonly #clock: () => number
  readonly #assets: Map<string, Asset> | Error
  readonly #stream: EventStream
  readonly #reader: MetricReader
  readonly #history: RevisionHistory
  #timer: NodeJS.Timeout | null = null
  #busy = false
  #lastSampleAt = -Infinity
  #watchedUntil = -Infinity
  /** requests waiting in the activator at the last sample, every backend */
  #queue = 0
  /** what the last pushed snapshot was built from: a change pushes at once */
  #seen: { last: unknown; errors: unknown; instances: string } = { last: undefined, errors: undefined, instances: '' }

  constructor(opts: DashboardOptions) {
    this.#opts = opts
    this.#clock = opts.clock ?? Date.now
    this.#assets = loadAssets()
    this.#stream = new EventStream(opts.stream)
    this.#reader = new MetricReader(opts.metrics ?? opts.registry)
    this.#history = new RevisionHistory(opts.history)
  }

  start(): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => { void this.#tick() }, this.#opts.checkEveryMs ?? 250)
    this.#timer.unref()
    void this.#tick()
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#stream.close()
  }

  /** Answers a dashboard path (isDashboardPath) once access was granted. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', `${req.method} is not allowed on ${path}; use GET\n`, { allow: 'GET, HEAD' })
      return
    }
    if (path === '/dashboard/events') {
      if (req.method === 'HEAD') {
        send(res, 200, 'text/event-stream; charset=utf-8', '')
        return
      }
      if (!this.#stream.open(req, res, JSON.stringify(this.snapshot()))) {
        send(res, 503, 'text/plain', 'too many dashboard streams open; close a dashboard tab and retry\n', { 'retry-after': '5' })
      }
      return
    }
    if (path === '/dashboard/snapshot') {
      this.#watchedUntil = this.#clock() + WATCH_MS
      send(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.snapshot(), null, 2) + '\n')
      return
    }
    const assets = this.#assets
    if (assets instanceof Error) {
      send(res, 500, 'text/plain', assets.message + '\n')
      return
    }
    const asset = assets.get(path)
    if (asset === undefined) {
      send(res, 404, 'text/plain', 'not found; the dashboard is at /, its data at /dashboard/snapshot and /dashboard/events\n')
      return
    }
    send(res, 200, asset.type, req.method === 'HEAD' ? '' : asset.body, ASSET_HEADERS)
  }

  snapshot(): DashboardSnapshot {
    const { loop } = this.#opts
    const runnable = this.#runnable()
    const snap = buildSnapshot({
      at: this.#clock(),
      loadedAt: loop.loadedAt?.getTime() ?? null,
      ready: loop.ready,
      errors: loop.errors,
      objects: loop.last?.objects ?? [],
      instances: (key) => this.#instances(key, runnable),
      derived: (key) => this.#history.derived(key),
      history: (key) => this.#history.instances(key),
      coldStarts: this.#history.coldStarts(),
      queue: this.#queue,
      historyStepMs: SAMPLE_MS,
      historyCapacity: this.#history.capacity,
    })
    return this.#opts.redactor().scrub(snap)
  }

  async #tick(): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      const now = this.#clock()
      const due = now - this.#lastSampleAt >= SAMPLE_MS
      if (!due && (this.#stream.size === 0 || !this.#changed())) return
      if (due) {
        this.#lastSampleAt = now
        await this.#sample(now)
      }
      if (this.#stream.size > 0) {
        this.#changed()
        this.#stream.broadcast(JSON.stringify(this.snapshot()))
      }
    } catch (err) {
      // a snapshot that cannot be built must not take the admin listener down; say it once a tick
      this.#stream.broadcast(JSON.stringify({ error: this.#opts.redactor().scrubText(String(err)) }))
    } finally {
      this.#busy = false
    }
  }

  /** Did the configuration, its errors or any instance's state change since the last look? */
  #changed(): boolean {
    const { loop, scaling } = this.#opts
    let instances = ''
    for (const i of scaling?.runtime.instances() ?? []) instances += `${i.id}:${i.state} `
    const seen = { last: loop.last, errors: loop.errors, instances }
    const changed = seen.last !== this.#seen.last || seen.errors !== this.#seen.errors || seen.instances !== this.#seen.instances
    this.#seen = seen
    return changed
  }

  /** Keys of the revisions Sluice runs as local processes (the scaling loop's own test). */
  #runnable(): Set<string> {
    const out = new Set<string>()
    if (this.#opts.scaling === undefined) return out
    for (const o of this.#opts.loop.last?.objects ?? []) {
      if (o.kind === 'Revision' && isRunnable(o as Revision)) out.add(keyOf(o.metadata.namespace, o.metadata.name))
    }
    return out
  }

  #instances(key: string, runnable: ReadonlySet<string>): InstancesView | null {
    if (!runnable.has(key) || this.#opts.scaling === undefined) return null
    const st = this.#opts.scaling.runtime.status(key)
    return { ready: st.ready, starting: st.starting, desired: st.desired }
  }

  async #sample(now: number): Promise<void> {
    if (this.#stream.size > 0) this.#watchedUntil = now + WATCH_MS
    const traffic = now < this.#watchedUntil
    const counters = await this.#reader.read(traffic)
    let queue = 0
    for (const c of counters.values()) queue += c.queue
    this.#queue = queue
    const runnable = this.#runnable()
    const revisions = new Map<string, { ready: number | null; counters: RevisionCounters | undefined }>()
    for (const o of this.#opts.loop.last?.objects ?? []) {
      if (o.kind !== 'Revision') continue
      const key = keyOf(o.metadata.namespace, o.metadata.name)
      revisions.set(key, {
        ready: this.#instances(key, runnable)?.ready ?? null,
        // a family without a namespace label is keyed by the bare revision name
        counters: counters.get(key) ?? counters.get(o.metadata.name),
      })
    }
    this.#history.record(now, revisions, this.#reader.bounds, traffic)
  }
}

// When each PingSource fires: one croner schedule per source (robfig/cron syntax mapped by
// toCronerPattern, in the source's IANA time zone), a 0–500 ms random jitter per tick as Knative's
// mtping adapter sleeps before sending, and timers from an injectable clock so tests drive time.
// Re-planning (the set of sources changed) keeps an unchanged schedule's pending tick, and a
// changed schedule never fires a tick at or before one that already fired.
import { Cron } from 'croner'
import { toCronerPattern } from '../sources/validate-event-sources.ts'

export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

/** what the scheduler needs to know of a source; `payload` is handed back untouched when it fires */
export interface ScheduledJob<P> {
  /** `namespace/name` */
  readonly key: string
  readonly schedule: string
  readonly timezone?: string
  readonly payload: P
}

export interface PingSchedulerOptions<P> {
  /** called at `scheduledAt` + jitter; `scheduledAt` is the cron time (ms since the epoch) */
  fire(job: ScheduledJob<P>, scheduledAt: number): void
  clock?: Clock
  /** upper bound (exclusive) of the random delay per tick, default 500 ms (runner.go rand.Intn(500)) */
  jitterMs?: number
  random?: () => number
}

/** setTimeout's limit; a longer wait is re-armed when it expires */
const MAX_TIMER_MS = 2 ** 31 - 1

interface Entry<P> {
  job: ScheduledJob<P>
  cron: Cron
  /** the next cron time, or null when the schedule has no further run */
  next: number | null
  /** when the timer for `next` goes off (next + jitter) */
  due: number
  timer: unknown
  /** the cron time of the last tick fired */
  lastFired: number
}

export class PingScheduler<P> {
  readonly #opts: PingSchedulerOptions<P>
  readonly #clock: Clock
  readonly #jitterMs: number
  readonly #random: () => number
  readonly #entries = new Map<string, Entry<P>>()
  #stopped = false

  constructor(opts: PingSchedulerOptions<P>) {
    this.#opts = opts
    this.#clock = opts.clock ?? realClock
    this.#jitterMs = opts.jitterMs ?? 500
    this.#random = opts.random ?? Math.random
  }

  /** The whole set of jobs; missing keys are unscheduled. Throws nothing: a bad schedule (validated earlier) is skipped. */
  set(jobs: readonly ScheduledJob<P>[]): void {
    if (this.#stopped) return
    const keep = new Set<string>()
    for (const job of jobs) {
      keep.add(job.key)
      const old = this.#entries.get(job.key)
      if (old !== undefined && old.job.schedule === job.schedule && old.job.timezone === job.timezone) {
        old.job = job // same times; the pending tick sends the new payload
        continue
      }
      const cron = makeCron(job)
      if (cron === undefined) { if (old !== undefined) this.#remove(old); continue }
      if (old !== undefined && old.next !== null && old.next <= this.#clock.now()) {
        // the tick is in its jitter wait: let it fire, later ticks follow the new schedule
        old.job = job
        old.cron = cron
        continue
      }
      const lastFired = old?.lastFired ?? -Infinity
      if (old !== undefined) this.#clock.clearTimeout(old.timer)
      const entry: Entry<P> = { job, cron, next: null, due: 0, timer: undefined, lastFired }
      this.#entries.set(job.key, entry)
      this.#plan(entry, Math.max(this.#clock.now(), lastFired))
    }
    for (const e of [...this.#entries.values()]) if (!keep.has(e.job.key)) this.#remove(e)
  }

  /** the next cron time of a job (ms), for status and tests */
  next(key: string): number | undefined {
    return this.#entries.get(key)?.next ?? undefined
  }

  /** the next `n` cron times of a schedule after `from`, in ms (tests, `sluice validate`) */
  static upcoming(schedule: string, timezone: string | undefined, from: number, n: number): number[] {
    const cron = makeCron({ key: '', schedule, ...(timezone !== undefined ? { timezone } : {}), payload: undefined })
    return cron === undefined ? [] : cron.nextRuns(n, new Date(from)).map((d) => d.getTime())
  }

  get size(): number { return this.#entries.size }

  stop(): void {
    this.#stopped = true
    for (const e of this.#entries.values()) this.#clock.clearTimeout(e.timer)
    this.#entries.clear()
  }

  #remove(e: Entry<P>): void {
    this.#clock.clearTimeout(e.timer)
    this.#entries.delete(e.job.key)
  }

  /** the first cron time strictly after `after` (ms), then a timer for it plus jitter */
  #plan(entry: Entry<P>, after: number): void {
    const next = entry.cron.nextRun(new Date(after))
    entry.next = next === null ? null : next.getTime()
    if (entry.next === null) return
    entry.due = entry.next + Math.floor(this.#random() * this.#jitterMs)
    this.#arm(entry)
  }

  #arm(entry: Entry<P>): void {
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, entry.due - this.#clock.now()))
    entry.timer = this.#clock.setTimeout(() => this.#wake(entry), wait)
  }

  #wake(entry: Entry<P>): void {
    if (this.#stopped || this.#entries.get(entry.job.key) !== entry || entry.next === null) return
    const now = this.#clock.now()
    if (now < entry.due) { this.#arm(entry); return } // a long wait in pieces, or an early timer
    const scheduledAt = entry.next
    entry.lastFired = scheduledAt
    // Like robfig/cron, ticks missed while the process slept are not replayed: the next one is after now.
    this.#plan(entry, Math.max(scheduledAt, now - this.#jitterMs))
    try {
      this.#opts.fire(entry.job, scheduledAt)
    } catch { /* the caller logs its own failures */ }
  }
}

function makeCron(job: ScheduledJob<unknown>): Cron | undefined {
  const pattern = toCronerPattern(job.schedule)
  if (pattern === undefined) return undefined
  try {
    return new Cron(pattern, { paused: true, ...(job.timezone !== undefined && job.timezone !== '' ? { timezone: job.timezone } : {}) })
  } catch {
    return undefined
  }
}

// Gives back the memory V8 committed for the start-up burst, once. Listing thousands of objects,
// the first reconcile/compile and a status write per KIngress allocate fast with much surviving,
// so V8 grows its young generation to its maximum (128 MB on Node 24 on a large host) and keeps it
// committed for good: idle, it never shrinks on its own. At 2,000 KIngresses that was ~60 of the
// ~120 KB of RSS per ingress (docs/kubernetes-benchmark.md). A memory-reducing full collection
// (V8's "last resort" flavour, the one a memory-pressure notification runs) shrinks the young
// generation back to its minimum and compacts the old one; afterwards the young generation grows
// only as far as the steady load needs.
//
// It runs once, when the process has gone quiet after start-up: the first `settle()` call arms
// it, and it fires on the first check where the last `intervalMs` used under `quietShare` of a
// core, within `giveUpMs`. The collection pauses the event loop (~0.1–0.5 s at 2,000 KIngresses),
// so it waits for a quiet moment; a process that is never quiet never pays it.
// SLUICE_COMPACT_AFTER_START=0 turns it off.
import v8 from 'node:v8'
import vm from 'node:vm'
import type { Logger } from '../../../gateway/log.ts'

export interface StartUpHeapOptions {
  readonly log: Logger
  readonly intervalMs?: number
  /** share of one core under which an interval counts as quiet (default 0.05) */
  readonly quietShare?: number
  /** stop looking after this long (default 120 s) */
  readonly giveUpMs?: number
}

type Gc = (o: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void

export class StartUpHeap {
  readonly #o: StartUpHeapOptions
  #timer: NodeJS.Timeout | undefined
  #armed = false
  #done = false

  constructor(o: StartUpHeapOptions) {
    this.#o = o
  }

  /** not armed yet (or turned off), waiting for a quiet moment, or done (compacted, given up or stopped) */
  get state(): 'idle' | 'waiting' | 'done' {
    return this.#done ? 'done' : this.#armed ? 'waiting' : 'idle'
  }

  /** A load was applied: from the first one on, wait for the process to go quiet. */
  settle(): void {
    if (this.#armed || this.#done || process.env.SLUICE_COMPACT_AFTER_START === '0') return
    this.#armed = true
    const interval = this.#o.intervalMs ?? 1000
    const since = performance.now()
    let last = process.cpuUsage()
    let lastAt = since
    this.#timer = setInterval(() => {
      const now = performance.now()
      const cpu = process.cpuUsage(last)
      last = process.cpuUsage()
      const share = (cpu.user + cpu.system) / 1000 / (now - lastAt)
      lastAt = now
      if (now - since > (this.#o.giveUpMs ?? 120_000)) { this.stop(); return }
      if (share < (this.#o.quietShare ?? 0.05)) { this.stop(); this.#compact() }
    }, interval)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.#done = true
  }

  #compact(): void {
    const before = committed()
    const t0 = performance.now()
    try {
      gcFunction()({ type: 'major', execution: 'sync', flavor: 'last-resort' })
    } catch (err) {
      this.#o.log.debug('cannot compact the heap after start-up', { error: (err as Error).message })
      return
    }
    const after = committed()
    this.#o.log.info('start-up heap given back', { committedMbBefore: mb(before), committedMbAfter: mb(after), pauseMs: Math.round(performance.now() - t0) })
  }
}

/** V8's gc() without --expose-gc for the whole process: exposed for one context and hidden again. */
function gcFunction(): Gc {
  const exposed = (globalThis as { gc?: Gc }).gc
  if (exposed !== undefined) return exposed
  v8.setFlagsFromString('--expose-gc')
  try {
    return vm.runInNewContext('gc') as Gc
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
}

function committed(): number {
  return v8.getHeapStatistics().total_heap_size
}

const mb = (n: number): number => Math.round(n / 2 ** 20)

// containerConcurrency across worker threads (sluice serve --workers): one Int32 per upstream
// instance in a SharedArrayBuffer counts the requests every worker has on it, and a worker admits a
// request only by a compare-and-swap below the limit, so a cc=1 revision never sees two requests at
// once whichever workers they came through. Knative splits capacity among activators instead
// (capacity subsetting, pkg/activator/net/throttler.go), which with fewer instances than activators
// either lets one activator own an instance or gives each a rounded-up share that overshoots cc;
// threads share memory, so the count can simply be one number.
//
// Layout (Int32): [0] wake generation, [1] workers waiting, then `slots` totals, then one row of
// `slots` per worker with what that worker holds, so the primary can give back the slots of a
// worker that died mid-request (releaseWorker).
const GEN = 0
const WAITERS = 1
const HEADER = 2

export class SharedSlots {
  readonly buffer: SharedArrayBuffer
  readonly slots: number
  readonly workers: number
  readonly #i32: Int32Array
  /** this thread's row (worker index), or -1 in the primary */
  readonly #row: number
  #armed = false
  #onWake: (() => void) | null = null

  constructor(opts: { slots: number; workers: number; buffer?: SharedArrayBuffer; worker?: number }) {
    this.slots = opts.slots
    this.workers = opts.workers
    this.buffer = opts.buffer ?? new SharedArrayBuffer((HEADER + opts.slots * (opts.workers + 1)) * 4)
    this.#i32 = new Int32Array(this.buffer)
    this.#row = opts.worker === undefined ? -1 : HEADER + opts.slots * (opts.worker + 1)
  }

  /** Requests on the instance in all workers. */
  count(slot: number): number {
    return Atomics.load(this.#i32, HEADER + slot)
  }

  /** Take a place on the instance if fewer than `limit` requests hold one (0: no limit). */
  claim(slot: number, limit: number): boolean {
    const i32 = this.#i32
    const at = HEADER + slot
    if (limit > 0) {
      for (let v = Atomics.load(i32, at); ; ) {
        if (v >= limit) return false
        const seen = Atomics.compareExchange(i32, at, v, v + 1)
        if (seen === v) break
        v = seen
      }
    } else Atomics.add(i32, at, 1)
    Atomics.add(i32, this.#row + slot, 1)
    return true
  }

  /** Give a place back; wakes workers that have requests waiting for one. */
  release(slot: number): void {
    const i32 = this.#i32
    Atomics.sub(i32, this.#row + slot, 1)
    Atomics.sub(i32, HEADER + slot, 1)
    if (Atomics.load(i32, WAITERS) > 0) {
      Atomics.add(i32, GEN, 1)
      Atomics.notify(i32, GEN)
    }
  }

  /** Primary: a worker is gone; what it held is free again. */
  releaseWorker(worker: number): void {
    const i32 = this.#i32
    const row = HEADER + this.slots * (worker + 1)
    let freed = 0
    for (let s = 0; s < this.slots; s++) {
      const held = Atomics.exchange(i32, row + s, 0)
      if (held !== 0) { Atomics.sub(i32, HEADER + s, held); freed += held }
    }
    if (freed > 0) {
      Atomics.add(i32, GEN, 1)
      Atomics.notify(i32, GEN)
    }
  }

  /**
   * While this worker has requests waiting for a place: `onWake` runs (on this thread's loop)
   * whenever another worker releases one. Call again after each wake while requests still wait.
   * `retry` runs once right after arming, so a release that happened just before is not missed.
   */
  watch(onWake: () => void, retry: () => boolean): void {
    this.#onWake = onWake
    if (this.#armed) return
    this.#armed = true
    const i32 = this.#i32
    Atomics.add(i32, WAITERS, 1)
    const gen = Atomics.load(i32, GEN)
    // Every release from here on bumps GEN (it sees WAITERS > 0); earlier ones are seen by retry().
    if (!retry()) { this.#disarm(); return }
    const r = Atomics.waitAsync(i32, GEN, gen)
    if (r.async) r.value.then(this.#woken, this.#woken)
    else queueMicrotask(this.#woken)
  }

  readonly #woken = (): void => {
    this.#disarm()
    this.#onWake?.()
  }

  #disarm(): void {
    if (!this.#armed) return
    this.#armed = false
    Atomics.sub(this.#i32, WAITERS, 1)
  }
}

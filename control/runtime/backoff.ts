// Exponential restart delay for crashing instances, like kubelet's CrashLoopBackOff but shorter:
// a local process restarts in milliseconds, so 100 ms doubling to 10 s.
export class Backoff {
  readonly #initialMs: number
  readonly #maxMs: number
  #nextMs: number

  constructor(initialMs = 100, maxMs = 10_000) {
    this.#initialMs = initialMs
    this.#maxMs = maxMs
    this.#nextMs = initialMs
  }

  /** The delay to wait now; the one after it is twice as long (capped). */
  next(): number {
    const delay = this.#nextMs
    this.#nextMs = Math.min(this.#maxMs, delay * 2)
    return delay
  }

  reset(): void {
    this.#nextMs = this.#initialMs
  }
}

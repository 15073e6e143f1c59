// How many slow password verifications (bcrypt, scrypt, argon2) run at once in this process, over
// every basic-auth route. Each costs milliseconds of CPU by design; without a bound a flood of bad
// passwords would pin the CPU (bcryptjs runs on the main thread) or the libuv thread pool (scrypt,
// argon2, shared with file and DNS work) and slow every other request. Past the bound basic-auth
// answers 429 without verifying: credentials already verified are served from its cache and never
// reach this limit, so legitimate clients keep working during such a flood.

/** 4 matches libuv's default thread pool, which scrypt and argon2 run on. */
export const MAX_SLOW_VERIFICATIONS = 4

class SlowVerifications {
  #active = 0

  /** Take a slot, or false when all are busy. */
  tryAcquire(): boolean {
    if (this.#active >= MAX_SLOW_VERIFICATIONS) return false
    this.#active++
    return true
  }

  release(): void {
    this.#active--
  }

  get active(): number {
    return this.#active
  }
}

export const slowVerifications = new SlowVerifications()

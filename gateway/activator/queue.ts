// A FIFO of waiting requests: O(1) push/shift on a growable ring, no per-item allocation. Buffered
// requests are where Knative's activator ran out of memory (serving#13583); the bound lives in
// the throttler, this only keeps the cost per waiting request to one array slot.
export class Queue<T> {
  // Empty until the first wait: most revisions never queue, and then cost no ring.
  #items: (T | undefined)[] = []
  #head = 0
  #size = 0

  get size(): number {
    return this.#size
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.#grow()
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item
    this.#size++
  }

  /** Put an item back at the front (a request that never reached its instance). */
  unshift(item: T): void {
    if (this.#size === this.#items.length) this.#grow()
    this.#head = (this.#head - 1) & (this.#items.length - 1)
    this.#items[this.#head] = item
    this.#size++
  }

  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head]
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined
    this.#head = (this.#head + 1) & (this.#items.length - 1)
    this.#size--
    return item
  }

  #grow(): void {
    const old = this.#items
    const next: (T | undefined)[] = new Array(Math.max(16, old.length * 2))
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) & (old.length - 1)]
    this.#items = next
    this.#head = 0
  }
}

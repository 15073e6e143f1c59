// What the apps Sluice runs wrote, kept per revision for `sluice logs` (the admin API's /debug/logs):
// the last lines of every revision in a bounded ring, and live followers. Bounded three ways (lines
// per revision, revisions, followers), so a chatty app or many `logs -f` cannot grow memory.

export interface AppLogLine {
  /** ms since the epoch */
  readonly time: number
  readonly revision: string
  readonly instance: string
  readonly stream: 'stdout' | 'stderr'
  /** one line, or a record of several joined with \n (a stack trace; see output.ts RecordGrouper) */
  readonly line: string
}

export type AppLogFollower = (line: AppLogLine) => void

const LINES_PER_REVISION = 1_000
const MAX_REVISIONS = 500
export const MAX_FOLLOWERS = 32

class Ring {
  readonly #lines: (AppLogLine | undefined)[]
  #next = 0
  #size = 0
  constructor(capacity: number) { this.#lines = new Array(capacity) }
  push(l: AppLogLine): void {
    this.#lines[this.#next] = l
    this.#next = (this.#next + 1) % this.#lines.length
    if (this.#size < this.#lines.length) this.#size++
  }
  /** oldest first */
  toArray(): AppLogLine[] {
    const out: AppLogLine[] = []
    const cap = this.#lines.length
    for (let i = 0; i < this.#size; i++) out.push(this.#lines[(this.#next - this.#size + i + cap) % cap]!)
    return out
  }
}

export class AppLogs {
  readonly #rings = new Map<string, Ring>()
  readonly #followers = new Set<{ revisions: ReadonlySet<string>; fn: AppLogFollower }>()
  readonly #perRevision: number

  constructor(perRevision = LINES_PER_REVISION) {
    this.#perRevision = perRevision
  }

  append(line: AppLogLine): void {
    let ring = this.#rings.get(line.revision)
    if (ring === undefined) {
      // Insertion order = age: the revision that logged first is forgotten first.
      if (this.#rings.size >= MAX_REVISIONS) this.#rings.delete(this.#rings.keys().next().value!)
      ring = new Ring(this.#perRevision)
      this.#rings.set(line.revision, ring)
    }
    ring.push(line)
    for (const f of this.#followers) if (f.revisions.has(line.revision)) f.fn(line)
  }

  /** The kept lines of these revisions (`namespace/name`), oldest first, at most `tail` of them. */
  read(revisions: readonly string[], tail = Infinity): AppLogLine[] {
    const all = revisions.flatMap((r) => this.#rings.get(r)?.toArray() ?? [])
    all.sort((a, b) => a.time - b.time)
    return tail < all.length ? all.slice(all.length - tail) : all
  }

  /** Live lines of these revisions; returns the unsubscribe, or null when MAX_FOLLOWERS already follow. */
  follow(revisions: readonly string[], fn: AppLogFollower): (() => void) | null {
    if (this.#followers.size >= MAX_FOLLOWERS) return null
    const entry = { revisions: new Set(revisions), fn }
    this.#followers.add(entry)
    return () => { this.#followers.delete(entry) }
  }
}

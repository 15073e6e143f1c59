// Keep-alive connection pools, one per upstream origin, shared by every table that points at it
// so a reload never reconnects. Pools no table uses any more are closed gracefully: requests
// already on them finish first.
import { Pool, type Dispatcher } from 'undici'
import type { RouteTable } from './route-table.ts'

const POOL_OPTIONS = {
  connections: 256,
  pipelining: 1,
  // Timeouts are per request (revision settings); the pool itself never times a request out.
  headersTimeout: 0,
  bodyTimeout: 0,
  keepAliveTimeout: 4_000,
  allowH2: false,
} as const

export class UpstreamPools {
  readonly #pools = new Map<string, Pool>()

  get(origin: string): Dispatcher {
    let p = this.#pools.get(origin)
    if (p === undefined) {
      p = new Pool(origin, POOL_OPTIONS)
      this.#pools.set(origin, p)
    }
    return p
  }

  /** Attach pools to every backend of a table about to be installed; close the ones left unused. */
  adopt(table: RouteTable): void {
    const used = new Set<string>()
    for (const backend of table.backends.values()) {
      const ds: Dispatcher[] = []
      for (const origin of backend.origins) {
        used.add(origin)
        ds.push(this.get(origin))
      }
      backend.dispatchers = ds
    }
    for (const [origin, pool] of this.#pools) {
      if (used.has(origin)) continue
      this.#pools.delete(origin)
      pool.close().catch(() => {})
    }
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(all.map((p) => p.close().catch(() => {})))
  }

  destroy(): void {
    for (const p of this.#pools.values()) p.destroy().catch(() => {})
    this.#pools.clear()
  }

  get size(): number {
    return this.#pools.size
  }
}

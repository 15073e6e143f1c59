// Garbage collection of snapshots: a snapshot no revision in the history references (the
// revision was pruned or its Service deleted) is removed; the dependency cache keeps its newest
// entries only. Leftovers of an interrupted copy are removed once they are a day old.
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../../gateway/log.ts'
import { snapshotsDir } from './snapshot.ts'

const CACHE_ENTRIES = 20
const STALE_TMP_MS = 24 * 3600_000

/** Removes every snapshot not in `keep`; returns the digests removed. */
export async function collectGarbage(stateDir: string, keep: ReadonlySet<string>, log?: Logger): Promise<string[]> {
  const removed: string[] = []
  const root = snapshotsDir(stateDir)
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const dir = join(root, name)
    if (name.startsWith('.')) {
      const st = await stat(dir).catch(() => undefined)
      if (st !== undefined && Date.now() - st.mtimeMs > STALE_TMP_MS) await rm(dir, { recursive: true, force: true })
      continue
    }
    if (keep.has(name)) continue
    await rm(dir, { recursive: true, force: true })
    removed.push(name)
  }
  if (removed.length > 0) log?.info('unused snapshots removed', { snapshots: removed })
  await trimCache(join(stateDir, 'build-cache'))
  return removed
}

async function trimCache(dir: string): Promise<void> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.includes('.tmp-'))
  if (names.length <= CACHE_ENTRIES) return
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })))
  aged.sort((a, b) => b.t - a.t)
  for (const { n } of aged.slice(CACHE_ENTRIES)) await rm(join(dir, n), { recursive: true, force: true })
}

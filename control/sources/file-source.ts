// Watches a config directory and reports a full LoadResult after every settled change. Loads are
// whole snapshots (never deltas), so a missed or merged event can only delay a reload, never
// leave the state half-applied.
import { readdirSync, statSync, watch } from 'node:fs'
import { dirname, join } from 'node:path'
import type { FSWatcher } from 'node:fs'
import { emptyResourceSet } from '../resources/types.ts'
import { loadDirectory } from './load.ts'
import type { LoadResult } from './load.ts'

export interface FileSourceOptions {
  /** quiet time after the last change before reloading; default 25 ms */
  debounceMs?: number | undefined
  /** how often to check that the directory itself is still the one watched; default 1000 ms */
  checkMs?: number | undefined
}

export class FileSource {
  readonly #dir: string
  readonly #debounceMs: number
  readonly #checkMs: number
  #onLoad: ((r: LoadResult) => void) | undefined
  /** one non-recursive watcher per directory, keyed by path, remembering which directory it saw */
  readonly #watchers = new Map<string, { id: string; watcher: FSWatcher }>()
  #timer: NodeJS.Timeout | undefined
  #firstChangeAt = 0
  #check: NodeJS.Timeout | undefined
  /** set when some directory cannot be watched (e.g. inotify limits): #check polls a fingerprint */
  #pollFingerprint: string | undefined
  /** identity of the watched root at the last sync (undefined: it did not exist) */
  #rootId: string | undefined

  constructor(dir: string, opts: FileSourceOptions = {}) {
    this.#dir = dir
    this.#debounceMs = opts.debounceMs ?? 25
    this.#checkMs = opts.checkMs ?? 1000
  }

  /** Loads once and calls `onLoad` before returning, then calls it again after every change. */
  start(onLoad: (r: LoadResult) => void): void {
    this.stop()
    this.#onLoad = onLoad
    this.#check = setInterval(() => this.#checkDirectory(), this.#checkMs)
    this.#check.unref()
    this.#reload()
  }

  stop(): void {
    this.#onLoad = undefined
    for (const { watcher } of this.#watchers.values()) watcher.close()
    this.#watchers.clear()
    this.#rootId = undefined
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    if (this.#check !== undefined) clearInterval(this.#check)
    this.#timer = undefined
    this.#check = undefined
  }

  /**
   * Watches every directory of the tree without `recursive`: on Linux, Node's recursive mode
   * follows file inodes and loses a file replaced by rename (an editor's atomic save), while a
   * directory watch reports every create, rename, write and delete inside it.
   */
  #syncWatchers(): void {
    this.#rootId = rootId(this.#dir)
    const dirs = watchedDirectories(this.#dir)
    for (const [path, w] of this.#watchers) {
      if (dirs.get(path) !== w.id) { w.watcher.close(); this.#watchers.delete(path) }
    }
    let degraded = false
    for (const [path, id] of dirs) {
      if (this.#watchers.has(path)) continue
      try {
        const watcher = watch(path, () => this.#changed())
        watcher.on('error', () => {
          watcher.close()
          if (this.#watchers.get(path)?.watcher === watcher) this.#watchers.delete(path)
          this.#changed()
        })
        this.#watchers.set(path, { id, watcher })
      } catch {
        degraded = true
      }
    }
    this.#pollFingerprint = degraded ? fingerprint(this.#dir) : undefined
  }

  /** Debounced: reload once writes have been quiet for debounceMs, but never wait past 8x that. */
  #changed(): void {
    if (this.#onLoad === undefined) return
    const now = Date.now()
    if (this.#timer === undefined) this.#firstChangeAt = now
    else clearTimeout(this.#timer)
    const delay = Math.max(0, Math.min(this.#debounceMs, this.#firstChangeAt + this.#debounceMs * 8 - now))
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#reload() }, delay)
  }

  /** Catches what events cannot: the directory created, deleted or replaced by a rename. */
  #checkDirectory(): void {
    if (this.#onLoad === undefined || this.#timer !== undefined) return
    if (rootId(this.#dir) !== this.#rootId) this.#changed()
    else if (this.#pollFingerprint !== undefined && fingerprint(this.#dir) !== this.#pollFingerprint) this.#changed()
  }

  #reload(): void {
    const onLoad = this.#onLoad
    if (onLoad === undefined) return
    // watch first, so a write during the load still triggers the next one
    this.#syncWatchers()
    let result: LoadResult
    try {
      result = loadDirectory(this.#dir)
    } catch (err) {
      // loadDirectory reports user mistakes itself; this is a last guard so watching goes on
      result = {
        resources: emptyResourceSet(), files: [],
        errors: [{ file: this.#dir, line: 1, column: 1, path: '', message: `cannot load configuration: ${(err as Error).message}` }],
      }
    }
    onLoad(result)
  }
}

/** identity of the config path, a directory or a single file; it changes when either is replaced */
function rootId(path: string): string | undefined {
  return pathId(path, true) ?? pathId(path, false)
}

/**
 * `dir` and its non-hidden subdirectories (symlinks followed once), with their identities; for a
 * single config file, the directory holding it.
 */
function watchedDirectories(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  if (pathId(dir, false) !== undefined) {
    const parentId = pathId(dirname(dir), true)
    if (parentId !== undefined) out.set(dirname(dir), parentId)
    return out
  }
  const seen = new Set<string>()
  const walk = (d: string): void => {
    const id = pathId(d, true)
    if (id === undefined || seen.has(id)) return
    seen.add(id)
    out.set(d, id)
    let names: string[]
    try { names = readdirSync(d) } catch { return }
    for (const name of names) if (!name.startsWith('.')) walk(join(d, name))
  }
  walk(dir)
  return out
}

/** device:inode of a directory (`dir` true) or a regular file, undefined if it is not one */
function pathId(path: string, dir: boolean): string | undefined {
  try {
    const st = statSync(path)
    return (dir ? st.isDirectory() : st.isFile()) ? `${st.dev}:${st.ino}` : undefined
  } catch {
    return undefined
  }
}

/**
 * Names, sizes and mtimes of everything under `dir`: enough to notice a save when polling.
 * Hidden entries count on purpose (Kubernetes ConfigMap mounts swap a hidden ..data symlink).
 */
function fingerprint(dir: string): string {
  let names: string[]
  try { names = readdirSync(dir, { recursive: true, encoding: 'utf8' }) } catch { return '' }
  const out: string[] = []
  for (const name of names.sort()) {
    try {
      const st = statSync(join(dir, name))
      out.push(`${name}:${st.size}:${st.mtimeMs}`)
    } catch { /* vanished meanwhile */ }
  }
  return out.join('\n')
}

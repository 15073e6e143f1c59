// Content-addressed snapshots of a source folder: the folder is copied (without what a build
// makes or a VCS keeps), the copy is hashed, and lives at `<state>/snapshots/<digest>`. Hashing
// the copy rather than the source means the digest names exactly what runs, even if the source
// was being edited while it was copied.
import { createHash } from 'node:crypto'
import { chmod, copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { BuildError } from './plan.ts'

/** the file a finished build leaves in its snapshot; a snapshot without it is an interrupted build */
export const META_FILE = '.sluice-build.json'
/** never copied (a source's own META_FILE too: only a build writes it): installed dependencies, VCS data, caches (buildpacks exclude the same) */
export const EXCLUDED = new Set(['node_modules', '.git', '.hg', '.svn', '.venv', 'venv', '__pycache__', '.sluice-state', '.DS_Store', META_FILE])
/** a source bigger than this is refused rather than copied again for every revision */
const MAX_FILES = 20_000
const MAX_BYTES = 512 * 1024 * 1024

export function snapshotsDir(stateDir: string): string {
  return join(stateDir, 'snapshots')
}

/**
 * Copies `source` to a fresh directory under `<state>/snapshots` and hashes the copy; the caller
 * moves it to its digest with placeSnapshot (or drops it when that snapshot exists already).
 * `skip` names absolute paths never copied (the state directory when it lies inside the source).
 */
export async function copySource(source: string, stateDir: string, skip: readonly string[] = []): Promise<{ digest: string; tmp: string; files: number; bytes: number }> {
  const root = snapshotsDir(stateDir)
  await mkdir(root, { recursive: true })
  const tmp = join(root, `.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`)
  try {
    const skipped = new Set(skip)
    let files = 0
    let bytes = 0
    // a walk of our own rather than fs.cp: the state directory may lie inside the source (`source: .`)
    const copy = async (from: string, to: string): Promise<void> => {
      await mkdir(to, { recursive: true })
      for (const e of await readdir(from, { withFileTypes: true })) {
        const src = join(from, e.name)
        if (EXCLUDED.has(e.name) || skipped.has(src)) continue
        const dest = join(to, e.name)
        if (e.isDirectory()) await copy(src, dest)
        else if (e.isSymbolicLink()) await symlink(await readlink(src), dest)
        else if (e.isFile()) {
          const st = await lstat(src)
          files++
          bytes += st.size
          if (files > MAX_FILES || bytes > MAX_BYTES) {
            throw new BuildError(`the source folder ${source} is too big to snapshot (over ${MAX_FILES} files or ${MAX_BYTES / 1024 / 1024} MiB); point sluice.dev/source at the app's own folder`)
          }
          await copyFile(src, dest)
          await chmod(dest, st.mode & 0o777)
        }
      }
    }
    await copy(source, tmp)
    return { digest: await snapshotDigest(tmp), tmp, files, bytes }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
}

/** Moves a copied source to `<state>/snapshots/<digest>`, replacing an interrupted build of the same content. */
export async function placeSnapshot(tmp: string, stateDir: string, digest: string): Promise<string> {
  const dir = join(snapshotsDir(stateDir), digest)
  await rm(dir, { recursive: true, force: true })
  await rename(tmp, dir)
  return dir
}

/**
 * The snapshot's name: its content, the builders' version and the Node major (node_modules built
 * by one Node major may not load in another, so the same source under another Node is another snapshot).
 */
export function snapshotDigest(dir: string): Promise<string> {
  return hashTree(dir, `sluice-build/1 node${process.versions.node.split('.')[0]}`)
}

/** sha256 over `salt`, then every entry's relative path, kind, executable bit and content (or link target), in sorted order. */
export async function hashTree(dir: string, salt = ''): Promise<string> {
  const h = createHash('sha256').update(`${salt}\0`)
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const e of entries) {
      const p = join(d, e.name)
      const rel = relative(dir, p)
      if (e.isDirectory()) {
        h.update(`d\0${rel}\0`)
        await walk(p)
      } else if (e.isSymbolicLink()) {
        h.update(`l\0${rel}\0${await readlink(p)}\0`)
      } else if (e.isFile()) {
        const st = await lstat(p)
        const data = await readFile(p)
        h.update(`f\0${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0${data.length}\0`).update(data)
      }
    }
  }
  await walk(dir)
  return h.digest('hex').slice(0, 32)
}

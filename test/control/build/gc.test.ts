// Snapshot garbage collection and the snapshot digest, on real directories.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { collectGarbage } from '../../../control/build/gc.ts'
import { copySource, placeSnapshot, snapshotDigest, snapshotsDir } from '../../../control/build/snapshot.ts'

const temp = (t: { teardown(fn: () => void): void }): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-gc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('unreferenced snapshots go, referenced ones and copies in progress stay', async (t) => {
  const state = temp(t)
  for (const d of ['aaa', 'bbb', '.tmp-1-2-x']) mkdirSync(path.join(snapshotsDir(state), d), { recursive: true })
  t.same(await collectGarbage(state, new Set(['aaa'])), ['bbb'])
  t.ok(existsSync(path.join(snapshotsDir(state), 'aaa')))
  t.notOk(existsSync(path.join(snapshotsDir(state), 'bbb')))
  t.ok(existsSync(path.join(snapshotsDir(state), '.tmp-1-2-x')), 'a fresh temporary copy is left alone')
})

t.test('the digest names the copied content; node_modules, .git and the state dir are not copied', async (t) => {
  const src = temp(t)
  const state = path.join(src, '.state') // a state dir inside the source must not copy itself
  writeFileSync(path.join(src, 'server.js'), 'one')
  mkdirSync(path.join(src, 'node_modules', 'x'), { recursive: true })
  writeFileSync(path.join(src, 'node_modules', 'x', 'index.js'), '')
  mkdirSync(path.join(src, '.git'))
  const a = await copySource(src, state, [state])
  const dir = await placeSnapshot(a.tmp, state, a.digest)
  t.equal(a.files, 1)
  t.notOk(existsSync(path.join(dir, 'node_modules')))
  t.notOk(existsSync(path.join(dir, '.git')))
  t.notOk(existsSync(path.join(dir, '.state')))
  t.equal(await snapshotDigest(dir), a.digest)
  writeFileSync(path.join(src, 'node_modules', 'x', 'index.js'), 'changed')
  const b = await copySource(src, state, [state])
  t.equal(b.digest, a.digest, 'excluded files do not change the digest')
  writeFileSync(path.join(src, 'server.js'), 'two')
  const c = await copySource(src, state, [state])
  t.not(c.digest, a.digest, 'an edit does')
})

// The shared instance counts of --workers: a claim never goes past the limit, whichever row takes
// it; a dead worker's places come back; a release in another thread wakes a waiting one.
import t from 'tap'
import { Worker } from 'node:worker_threads'
import { SharedSlots } from '../../../gateway/worker/shared-slots.ts'

t.test('claims stop at the limit across workers; releases free them', async (t) => {
  const primary = new SharedSlots({ slots: 4, workers: 2 })
  const w0 = new SharedSlots({ slots: 4, workers: 2, buffer: primary.buffer, worker: 0 })
  const w1 = new SharedSlots({ slots: 4, workers: 2, buffer: primary.buffer, worker: 1 })
  t.ok(w0.claim(2, 1))
  t.notOk(w1.claim(2, 1), 'cc=1: the other worker cannot take the slot')
  t.ok(w1.claim(3, 1), 'another instance is free')
  t.equal(primary.count(2), 1)
  w0.release(2)
  t.ok(w1.claim(2, 1), 'free again once released')
  t.ok(w0.claim(1, 0) && w0.claim(1, 0) && w0.claim(1, 0), 'no limit: every claim succeeds')
  t.equal(primary.count(1), 3)
})

t.test('a dead worker\'s places are given back', async (t) => {
  const primary = new SharedSlots({ slots: 2, workers: 2 })
  const w0 = new SharedSlots({ slots: 2, workers: 2, buffer: primary.buffer, worker: 0 })
  const w1 = new SharedSlots({ slots: 2, workers: 2, buffer: primary.buffer, worker: 1 })
  w0.claim(0, 0); w0.claim(0, 0); w1.claim(0, 0)
  t.equal(primary.count(0), 3)
  primary.releaseWorker(0)
  t.equal(primary.count(0), 1, 'only the living worker\'s request still counts')
})

t.test('a release in another thread wakes a watching worker', async (t) => {
  const primary = new SharedSlots({ slots: 1, workers: 2 })
  const mine = new SharedSlots({ slots: 1, workers: 2, buffer: primary.buffer, worker: 0 })
  // The other worker holds the only place, then gives it back from its own thread.
  const other = new SharedSlots({ slots: 1, workers: 2, buffer: primary.buffer, worker: 1 })
  t.ok(other.claim(0, 1))
  t.notOk(mine.claim(0, 1))
  const woke = new Promise<void>((resolve) => mine.watch(resolve, () => !mine.claim(0, 1)))
  const thread = new Worker(`
    const { workerData } = require('node:worker_threads')
    const i32 = new Int32Array(workerData)
    // row of worker 1, slot 0 = 2 + 1 * 2; total of slot 0 = 2; then wake watchers as release() does
    Atomics.sub(i32, 4, 1); Atomics.sub(i32, 2, 1)
    if (Atomics.load(i32, 1) > 0) { Atomics.add(i32, 0, 1); Atomics.notify(i32, 0) }
  `, { eval: true, workerData: primary.buffer })
  await woke
  t.ok(mine.claim(0, 1), 'the place is ours after the wake')
  await thread.terminate()
})

// A 1 GiB upload and a 1 GiB download (at once, to keep the file short) through a real `sluice serve`:
// every byte arrives, and the gateway's resident memory (its own /metrics) stays bounded while they
// flow, which only holds if backpressure works both ways.
import t from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { sample, send } from './helpers.ts'

const GiB = 1024 * 1024 * 1024
const MAX_GROWTH = 200 * 1024 * 1024

const backend = await startBackend('big')
t.teardown(() => backend.close())
const s = await startSluice({ 'svc.yaml': serviceYaml('big', backend.origin) })
t.teardown(() => s.stop())
const HOST = 'big.default.localhost'

const rss = (): Promise<number> => sample(s, 'sluice_process_resident_memory_bytes')

/** Runs `transfer` while sampling the gateway's RSS every 250 ms; returns the result and the peak growth. */
async function watched<T>(transfer: () => Promise<T>): Promise<{ result: T; before: number; peak: number; after: number }> {
  // warm up the pool and the code paths first, so the baseline is not the cold process
  await send(s.port, HOST, { path: '/?bytes=1048576', discardBody: true })
  const before = await rss()
  let peak = before
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rss())
      await new Promise((r) => setTimeout(r, 250))
    }
  })()
  try {
    const result = await transfer()
    return { result, before, peak, after: await rss() }
  } finally {
    sampling = false
    await sampler
  }
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MB`

t.test('1 GiB download and 1 GiB upload at the same time, with bounded memory', async (t) => {
  const chunk = Buffer.alloc(1024 * 1024, 'u')
  const { result: [down, up], before, peak, after } = await watched(() => Promise.all([
    send(s.port, HOST, { path: `/?bytes=${GiB}`, discardBody: true, timeoutMs: 80_000 }),
    send(s.port, HOST, {
      method: 'POST', path: '/?sink=1', timeoutMs: 80_000,
      headers: { 'content-length': String(GiB), 'content-type': 'application/octet-stream' },
      body: async function* () { for (let i = 0; i < 1024; i++) yield chunk },
    }),
  ]))
  t.equal(down.status, 200)
  t.equal(down.headers['content-length'], String(GiB))
  t.equal(down.length, GiB, 'every downloaded byte arrived')
  t.ok(down.complete)
  t.equal(up.status, 200)
  t.same(JSON.parse(up.text), { received: GiB }, 'every uploaded byte arrived')
  t.ok(peak - before < MAX_GROWTH, `RSS ${mb(before)} → peak ${mb(peak)}, after ${mb(after)} (growth < 200 MB)`)
  t.comment(`download ${(GiB / 1048576 / (down.totalMs / 1000)).toFixed(0)} MB/s, upload ${(GiB / 1048576 / (up.totalMs / 1000)).toFixed(0)} MB/s`)
})

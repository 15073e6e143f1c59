// The start-up heap compaction (control/sources/kubernetes/start-up-heap.ts): armed by the first
// applied load, it runs one memory-reducing collection once the process is quiet, and only once;
// SLUICE_COMPACT_AFTER_START=0 turns it off.
import t from 'tap'
import { StartUpHeap } from '../../control/sources/kubernetes/start-up-heap.ts'
import { waitFor } from '../fixtures/wait.ts'
import type { Logger } from '../../gateway/log.ts'

function logger(): { log: Logger; lines: { msg: string; fields: Record<string, unknown> }[] } {
  const lines: { msg: string; fields: Record<string, unknown> }[] = []
  const rec = (msg: string, fields: Record<string, unknown> = {}) => { lines.push({ msg, fields }) }
  return { log: { debug: rec, info: rec, warn: rec, error: rec } as unknown as Logger, lines }
}

t.test('once quiet after the first load: one collection, the heap committed before and after', async (t) => {
  const { log, lines } = logger()
  const heap = new StartUpHeap({ log, intervalMs: 50, quietShare: 0.9 })
  t.teardown(() => heap.stop())
  heap.settle()
  heap.settle()
  await waitFor(() => lines.some((l) => l.msg === 'start-up heap given back'), { what: 'the compaction' })
  const line = lines.find((l) => l.msg === 'start-up heap given back')!
  t.type(line.fields['committedMbBefore'], 'number')
  t.ok((line.fields['committedMbAfter'] as number) <= (line.fields['committedMbBefore'] as number) + 1)
  t.type((globalThis as { gc?: unknown }).gc, 'undefined', 'gc is not left exposed')
  t.equal(heap.state, 'done')
  heap.settle()
  t.equal(heap.state, 'done', 'a later load does not arm it again')
  t.equal(lines.filter((l) => l.msg === 'start-up heap given back').length, 1, 'only once')
})

t.test('SLUICE_COMPACT_AFTER_START=0: never', async (t) => {
  const { log, lines } = logger()
  process.env.SLUICE_COMPACT_AFTER_START = '0'
  t.teardown(() => { delete process.env.SLUICE_COMPACT_AFTER_START })
  const heap = new StartUpHeap({ log, intervalMs: 20, quietShare: 0.9 })
  t.teardown(() => heap.stop())
  heap.settle()
  t.equal(heap.state, 'idle', 'not armed')
  t.equal(lines.length, 0)
})

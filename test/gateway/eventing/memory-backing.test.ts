// The in-memory backing on its own: fan-out only to triggers whose filter matches, the bound on
// attempts in flight per trigger, the hold counting events (not deliveries), and a table swap that
// keeps a staying trigger's queue and drops a removed trigger's.
import t from 'tap'
import { MemoryBacking } from '../../../gateway/eventing/memory-backing.ts'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, Deliverer } from '../../../gateway/eventing/types.ts'
import { broker, dest, table, trigger } from './helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

const ev = (id: string, type = 't'): CloudEventRecord => ({ attributes: { specversion: '1.0', id, source: '/s', type }, data: null })
const OK: AttemptOutcome = { status: 200, retryable: false, retryAfterMs: null, body: null, reply: null, error: null }

/** A deliverer whose attempts wait until released. */
function holding() {
  const pending: { trigger: string; id: string; release: () => void }[] = []
  const deliverer: Deliverer = {
    attempt: (tr: CompiledTrigger, e: CloudEventRecord) => new Promise((resolve) => pending.push({ trigger: tr.name, id: e.attributes.id!, release: () => resolve(OK) })),
    deadLetter: async () => true,
    reply: async () => true,
  }
  return { pending, deliverer }
}

t.test('filters, concurrency bound, hold per event', async (t) => {
  const { pending, deliverer } = holding()
  const backing = new MemoryBacking({ deliverer, concurrency: 2 })
  const a = trigger('a', dest('http://127.0.0.1:1/'))
  const b = trigger('b', dest('http://127.0.0.1:1/'), { filter: (e) => e.attributes.type === 'only-b' })
  const br = broker('default/default', [a, b])
  await backing.install(table([br], { queueLimit: 5 }))
  for (let i = 0; i < 4; i++) t.equal(backing.accept(br, ev(`e${i}`)), 'accepted')
  t.equal(backing.accept(br, ev('x', 'only-b')), 'accepted')
  t.equal(backing.accept(br, ev('full')), 'full', 'five events held: the sixth is refused')
  t.equal(backing.stats()[0]!.depth, 5)
  await waitFor(() => pending.length === 3, { what: 'two attempts for a, one for b' })
  await new Promise((r) => setImmediate(r))
  t.equal(pending.filter((p) => p.trigger === 'a').length, 2, 'trigger a: at most 2 in flight')
  t.same(pending.filter((p) => p.trigger === 'b').map((p) => p.id), ['x'], 'trigger b only gets its match')
  while (pending.length > 0) {
    pending.shift()!.release()
    await new Promise((r) => setImmediate(r))
  }
  await waitFor(() => backing.stats()[0]!.depth === 0 && pending.length === 0, { what: 'all settled', everyMs: 5 })
  await backing.close()
})

t.test('a table swap keeps a staying trigger\'s queue and drops a removed one\'s', async (t) => {
  const { pending, deliverer } = holding()
  const backing = new MemoryBacking({ deliverer, concurrency: 1 })
  const a = trigger('a', dest('http://127.0.0.1:1/'))
  const b = trigger('b', dest('http://127.0.0.1:1/'))
  await backing.install(table([broker('default/default', [a, b])]))
  const br = broker('default/default', [a, b])
  for (let i = 0; i < 3; i++) backing.accept(br, ev(`e${i}`))
  await waitFor(() => pending.length === 2, { what: 'one attempt per trigger' })
  const a2 = trigger('a', dest('http://127.0.0.1:2/'))
  await backing.install(table([broker('default/default', [a2])]))
  for (const p of pending.splice(0)) p.release()
  // a keeps e1, e2 (now with a2's subscriber); b's queued e1, e2 are dropped.
  const seen: string[] = []
  await waitFor(() => {
    for (const p of pending.splice(0)) { seen.push(`${p.trigger}:${p.id}`); p.release() }
    return backing.stats()[0]!.depth === 0
  }, { what: 'the hold emptied', everyMs: 5 })
  t.same(seen.sort(), ['a:e1', 'a:e2'])
  await backing.install(table([]))
  t.same(backing.stats(), [], 'broker gone')
  await backing.close()
})

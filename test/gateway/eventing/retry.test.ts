// Retry timing of the in-memory backing on an injected clock: the documented formula (linear
// delay·n, exponential delay·2^n from n = 1, as the Kafka and NATS brokers; Knative MT is off by
// one), the backoffMax cap, Retry-After under retryAfterMax, no backoff when the policy is unset,
// and which codes are retried (Knative SelectiveRetry: none, ≥500, 404, 408, 409, 429).
import t from 'tap'
import { MemoryBacking } from '../../../gateway/eventing/memory-backing.ts'
import { isRetryable, parseRetryAfter } from '../../../gateway/eventing/delivery.ts'
import type { AttemptOutcome, CloudEventRecord, CompiledTrigger, DeliverySpec, Deliverer } from '../../../gateway/eventing/types.ts'
import { FakeTimers, broker, dest, table, trigger } from './helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

const EVENT: CloudEventRecord = { attributes: { specversion: '1.0', id: '1', source: '/s', type: 't' }, data: null }

function outcome(status: number, retryAfterMs: number | null = null): AttemptOutcome {
  return { status, retryable: isRetryable(status), retryAfterMs, body: null, reply: null, error: status === 0 ? 'refused' : null }
}

/** A backing whose deliverer answers `status` every time; returns the attempt times and dead letters. */
async function run(spec: Partial<DeliverySpec>, status: number, retryAfterMs: number | null = null) {
  const timers = new FakeTimers()
  const attempts: number[] = []
  const dead: AttemptOutcome[] = []
  const deliverer: Deliverer = {
    attempt: async () => { attempts.push(timers.now()); return outcome(status, retryAfterMs) },
    deadLetter: async (_t: CompiledTrigger, _e: CloudEventRecord, last: AttemptOutcome) => { dead.push(last); return true },
    reply: async () => true,
  }
  const backing = new MemoryBacking({ deliverer, timers })
  const tr = trigger('t', dest('http://127.0.0.1:1/'), { delivery: spec })
  const b = broker('default/default', [tr])
  await backing.install(table([b]))
  t.equal(backing.accept(b, EVENT), 'accepted')
  const waits: number[] = []
  const total = (spec.retry ?? 0) + 1
  for (let n = 1; n <= total; n++) {
    await waitFor(() => attempts.length === n, { what: `attempt ${n}` })
    if (n === total || !isRetryable(status)) break
    await waitFor(() => timers.pending.size === 1, { what: `retry ${n} scheduled` })
    waits.push(timers.delays()[0]!)
    timers.advance(waits.at(-1)!)
  }
  await waitFor(() => dead.length === 1, { what: 'the dead letter' })
  await waitFor(() => backing.stats()[0]!.depth === 0, { what: 'the event settled' })
  await backing.close()
  return { attempts, waits, dead }
}

t.test('linear: delay·n', async (t) => {
  const r = await run({ retry: 3, backoffPolicy: 'linear', backoffDelayMs: 100 }, 500)
  t.same(r.waits, [100, 200, 300])
  t.same(r.attempts, [0, 100, 300, 600])
  t.equal(r.dead[0]!.status, 500)
})

t.test('exponential: delay·2^n', async (t) => {
  const r = await run({ retry: 3, backoffPolicy: 'exponential', backoffDelayMs: 100 }, 503)
  t.same(r.waits, [200, 400, 800])
})

t.test('backoffMax caps the wait', async (t) => {
  const r = await run({ retry: 4, backoffPolicy: 'exponential', backoffDelayMs: 100, backoffMaxMs: 300 }, 500)
  t.same(r.waits, [200, 300, 300, 300])
})

t.test('no policy: retries back to back', async (t) => {
  const r = await run({ retry: 2, backoffPolicy: null, backoffDelayMs: 100 }, 500)
  t.same(r.waits, [0, 0])
})

t.test('Retry-After counts only with retryAfterMax, capped by it', async (t) => {
  t.same((await run({ retry: 1, backoffPolicy: 'linear', backoffDelayMs: 100, retryAfterMaxMs: 5000 }, 503, 2000)).waits, [2000])
  t.same((await run({ retry: 1, backoffPolicy: 'linear', backoffDelayMs: 100, retryAfterMaxMs: 1000 }, 429, 2000)).waits, [1000])
  t.same((await run({ retry: 1, backoffPolicy: 'linear', backoffDelayMs: 100, retryAfterMaxMs: null }, 503, 2000)).waits, [100])
  t.same((await run({ retry: 1, backoffPolicy: 'linear', backoffDelayMs: 3000, retryAfterMaxMs: 5000 }, 503, 2000)).waits, [3000], 'max(backoff, Retry-After)')
})

t.test('which codes are retried', async (t) => {
  for (const code of [0, 404, 408, 409, 429, 500, 502, 503, 504]) {
    const r = await run({ retry: 1 }, code)
    t.equal(r.attempts.length, 2, `${code} retried`)
  }
  for (const code of [300, 301, 400, 401, 403, 405, 410, 413, 422]) {
    const r = await run({ retry: 3 }, code)
    t.equal(r.attempts.length, 1, `${code} not retried, straight to the dead letter`)
    t.equal(r.dead[0]!.status, code)
  }
})

t.test('parseRetryAfter', async (t) => {
  t.equal(parseRetryAfter('3'), 3000)
  t.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000)
  t.equal(parseRetryAfter(new Date(1_000).toUTCString(), 4_000), 0)
  t.equal(parseRetryAfter('soon'), null)
  t.equal(parseRetryAfter(undefined), null)
})

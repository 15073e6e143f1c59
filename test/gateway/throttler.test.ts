// The activator's throttler on its own: slots, balancing policies, the bounded queue, deadlines
// and the concurrency meter, with fake requests (no sockets).
import t from 'tap'
import { RevisionThrottler, type Waiter } from '../../gateway/activator/throttler.ts'
import type { UpstreamInstance } from '../../gateway/activator/upstream-instance.ts'

class FakeRequest implements Waiter {
  done = false
  sentTo: string | null = null
  refused = 0
  readonly arrived: number
  readonly deadline: number
  constructor(arrived: number, deadline = Infinity) {
    this.arrived = arrived
    this.deadline = deadline
  }
  send(instance: UpstreamInstance): void { this.sentTo = instance.id }
  reject(status: 503 | 504): void { this.refused = status; this.done = true }
}

function throttler(cc: number, instances: number, queueDepth = 100) {
  const demands: string[] = []
  const th = new RevisionThrottler('revision/default/r', 'default', 'r', { demand: (x) => demands.push(x.key), waiting: () => {} })
  th.configure(cc, queueDepth, true)
  th.setInstances(Array.from({ length: instances }, (_, i) => ({ id: `i${i}`, origin: `http://127.0.0.1:${10000 + i}`, protocol: 'http1' as const })))
  return { th, demands }
}

function finish(th: RevisionThrottler, r: FakeRequest, now: number): void {
  r.done = true
  th.leave(now, r.sentTo === null ? null : th.instance(r.sentTo)!)
}

t.teardown(() => {})

t.test('cc=1: one request per instance, first available in order, then the queue', async (t) => {
  const { th } = throttler(1, 2)
  const rs = [0, 1, 2, 3].map((i) => new FakeRequest(i))
  for (const r of rs) th.admit(r, r.arrived)
  t.same(rs.map((r) => r.sentTo), ['i0', 'i1', null, null])
  t.equal(th.queue.size, 2)
  finish(th, rs[1], 10)
  t.equal(rs[2].sentTo, 'i1', 'the freed slot goes to the oldest waiting request')
  finish(th, rs[0], 11)
  t.equal(rs[3].sentTo, 'i0')
  t.equal(th.queue.size, 0)
  th.close()
})

t.test('cc>3: round robin over instances with a free slot', async (t) => {
  const { th } = throttler(4, 3)
  const got: string[] = []
  for (let i = 0; i < 6; i++) {
    const r = new FakeRequest(i)
    th.admit(r, i)
    got.push(r.sentTo!)
  }
  t.same(got, ['i0', 'i1', 'i2', 'i0', 'i1', 'i2'])
  th.close()
})

t.test('cc=0: power of two choices prefers the less loaded instance', async (t) => {
  const { th } = throttler(0, 2)
  // Load i0 with 50 requests that never finish, then see where new ones go.
  let toI0 = 0
  for (let i = 0; i < 50; i++) {
    const r = new FakeRequest(i)
    th.admit(r, i)
    if (r.sentTo === 'i1') finish(th, r, i) // i1 stays idle
    else toI0++
  }
  const counts: Record<string, number> = { i0: 0, i1: 0 }
  for (let i = 0; i < 100; i++) {
    const r = new FakeRequest(100 + i)
    th.admit(r, 100 + i)
    counts[r.sentTo!]++
    finish(th, r, 100 + i)
  }
  t.ok(toI0 > 0)
  t.equal(counts.i0, 0, 'with two instances both are compared, and the idle one always wins')
  th.close()
})

t.test('the queue is bounded: overflow is refused with 503', async (t) => {
  const { th } = throttler(1, 1, 2)
  const rs = [0, 1, 2, 3].map((i) => new FakeRequest(i))
  for (const r of rs) th.admit(r, r.arrived)
  t.same(rs.map((r) => r.refused), [0, 0, 0, 503])
  t.equal(th.overflows, 1)
  th.close()
})

t.test('no instance: demand at once; waiting requests expire at their deadline with 504', async (t) => {
  const { th, demands } = throttler(0, 0)
  const a = new FakeRequest(0, 100)
  const b = new FakeRequest(50, 150)
  th.admit(a, 0)
  th.admit(b, 50)
  t.same(demands, ['revision/default/r', 'revision/default/r'])
  t.equal(th.expire(120), 1, 'one still waits')
  t.equal(a.refused, 504)
  t.equal(b.refused, 0)
  th.setInstances([{ id: 'new', origin: 'http://127.0.0.1:10100', protocol: 'http1' }])
  t.equal(b.sentTo, 'new', 'a new instance releases the waiting request at once')
  th.close()
})

t.test('a requeued request goes first; draining instances take no new requests', async (t) => {
  const { th } = throttler(1, 2)
  const first = new FakeRequest(0)
  th.admit(first, 0)
  t.equal(first.sentTo, 'i0')
  void th.instance('i0')!.drain(1000)
  const next = new FakeRequest(1)
  th.admit(next, 1)
  t.equal(next.sentTo, 'i1', 'the draining instance is skipped')
  const waiting = new FakeRequest(2)
  th.admit(waiting, 2)
  t.equal(waiting.sentTo, null)
  const retry = new FakeRequest(3)
  th.requeue(retry)
  finish(th, next, 5)
  t.equal(retry.sentTo, 'i1', 'the requeued request is served before older waiters')
  th.close()
})

t.test('meter: time-weighted concurrency and request count, buffered requests included', async (t) => {
  const { th } = throttler(1, 1)
  th.sample(0)
  const a = new FakeRequest(0)
  const b = new FakeRequest(0)
  th.admit(a, 0) // sent
  th.admit(b, 0) // buffered: still counts
  finish(th, a, 500)
  finish(th, b, 1000)
  // 2 in flight for 0.5 s, 1 for 0.5 s: an average of 1.5 over one second.
  const s = th.sample(1000)
  t.equal(s.requests, 2)
  t.ok(Math.abs(s.concurrency - 1.5) < 1e-9, `average concurrency ${s.concurrency}`)
  t.equal(th.sample(2000).concurrency, 0)
  th.close()
})

// Leader election against the fake API server with the real client-node: client-go's
// leaderelection_test.go tables (tryAcquireOrRenew, release, fast path) replayed with an injected
// clock, the renew deadline, and two real electors that must never lead at the same time.

import t from 'tap'
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node'
import { LeaderElector } from '../../../control/status/leader-election.ts'
import type { LeaderElectionOptions, LeaseClient } from '../../../control/status/leader-election.ts'
import { startFakeApiServer } from '../../fixtures/fake-apiserver.ts'
import type { FakeApiServer } from '../../fixtures/fake-apiserver.ts'
import { waitFor } from '../../fixtures/wait.ts'

const NS = 'foo'
const NAME = 'bar'

/** Timers that run only when the test advances the clock. */
class FakeClock {
  t = Date.parse('2026-01-01T00:00:00Z')
  #timers = new Map<number, { at: number; fn: () => void }>()
  #next = 1
  now = () => this.t
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++
    this.#timers.set(id, { at: this.t + ms, fn })
    return id
  }
  clearTimeout = (id: unknown) => { this.#timers.delete(id as number) }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number) {
    const end = this.t + ms
    for (;;) {
      const due = [...this.#timers].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (!due) break
      this.#timers.delete(due[0])
      this.t = Math.max(this.t, due[1].at)
      due[1].fn()
    }
    this.t = end
  }
}

/** The Lease client, counting calls in flight so a test can wait for the elector to go idle; `hang` holds replaces forever. */
function countingClient(api: CoordinationV1Api) {
  const state = { inflight: 0, hang: false, hung: [] as (() => void)[] }
  const wrap = <A, R>(fn: (a: A) => Promise<R>, hangs = false) => async (a: A): Promise<R> => {
    if (hangs && state.hang) return new Promise<R>((_, reject) => state.hung.push(() => reject(new Error('released by the test'))))
    state.inflight++
    try { return await fn(a) } finally { state.inflight-- }
  }
  const client: LeaseClient = {
    readNamespacedLease: wrap((a) => api.readNamespacedLease(a)),
    createNamespacedLease: wrap((a) => api.createNamespacedLease(a)),
    replaceNamespacedLease: wrap((a) => api.replaceNamespacedLease(a), true),
  } as LeaseClient
  return { client, state }
}

async function setup(t: { teardown(fn: () => unknown): void }) {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const kc = new KubeConfig()
  kc.loadFromFile(api.kubeconfig())
  const coord = kc.makeApiClient(CoordinationV1Api)
  return { api, coord }
}

function lease(spec: Record<string, unknown> | undefined) {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NAME, namespace: NS }, ...(spec ? { spec } : {}) }
}

const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z')
const leaseOps = (api: FakeApiServer) => api.requestsFor({ resource: 'leases' }).map((r) => r.verb)
const stored = (api: FakeApiServer) => api.get('coordination.k8s.io/v1', 'Lease', NS, NAME)?.spec as { holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number } | undefined

function elector(client: LeaseClient, clock: FakeClock, extra: Partial<LeaderElectionOptions> = {}) {
  const events: string[] = []
  const le = new LeaderElector({
    client, namespace: NS, name: NAME, identity: 'baz',
    leaseDurationMs: 10_000, renewDeadlineMs: 5_000, retryPeriodMs: 1_000,
    now: clock.now, timers: clock, random: () => 0,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
    onNewLeader: (id) => events.push(`leader ${id}`),
    ...extra,
  })
  return { le, events }
}

// client-go: testTryAcquireOrRenew. Each case: the Lease on the server, how many tries (with a clock
// step between), the expected outcome, the API verbs used, and whether the leader transitioned.
const cases: { name: string; lease?: ReturnType<typeof lease>; retryAfterMs?: number; success: boolean; ops: string[]; transitions: number; holder: string }[] = [
  { name: 'acquire from no object', success: true, ops: ['get', 'create'], transitions: 0, holder: 'baz' },
  { name: 'acquire from object without annotations', lease: lease(undefined), success: true, ops: ['get', 'update'], transitions: 1, holder: 'baz' },
  { name: 'acquire from led object with the lease duration seconds', lease: lease({ holderIdentity: 'bing', leaseDurationSeconds: 3 }), retryAfterMs: 3_000, success: true, ops: ['get', 'get', 'update'], transitions: 1, holder: 'baz' },
  { name: 'acquire from unled object', lease: lease({}), success: true, ops: ['get', 'update'], transitions: 1, holder: 'baz' },
  // client-go seeds an old observedTime; here the record carries no duration, so it is expired as soon as seen
  { name: 'acquire from led, unacked object', lease: lease({ holderIdentity: 'bing' }), success: true, ops: ['get', 'update'], transitions: 1, holder: 'baz' },
  { name: 'acquire from empty led, acked object', lease: lease({ holderIdentity: '', leaseDurationSeconds: 10 }), success: true, ops: ['get', 'update'], transitions: 1, holder: 'baz' },
  { name: "don't acquire from led, acked object", lease: lease({ holderIdentity: 'bing', leaseDurationSeconds: 10 }), success: false, ops: ['get'], transitions: 0, holder: 'bing' },
  { name: 'renew already acquired object', lease: lease({ holderIdentity: 'baz', leaseDurationSeconds: 10 }), success: true, ops: ['get', 'update'], transitions: 0, holder: 'baz' },
]

for (const c of cases) {
  t.test(`tryAcquireOrRenew: ${c.name}`, async (t) => {
    const { api, coord } = await setup(t)
    const clock = new FakeClock()
    if (c.lease) api.apply(c.lease)
    const { le } = elector(coord, clock)
    let ok = await le.tryAcquireOrRenew()
    if (ok !== c.success && c.retryAfterMs) {
      clock.advance(c.retryAfterMs)
      ok = await le.tryAcquireOrRenew()
    }
    t.equal(ok, c.success)
    t.equal(le.leader, c.holder, 'observed holder')
    t.same(leaseOps(api), c.ops, 'API interactions')
    t.equal(le.observed.record.leaderTransitions, c.transitions, 'leader transitions')
    if (c.success) {
      t.equal(stored(api)?.holderIdentity, 'baz')
      t.equal(stored(api)?.leaseTransitions, c.transitions)
      t.equal(stored(api)?.leaseDurationSeconds, 10)
    }
  })
}

t.test('expiry is judged by the observer\'s clock since the record last changed, not by the remote renewTime', async (t) => {
  const { api, coord } = await setup(t)
  const clock = new FakeClock()
  // renewTime far in the past (a skewed holder clock): still valid, because we just saw it
  api.apply(lease({ holderIdentity: 'bing', leaseDurationSeconds: 10, renewTime: micro(Date.parse('2000-01-01T00:00:00Z')) }))
  const { le } = elector(coord, clock)
  t.equal(await le.tryAcquireOrRenew(), false)
  clock.advance(6_000)
  // bing renews (the record changes): the 10 s start again from when we see it
  api.apply(lease({ holderIdentity: 'bing', leaseDurationSeconds: 10, renewTime: micro(Date.parse('2000-01-01T00:00:06Z')) }))
  t.equal(await le.tryAcquireOrRenew(), false)
  clock.advance(9_999)
  t.equal(await le.tryAcquireOrRenew(), false, 'unchanged for 9.999 s')
  clock.advance(1)
  t.equal(await le.tryAcquireOrRenew(), true, 'unchanged for 10 s: expired')
  t.equal(stored(api)?.leaseTransitions, 1)
})

t.test('a renewTime in the future does not keep a dead holder in office', async (t) => {
  const { api, coord } = await setup(t)
  const clock = new FakeClock()
  api.apply(lease({ holderIdentity: 'bing', leaseDurationSeconds: 10, renewTime: micro(Date.parse('2100-01-01T00:00:00Z')) }))
  const { le } = elector(coord, clock)
  t.equal(await le.tryAcquireOrRenew(), false)
  clock.advance(10_000)
  t.equal(await le.tryAcquireOrRenew(), true)
})

/** Waits until no Lease call is in flight and the elector's continuations have run (it then waits on a timer). */
async function idle(state: { inflight: number }) {
  for (let i = 0; i < 3; i++) {
    await waitFor(() => state.inflight === 0, { what: 'no Lease call in flight' })
    await new Promise((r) => setImmediate(r))
  }
}

async function step(clock: FakeClock, state: { inflight: number }, ms: number, by = 100) {
  for (let done = 0; done < ms; done += by) {
    clock.advance(Math.min(by, ms - done))
    await idle(state)
  }
}

// client-go: TestFastPathLeaderElection
t.test('fast path: renewals update without reading first', async (t) => {
  const { api, coord } = await setup(t)
  const clock = new FakeClock()
  const { client, state } = countingClient(coord)
  const { le, events } = elector(client, clock, { leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 1_000 })
  le.start()
  await waitFor(() => le.isLeader(), { what: 'leading' })
  await idle(state)
  await step(clock, state, 1_000)
  t.same(leaseOps(api), ['get', 'create', 'update', 'update'])
  t.same(events, ['leader baz', 'started'])
  await le.stop()
  t.same(events, ['leader baz', 'started', 'stopped'])
})

t.test('fast path: a conflict falls back to the slow path (get, update)', async (t) => {
  const { api, coord } = await setup(t)
  const clock = new FakeClock()
  const { client, state } = countingClient(coord)
  const { le } = elector(client, clock, { leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 1_000 })
  le.start()
  await waitFor(() => le.isLeader(), { what: 'leading' })
  await idle(state)
  api.failNext({ method: 'PUT', pathIncludes: '/leases/', status: 409 })
  await step(clock, state, 1_000)
  await step(clock, state, 1_000)
  t.same(leaseOps(api), ['get', 'create', 'update', 'update', 'get', 'update', 'update'])
  t.ok(le.isLeader())
  await le.stop()
})

t.test('renewals failing for renewDeadline end leadership, then it campaigns again', async (t) => {
  const { api, coord } = await setup(t)
  const clock = new FakeClock()
  const { client, state } = countingClient(coord)
  const { le, events } = elector(client, clock)
  le.start()
  await waitFor(() => le.isLeader(), { what: 'leading' })
  await idle(state)
  api.failNext({ method: 'PUT', pathIncludes: '/leases/', status: 500, count: 1000 })
  await step(clock, state, 1_000) // the renewal poll starts: deadline in 5 s
  await step(clock, state, 4_900)
  t.ok(le.isLeader(), 'still leading just before renewDeadline')
  await step(clock, state, 100)
  t.notOk(le.isLeader(), 'gave up at renewDeadline')
  t.same(events, ['leader baz', 'started', 'stopped'])
  // the server recovers: the lease still names us, so we lead again
  api.clearFailures()
  await step(clock, state, 2_000)
  t.ok(le.isLeader(), 'leads again')
  t.same(events, ['leader baz', 'started', 'stopped', 'started'])
  await le.stop()
})

t.test('a renewal that hangs does not extend leadership past renewDeadline', async (t) => {
  const { coord } = await setup(t)
  const clock = new FakeClock()
  const { client, state } = countingClient(coord)
  const { le, events } = elector(client, clock)
  le.start()
  await waitFor(() => le.isLeader(), { what: 'leading' })
  await idle(state)
  state.hang = true
  await step(clock, state, 1_000 + 4_900)
  t.ok(le.isLeader())
  clock.advance(100)
  t.notOk(le.isLeader(), 'onStoppedLeading at the deadline, with the request still in flight')
  t.same(events.at(-1), 'stopped')
  state.hang = false
  for (const release of state.hung) release()
  await le.stop()
})

// client-go: testReleaseLease / ReleaseOnCancel
t.test('stop({ release }) empties holderIdentity; another candidate takes over at once', async (t) => {
  const { api, coord } = await setup(t)
  const clock = new FakeClock()
  const { client, state } = countingClient(coord)
  const { le, events } = elector(client, clock)
  le.start()
  await waitFor(() => le.isLeader(), { what: 'leading' })
  await idle(state)
  await le.stop({ release: true })
  t.same(events, ['leader baz', 'started', 'stopped', 'leader '])
  t.equal(stored(api)?.holderIdentity, '')
  t.equal(stored(api)?.leaseDurationSeconds, 1)
  t.same(leaseOps(api).slice(-2), ['get', 'update'])
  const other = elector(coord, clock, { identity: 'qux' })
  t.equal(await other.le.tryAcquireOrRenew(), true)
  t.equal(stored(api)?.leaseTransitions, 1)
})

t.test('options are checked as client-go does', async (t) => {
  const clock = new FakeClock()
  const client = {} as LeaseClient
  t.throws(() => elector(client, clock, { identity: '' }), /identity is empty/)
  t.throws(() => elector(client, clock, { leaseDurationMs: 5_000, renewDeadlineMs: 5_000 }), /leaseDurationMs \(5000\) must be greater than renewDeadlineMs/)
  t.throws(() => elector(client, clock, { renewDeadlineMs: 1_200, retryPeriodMs: 1_000 }), /renewDeadlineMs \(1200\) must be greater than 1.2/)
  t.doesNotThrow(() => new LeaderElector({ client, namespace: NS, name: NAME, identity: 'x' }), 'defaults 15 s / 10 s / 2 s are valid')
})

t.test('two electors on real timers: exactly one leads; the other takes over after the lease when the leader stops', async (t) => {
  const { api, coord } = await setup(t)
  const make = (identity: string) => {
    const counts = { started: 0, stopped: 0, leaders: [] as string[] }
    const le = new LeaderElector({
      client: coord, namespace: NS, name: NAME, identity,
      leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100,
      onStartedLeading: () => counts.started++,
      onStoppedLeading: () => counts.stopped++,
      onNewLeader: (id) => counts.leaders.push(id),
    })
    return { le, counts }
  }
  const a = make('a')
  const b = make('b')
  let both = 0
  const sampler = setInterval(() => { if (a.le.isLeader() && b.le.isLeader()) both++ }, 2)
  t.teardown(() => clearInterval(sampler))
  a.le.start()
  b.le.start()
  const first = await waitFor(() => (a.le.isLeader() ? a : b.le.isLeader() ? b : undefined), { what: 'a leader' })
  const second = first === a ? b : a
  // hold office for a few renewals
  const renewals = api.requestsFor({ verb: 'update' }).length
  await waitFor(() => api.requestsFor({ verb: 'update' }).length >= renewals + 5, { what: 'five renewals' })
  t.ok(first.le.isLeader())
  t.notOk(second.le.isLeader())
  const stoppedAt = performance.now()
  await first.le.stop() // no release: the other must wait out the lease
  await waitFor(() => second.le.isLeader(), { what: 'the other to take over', timeoutMs: 10_000 })
  const took = performance.now() - stoppedAt
  t.ok(took >= 700, `took over after the lease expired by the observer's clock (${Math.round(took)} ms)`)
  t.equal(both, 0, 'never both leaders at once')
  t.same([first.counts.started, first.counts.stopped], [1, 1])
  t.same([second.counts.started, second.counts.stopped], [1, 0])
  t.same(second.counts.leaders, [first.le === a.le ? 'a' : 'b', first.le === a.le ? 'b' : 'a'])
  t.equal(stored(api)?.leaseTransitions, 1)
  await second.le.stop({ release: true })
  t.equal(stored(api)?.holderIdentity, '')
})

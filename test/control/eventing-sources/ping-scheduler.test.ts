// The PingSource scheduler with an injected clock: cron in a time zone across DST, seconds, descriptors, jitter, re-planning.
import t from 'tap'
import { PingScheduler, type ScheduledJob } from '../../../control/eventing-sources/ping-scheduler.ts'
import { FakeClock } from './helpers.ts'

const iso = (ms: number[]): string[] => ms.map((m) => new Date(m).toISOString())
const at = (s: string): number => Date.parse(s)

t.test('cron in a time zone: next fire times across DST changes', async (t) => {
  // Europe/Paris springs forward 2026-03-29 02:00 → 03:00 and falls back 2026-10-25 03:00 → 02:00.
  t.same(iso(PingScheduler.upcoming('0 9 * * *', 'Europe/Paris', at('2026-03-27T12:00:00Z'), 4)), [
    '2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z', '2026-03-31T07:00:00.000Z',
  ], '09:00 local moves from 08:00Z (CET) to 07:00Z (CEST)')
  t.same(iso(PingScheduler.upcoming('0 9 * * *', 'Europe/Paris', at('2026-10-23T12:00:00Z'), 3)), [
    '2026-10-24T07:00:00.000Z', '2026-10-25T08:00:00.000Z', '2026-10-26T08:00:00.000Z',
  ])
  t.same(iso(PingScheduler.upcoming('0 9 * * *', 'America/New_York', at('2026-03-07T00:00:00Z'), 3)), [
    '2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z',
  ])
  // A time inside the spring-forward gap: croner fires at the end of the gap (03:00 local).
  t.same(iso(PingScheduler.upcoming('30 2 * * *', 'Europe/Paris', at('2026-03-28T12:00:00Z'), 2)), [
    '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z',
  ])
  // A time repeated by the fall-back: fired once, at its first occurrence.
  t.same(iso(PingScheduler.upcoming('30 2 * * *', 'Europe/Paris', at('2026-10-24T12:00:00Z'), 2)), [
    '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z',
  ])
  t.same(iso(PingScheduler.upcoming('0 0 * * *', undefined, at('2026-01-01T10:00:00Z'), 1)), ['2026-01-02T00:00:00.000Z'], 'no timezone: UTC')
})

t.test('robfig syntax: optional seconds field, descriptors, names, day-of-month OR day-of-week', async (t) => {
  const from = at('2026-01-01T00:00:00Z')
  t.same(iso(PingScheduler.upcoming('*/20 * * * * *', undefined, from, 3)), ['2026-01-01T00:00:20.000Z', '2026-01-01T00:00:40.000Z', '2026-01-01T00:01:00.000Z'])
  t.same(iso(PingScheduler.upcoming('@hourly', undefined, from, 2)), ['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z'])
  t.same(iso(PingScheduler.upcoming('@daily', undefined, from, 1)), ['2026-01-02T00:00:00.000Z'])
  t.same(iso(PingScheduler.upcoming('@weekly', undefined, from, 1)), ['2026-01-04T00:00:00.000Z'], 'Sunday midnight')
  t.same(iso(PingScheduler.upcoming('@monthly', undefined, from, 1)), ['2026-02-01T00:00:00.000Z'])
  t.same(iso(PingScheduler.upcoming('0 12 * JAN MON-FRI', undefined, from, 2)), ['2026-01-01T12:00:00.000Z', '2026-01-02T12:00:00.000Z'])
  // both restricted: either matches (Vixie cron, robfig/cron)
  t.same(iso(PingScheduler.upcoming('0 0 1 * MON', undefined, at('2026-01-20T00:00:00Z'), 3)), ['2026-01-26T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '2026-02-02T00:00:00.000Z'])
})

function harness(jitter = () => 0) {
  const clock = new FakeClock(at('2026-01-01T00:00:00Z'))
  const fired: { key: string; scheduledAt: string; firedAt: number; payload: string }[] = []
  const s = new PingScheduler<string>({ clock, random: jitter, fire: (job, scheduledAt) => fired.push({ key: job.key, scheduledAt: new Date(scheduledAt).toISOString(), firedAt: clock.now(), payload: job.payload }) })
  return { clock, fired, s }
}
const job = (schedule: string, payload = 'p', timezone?: string): ScheduledJob<string> => ({ key: 'default/tick', schedule, payload, ...(timezone ? { timezone } : {}) })

t.test('fires every minute on the minute', async (t) => {
  const { clock, fired, s } = harness()
  s.set([job('* * * * *')])
  clock.advanceTo(at('2026-01-01T00:03:30Z'))
  t.same(fired.map((f) => f.scheduledAt), ['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z'])
  s.stop()
  clock.advanceTo(at('2026-01-01T00:10:00Z'))
  t.equal(fired.length, 3, 'nothing after stop')
  t.equal(clock.timers.size, 0)
})

t.test('jitter: each tick is sent 0–500 ms after its cron time', async (t) => {
  let r = 0
  const draws = [0, 0.5, 0.999]
  const { clock, fired, s } = harness(() => draws[r++ % draws.length]!)
  s.set([job('* * * * *')])
  clock.advanceTo(at('2026-01-01T00:03:30Z'))
  t.same(fired.map((f) => f.firedAt - Date.parse(f.scheduledAt)), [0, 250, 499])
  for (const f of fired) t.ok(f.firedAt - Date.parse(f.scheduledAt) < 500)
  s.stop()
})

t.test('re-planning: unchanged schedules keep their tick, changed ones never fire twice', async (t) => {
  const { clock, fired, s } = harness(() => 0.5)
  s.set([job('* * * * *', 'v1')])
  clock.advanceTo(at('2026-01-01T00:01:00.100Z')) // in the 250 ms jitter wait of the 00:01 tick
  s.set([job('* * * * *', 'v2')])
  s.set([job('* * * * *', 'v2')])
  clock.advanceTo(at('2026-01-01T00:01:30Z'))
  t.same(fired.map((f) => [f.scheduledAt, f.payload]), [['2026-01-01T00:01:00.000Z', 'v2']], 'one tick, with the newest payload')
  // a schedule change right after a tick: the new schedule starts after it, not at it
  s.set([job('*/30 * * * * *', 'v3')])
  clock.advanceTo(at('2026-01-01T00:02:30.400Z'))
  t.same(fired.map((f) => f.scheduledAt), ['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:02:30.000Z'])
  // changed during a jitter wait: that tick still fires once, then the new schedule
  clock.advanceTo(at('2026-01-01T00:03:00.100Z'))
  s.set([job('0 * * * * *', 'v4')])
  clock.advanceTo(at('2026-01-01T00:04:00.300Z'))
  t.same(fired.slice(3).map((f) => [f.scheduledAt, f.payload]), [['2026-01-01T00:03:00.000Z', 'v4'], ['2026-01-01T00:04:00.000Z', 'v4']])
  s.set([])
  t.equal(s.size, 0)
  t.equal(clock.timers.size, 0, 'removed: its timer is gone')
})

t.test('a far tick is armed in pieces below the 2^31 ms timer limit', async (t) => {
  const { clock, fired, s } = harness()
  s.set([job('0 0 1 1 *')]) // next new year: ~365 days away
  clock.advanceTo(at('2026-12-31T23:59:59Z'))
  t.equal(fired.length, 0)
  clock.advanceTo(at('2027-01-01T00:00:01Z'))
  t.same(fired.map((f) => f.scheduledAt), ['2027-01-01T00:00:00.000Z'])
  s.stop()
})

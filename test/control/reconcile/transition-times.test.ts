// Conditions keep their lastTransitionTime until their status changes (knative.dev/pkg's
// ConditionSet), so `sluice get`'s AGE and `describe` show when something last changed, not when
// Sluice last looked. Reconciled twice with a clock that moved.
import t from 'tap'
import type { Condition } from '../../../control/resources/types.ts'
import { reconcile, type ReconcileOutput } from '../../../control/reconcile/index.ts'
import { keepTransitionTimes } from '../../../control/reconcile/status.ts'
import { cond, find, resources, service, settings } from '../fixtures.ts'
import { emptyState } from '../../../control/state.ts'

const T1 = new Date('2026-03-01T12:00:00Z')
const T2 = new Date('2026-03-01T12:05:00Z')
const T3 = new Date('2026-03-01T12:10:00Z')

function pass(svc: ReturnType<typeof service>, now: Date, before?: ReconcileOutput): ReconcileOutput {
  return reconcile({
    resources: resources({ services: [svc] }), settings: settings(), now,
    state: before?.state ?? emptyState(), ...(before !== undefined ? { previous: before.objects } : {}),
  })
}

const times = (out: ReconcileOutput): Map<string, string | undefined> => {
  const m = new Map<string, string | undefined>()
  for (const o of out.objects) {
    for (const c of (o.status?.conditions ?? []) as Condition[]) m.set(`${o.kind}/${o.metadata.name}/${c.type}`, c.lastTransitionTime)
  }
  return m
}

t.test('an unchanged status keeps its time; a changed one moves', async (t) => {
  const first = pass(service('hello'), T1)
  const second = pass(service('hello'), T2, first)
  const all = times(second)
  t.ok(all.size >= 15, `${all.size} conditions`)
  for (const [k, v] of all) t.equal(v, '2026-03-01T12:00:00Z', `${k} keeps T1`)
  t.same(times(pass(service('hello'), T2)).get('Service/hello/Ready'), '2026-03-01T12:05:00Z', 'without the previous pass: now')

  // The template changes and its new revision cannot run: Configuration and Service go False now,
  // while the Route keeps serving hello-00001 and its conditions keep T1.
  const third = pass(service('hello', { upstream: null }), T3, second)
  const svc = find(third, 'Service', 'hello')
  t.match(cond(svc, 'Ready'), { status: 'False', lastTransitionTime: '2026-03-01T12:10:00Z' })
  t.match(cond(svc, 'ConfigurationsReady'), { status: 'False', lastTransitionTime: '2026-03-01T12:10:00Z' })
  t.match(cond(svc, 'RoutesReady'), { status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' })
  t.match(cond(find(third, 'Configuration', 'hello'), 'Ready'), { status: 'False', lastTransitionTime: '2026-03-01T12:10:00Z' })
  t.match(cond(find(third, 'Route', 'hello'), 'Ready'), { status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' })
  t.match(cond(find(third, 'Revision', 'hello-00001'), 'Ready'), { status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' })
  t.match(cond(find(third, 'Revision', 'hello-00002'), 'Ready'), { status: 'False', lastTransitionTime: '2026-03-01T12:10:00Z' })
  t.match(cond(find(third, 'Ingress', 'hello'), 'Ready'), { status: 'True', lastTransitionTime: '2026-03-01T12:00:00Z' })
})

t.test('keepTransitionTimes: status decides, reason and message do not', async (t) => {
  const prev: Condition[] = [
    { type: 'Active', status: 'False', reason: 'NoTraffic', lastTransitionTime: 'T1' },
    { type: 'Ready', status: 'True', lastTransitionTime: 'T1' },
  ]
  const next: Condition[] = [
    { type: 'Active', status: 'False', reason: 'Queued', message: 'waiting', lastTransitionTime: 'T2' },
    { type: 'Ready', status: 'Unknown', reason: 'Deploying', lastTransitionTime: 'T2' },
  ]
  t.same(keepTransitionTimes(next, prev), [
    { type: 'Active', status: 'False', reason: 'Queued', message: 'waiting', lastTransitionTime: 'T1' },
    { type: 'Ready', status: 'Unknown', reason: 'Deploying', lastTransitionTime: 'T2' },
  ])
  t.equal(keepTransitionTimes(next, undefined), next, 'nothing before: next as it is')
  const same = [{ ...prev[0]!, lastTransitionTime: 'T2' }, { ...prev[1]!, lastTransitionTime: 'T2' }]
  t.equal(keepTransitionTimes(same, prev), prev, 'equal to the previous: the previous array itself (caches compare by reference)')
  t.equal(keepTransitionTimes(prev, prev), prev)
})

import t from 'tap'
import { cond, configuration, find, names, revision, run, service, sr, NOW } from '../fixtures.ts'
import { childName, revisionNameFor } from '../../../control/reconcile/names.ts'

t.test('kmeta.ChildName: Knative test vectors', async (t) => {
  t.equal(childName('asdf', '-deployment'), 'asdf-deployment')
  t.equal(childName('f'.repeat(63), '-deployment'), 'ffffffffffffffffffff105d7597f637e83cc711605ac3ea4957-deployment')
  t.equal(childName('f'.repeat(63), '-deploy'), 'ffffffffffffffffffffffff105d7597f637e83cc711605ac3ea4957-deploy')
  t.equal(childName('f'.repeat(52), '-deployment'), 'f'.repeat(52) + '-deployment')
  t.equal(revisionNameFor('hello', 1), 'hello-00001')
  t.equal(revisionNameFor('hello', 123456), 'hello-123456')
  const long = 'a'.repeat(60)
  const n = revisionNameFor(long, 2)
  t.equal(n.length, 63)
  t.match(n, /^a{25}[0-9a-f]{32}-00002$/)
  // suffix too long to keep a parent prefix: the whole thing is hashed, still ≤ 63
  const weird = childName('parent', '-' + 'x'.repeat(40))
  t.ok(weird.length <= 63)
})

t.test('first reconcile creates <config>-00001 with Knative labels', async (t) => {
  const out = run({ services: [service('hello', { labels: { team: 'a' }, annotations: { note: 'n' } })] })
  t.same(names(out, 'Revision'), ['hello-00001'])
  const rev = find(out, 'Revision', 'hello-00001')
  t.match(rev.metadata.labels, {
    'serving.knative.dev/configuration': 'hello',
    'serving.knative.dev/service': 'hello',
    'serving.knative.dev/configurationGeneration': '1',
  })
  t.equal(rev.metadata.creationTimestamp, '2026-03-01T12:00:00Z')
  const cfg = find(out, 'Configuration', 'hello')
  t.match(cfg.metadata.labels, { team: 'a', 'serving.knative.dev/service': 'hello' })
  t.match(cfg.status, { observedGeneration: 1, latestCreatedRevisionName: 'hello-00001', latestReadyRevisionName: 'hello-00001' })
  t.same(sr(cfg, 'Ready'), { status: 'True', reason: undefined })
  t.same(out.state.configurations['default/hello']?.revisions.map((r) => r.name), ['hello-00001'])
})

t.test('template labels and annotations propagate to the revision; spec gets defaults', async (t) => {
  const out = run({ services: [service('hello', { labels: { svc: 'only' }, annotations: { x: 'y' } })] })
  const out2 = run({ services: [service('hello', { templateLabels: { tier: 'web' }, templateAnnotations: { 'autoscaling.knative.dev/min-scale': '1' } })] })
  const rev = find(out2, 'Revision', 'hello-00001')
  t.equal(rev.metadata.labels.tier, 'web')
  t.equal(rev.metadata.annotations['autoscaling.knative.dev/min-scale'], '1')
  t.equal(rev.metadata.annotations['sluice.dev/upstream'], 'http://127.0.0.1:9001')
  t.match(rev.spec, { timeoutSeconds: 300, containerConcurrency: 0 })
  t.notOk('responseStartTimeoutSeconds' in (rev.spec as object), 'response-start default (300) is not below the timeout')
  // service-level labels are not revision labels
  t.notOk('svc' in find(out, 'Revision', 'hello-00001').metadata.labels)
})

t.test('a new revision only when the template changes', async (t) => {
  const first = run({ services: [service('hello', { env: 'v1' })] })
  // traffic-only change: same template → same generation, no new revision
  const trafficOnly = run({ services: [service('hello', { env: 'v1', traffic: [{ latestRevision: true, percent: 100, tag: 'current' }] })] }, { state: first.state })
  t.same(names(trafficOnly, 'Revision'), ['hello-00001'])
  t.equal(trafficOnly.state.configurations['default/hello']?.generation, 1)
  t.same(trafficOnly.state, first.state, 'state unchanged by a traffic-only change')

  const second = run({ services: [service('hello', { env: 'v2' })] }, { state: trafficOnly.state, now: new Date(NOW.getTime() + 60_000) })
  t.same(names(second, 'Revision'), ['hello-00001', 'hello-00002'])
  const cfg = find(second, 'Configuration', 'hello')
  t.match(cfg.status, { observedGeneration: 2, latestCreatedRevisionName: 'hello-00002', latestReadyRevisionName: 'hello-00002' })
  t.equal(find(second, 'Revision', 'hello-00002').metadata.labels['serving.knative.dev/configurationGeneration'], '2')
  t.equal(find(second, 'Revision', 'hello-00001').metadata.creationTimestamp, '2026-03-01T12:00:00Z', 'old revision keeps its creation time')

  // reverting the template is a change too: generation 3, not back to 00001
  const third = run({ services: [service('hello', { env: 'v1' })] }, { state: second.state })
  t.same(names(third, 'Revision'), ['hello-00001', 'hello-00002', 'hello-00003'])
  // reconciling again with the same input is stable
  const again = run({ services: [service('hello', { env: 'v1' })] }, { state: third.state })
  t.same(again.state, third.state)
})

t.test('old revisions stay routable by name', async (t) => {
  const s1 = run({ services: [service('hello', { env: 'v1' })] })
  const s2 = run({
    services: [service('hello', { env: 'v2', traffic: [{ revisionName: 'hello-00001', latestRevision: false, percent: 50 }, { latestRevision: true, percent: 50 }] })],
  }, { state: s1.state })
  t.same(sr(find(s2, 'Route', 'hello'), 'AllTrafficAssigned'), { status: 'True', reason: undefined })
  t.same((find(s2, 'Route', 'hello').status.traffic as unknown[]).length, 2)
})

t.test('BYO revision names', async (t) => {
  const out = run({ services: [service('hello', { name: 'hello-first' })] })
  t.same(names(out, 'Revision'), ['hello-first'])
  t.match(find(out, 'Configuration', 'hello').status, { latestCreatedRevisionName: 'hello-first', latestReadyRevisionName: 'hello-first' })

  const next = run({ services: [service('hello', { name: 'hello-second', env: 'x' })] }, { state: out.state })
  t.same(names(next, 'Revision'), ['hello-first', 'hello-second'])
  t.equal(find(next, 'Revision', 'hello-second').metadata.labels['serving.knative.dev/configurationGeneration'], '2')

  // template changed but the name did not: Knative refuses to create it, traffic stays
  const same = run({ services: [service('hello', { name: 'hello-second', env: 'y' })] }, { state: next.state })
  const cfg = find(same, 'Configuration', 'hello')
  t.same(sr(cfg, 'Ready'), { status: 'False', reason: 'RevisionFailed' })
  t.match(cfg.status, { latestCreatedRevisionName: 'hello-second', latestReadyRevisionName: 'hello-second' })
  t.match((cfg.status.conditions as { message: string }[])[0]!.message, /already exists/)
  t.match(find(same, 'Service', 'hello').status, { traffic: [{ revisionName: 'hello-second', percent: 100 }] })

  // the name must start with the parent's name
  const bad = run({ services: [service('hello', { name: 'other-name' })] })
  t.same(sr(find(bad, 'Configuration', 'hello'), 'Ready'), { status: 'False', reason: 'RevisionFailed' })
  t.same(names(bad, 'Revision'), [])
  t.same(sr(find(bad, 'Route', 'hello'), 'AllTrafficAssigned'), { status: 'False', reason: 'RevisionMissing' })
})

t.test('latest ready only moves forward: a failing new revision keeps traffic on the old one', async (t) => {
  const good = run({ services: [service('hello')] })
  // the new template has no upstream and no command: revision 00002 fails (NoUpstream)
  const broken = run({ services: [service('hello', { upstream: null })] }, { state: good.state })
  t.same(names(broken, 'Revision'), ['hello-00001', 'hello-00002'])
  t.same(sr(find(broken, 'Revision', 'hello-00002'), 'Ready'), { status: 'False', reason: 'NoUpstream' })
  const cfg = find(broken, 'Configuration', 'hello')
  t.match(cfg.status, { latestCreatedRevisionName: 'hello-00002', latestReadyRevisionName: 'hello-00001' })
  t.same(sr(cfg, 'Ready'), { status: 'False', reason: 'RevisionFailed' })
  t.match(cond(cfg, 'Ready')?.message, /Revision "hello-00002" failed with message: .*sluice\.dev\/upstream/)
  const svc = find(broken, 'Service', 'hello')
  t.same(sr(svc, 'ConfigurationsReady'), { status: 'False', reason: 'RevisionFailed' })
  t.same(sr(svc, 'Ready'), { status: 'False', reason: 'RevisionFailed' })
  t.match(svc.status, { latestReadyRevisionName: 'hello-00001', latestCreatedRevisionName: 'hello-00002' })
  t.same(find(broken, 'Route', 'hello').status.traffic, [{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }])
  t.same(broken.model.ingresses[0]!.rules[0]!.paths[0]!.splits.map((s) => s.backend), ['revision/default/hello-00001'])

  // a still-deploying revision (command, no runtime yet) also keeps the old one, with Ready Unknown
  const deploying = run({ services: [service('hello', { upstream: null, command: ['node', 'server.js'] })] }, { state: broken.state })
  const cfg3 = find(deploying, 'Configuration', 'hello')
  t.match(cfg3.status, { latestCreatedRevisionName: 'hello-00003', latestReadyRevisionName: 'hello-00001' })
  t.same(sr(cfg3, 'Ready'), { status: 'Unknown', reason: 'Deploying' })

  // fixed: 00004 is ready and takes over
  const fixed = run({ services: [service('hello', { env: 'fixed' })] }, { state: deploying.state })
  t.match(find(fixed, 'Configuration', 'hello').status, { latestCreatedRevisionName: 'hello-00004', latestReadyRevisionName: 'hello-00004' })
})

t.test('no ready revision at all: Route waits with RevisionMissing', async (t) => {
  const out = run({ services: [service('hello', { upstream: null })] })
  const r = find(out, 'Route', 'hello')
  t.same(sr(r, 'AllTrafficAssigned'), { status: 'False', reason: 'RevisionMissing' })
  t.match(cond(r, 'AllTrafficAssigned')?.message, 'Configuration "hello" does not have any ready Revision.')
  t.same(out.model.ingresses, [])
  const pending = run({ services: [service('hello', { upstream: null, command: ['./run'] })] })
  t.same(sr(find(pending, 'Route', 'hello'), 'AllTrafficAssigned'), { status: 'Unknown', reason: 'RevisionMissing' })
})

t.test('declared Revisions labelled for a configuration are its revisions', async (t) => {
  const cfg = configuration('web', { name: 'web-blue' })
  const blue = revision('web-blue', { labels: { 'serving.knative.dev/configuration': 'web' } })
  const out = run({ configurations: [cfg], revisions: [blue] })
  t.same(names(out, 'Revision'), ['web-blue'])
  t.same(out.state.configurations['default/web']?.revisions, [], 'declared revisions are not remembered')
  t.match(find(out, 'Configuration', 'web').status, { latestCreatedRevisionName: 'web-blue', latestReadyRevisionName: 'web-blue' })

  // an unlabelled declared revision with a generated name blocks creation instead
  const clash = run({ configurations: [configuration('api')], revisions: [revision('api-00001')] })
  t.same(sr(find(clash, 'Configuration', 'api'), 'Ready'), { status: 'False', reason: 'RevisionFailed' })
})

t.test('state is dropped for configurations that no longer exist; history is bounded', async (t) => {
  let out = run({ services: [service('a'), service('b')] })
  out = run({ services: [service('a')] }, { state: out.state })
  t.same(Object.keys(out.state.configurations), ['default/a'])
  for (let i = 0; i < 25; i++) out = run({ services: [service('a', { env: String(i) })] }, { state: out.state })
  const revs = out.state.configurations['default/a']!.revisions
  t.equal(revs.length, 20)
  t.equal(revs.at(-1)!.name, 'a-00026')
  // a revision pinned by name in traffic is kept even when old
  let p = run({ services: [service('p')] })
  for (let i = 0; i < 22; i++) {
    p = run({ services: [service('p', { env: String(i), traffic: [{ revisionName: 'p-00001', latestRevision: false, percent: 100 }] })] }, { state: p.state })
  }
  t.ok(p.state.configurations['default/p']!.revisions.some((r) => r.name === 'p-00001'))
  t.same(sr(find(p, 'Route', 'p'), 'Ready'), { status: 'True', reason: undefined })
})

t.test('a declared Configuration with the Service name: Service is NotOwned', async (t) => {
  const out = run({ services: [service('hello')], configurations: [configuration('hello')] })
  const svc = find(out, 'Service', 'hello')
  t.same(sr(svc, 'ConfigurationsReady'), { status: 'False', reason: 'NotOwned' })
  t.same(sr(svc, 'Ready'), { status: 'False', reason: 'NotOwned' })
  t.same(names(out, 'Route'), [])
})


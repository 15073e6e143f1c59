import t from 'tap'
import { revisionReadiness, parseUpstreams } from '../../../control/reconcile/revision.ts'
import { revision } from '../fixtures.ts'

const types = (r: ReturnType<typeof revisionReadiness>) => r.conditions.map((c) => `${c.type}=${c.status}`)

t.test('sluice.dev/upstream makes a revision Ready', async (t) => {
  const r = revisionReadiness(revision('a', { upstream: ' http://10.0.0.1:8080 , http://10.0.0.2:8080/ ,http://10.0.0.1:8080' }))
  t.equal(r.status, 'True')
  t.same(r.origins, ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'])
  t.same(types(r), ['Active=True', 'ContainerHealthy=True', 'Ready=True', 'ResourcesAvailable=True'])
})

t.test('a container command: Deploying until the runtime has a ready instance, then Ready even at zero', async (t) => {
  const rev = revision('a', { upstream: null, command: ['node', 'server.js'] })
  const r = revisionReadiness(rev)
  t.same([r.status, r.reason, r.message], ['Unknown', 'Deploying', 'waiting for the first instance to pass its readiness probe'])
  t.same(types(r), ['Active=Unknown', 'ContainerHealthy=Unknown', 'Ready=Unknown', 'ResourcesAvailable=Unknown'])
  t.equal(r.managed, true)

  const ready = revisionReadiness(rev, { runtime: () => ({ everReady: true, ready: 1, desired: 1 }) })
  t.equal(ready.status, 'True')
  t.same(ready.replicas, { desired: 1, actual: 1 })
  const idle = revisionReadiness(rev, { runtime: () => ({ everReady: true, ready: 0, desired: 0 }) })
  t.equal(idle.status, 'True', 'a ready revision scaled to zero stays Ready')
  t.same(types(idle), ['Active=False', 'ContainerHealthy=True', 'Ready=True', 'ResourcesAvailable=True'])

  const atZero = revisionReadiness(rev, { runtime: () => ({ everReady: false, ready: 0, desired: 0, startsAtZero: true }) })
  t.equal(atZero.status, 'True', 'initial-scale 0: ready without an instance, routed, woken on demand')

  const failed = revisionReadiness(rev, { runtime: () => ({ everReady: false, ready: 0, desired: 1, failure: { reason: 'ExitCode1', message: 'exited with 1' } }) })
  t.same([failed.status, failed.reason, failed.message], ['False', 'ExitCode1', 'exited with 1'])
})

t.test('nothing to run: NoUpstream with a hint', async (t) => {
  const r = revisionReadiness(revision('a', { upstream: null }))
  t.same([r.status, r.reason], ['False', 'NoUpstream'])
  t.match(r.message, /^revision a has an image but no command: .*command.*sluice\.dev\/upstream/)
  t.equal(r.conditions.find((c) => c.type === 'Ready')?.reason, 'NoUpstream')
  t.equal(r.conditions.find((c) => c.type === 'ResourcesAvailable')?.status, 'False')
})

t.test('bad upstream values', async (t) => {
  for (const v of ['', 'not a url', 'https://x:1', 'http://x:1/path', 'http://u:p@x:1']) {
    const r = revisionReadiness(revision('a', { upstream: v }))
    t.same([r.status, r.reason], ['False', 'InvalidUpstream'], JSON.stringify(v))
  }
  t.throws(() => parseUpstreams(' , '), /empty/)
})

t.test('timestamps come from the context', async (t) => {
  const r = revisionReadiness(revision('a'), { now: '2026-01-01T00:00:00Z' })
  t.ok(r.conditions.every((c) => c.lastTransitionTime === '2026-01-01T00:00:00Z'))
  t.ok(revisionReadiness(revision('a')).conditions.every((c) => c.lastTransitionTime === undefined))
})

t.test('sluice.dev/source: BuildSucceeded comes first; a failed build is Ready=False; a built one runs like a command', async (t) => {
  const rev = revision('a', { upstream: null, annotations: { 'sluice.dev/source': './app' } })
  const waiting = revisionReadiness(rev)
  t.same([waiting.status, waiting.reason, waiting.message], ['Unknown', 'Building', 'waiting for the build of ./app'])
  t.same(types(waiting), ['Active=Unknown', 'BuildSucceeded=Unknown', 'ContainerHealthy=Unknown', 'Ready=Unknown', 'ResourcesAvailable=Unknown'])
  t.notOk(waiting.managed, 'not handed to the runtime before it is built')

  const failed = revisionReadiness(rev, { build: () => ({ status: 'False', reason: 'BuildFailed', message: 'npm ci exited with code 1' }) })
  t.same([failed.status, failed.reason, failed.message], ['False', 'BuildFailed', 'npm ci exited with code 1'])
  t.same(types(failed), ['Active=False', 'BuildSucceeded=False', 'ContainerHealthy=Unknown', 'Ready=False', 'ResourcesAvailable=False'])

  const built = { build: () => ({ status: 'True' as const, reason: 'Succeeded', message: 'snapshot abc (node) built in 10 ms' }) }
  const deploying = revisionReadiness(rev, built)
  t.same([deploying.status, deploying.reason, deploying.managed], ['Unknown', 'Deploying', true], 'built, no command in the template: run by the runtime')
  const ready = revisionReadiness(rev, { ...built, runtime: () => ({ everReady: true, ready: 1, desired: 1 }) })
  t.equal(ready.status, 'True')
  t.same(types(ready), ['Active=True', 'BuildSucceeded=True', 'ContainerHealthy=True', 'Ready=True', 'ResourcesAvailable=True'])
  t.equal(ready.conditions.find((c) => c.type === 'BuildSucceeded')?.message, 'snapshot abc (node) built in 10 ms')

  const fixed = revisionReadiness(revision('b', { upstream: 'http://127.0.0.1:9', annotations: { 'sluice.dev/source': './app' } }))
  t.same([fixed.status, types(fixed).includes('BuildSucceeded=Unknown')], ['True', false], 'a fixed upstream wins: nothing is built')
})

// Local runtime, when apps misbehave: crashes are replaced with backoff, and a revision that
// cannot come up reports why (ContainerMissing, ExitCode<N>, ProgressDeadline).
import t from 'tap'
import { app, harness, revision, waitFor } from './fixtures/helpers.ts'

t.test('a crash removes the instance and replaces it after a growing backoff', async (t) => {
  const { rt, changes, log } = harness(t)
  const rev = revision(app({ APP_EXIT_AFTER_MS: '1000', APP_EXIT_CODE: '3' }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  await waitFor(() => rt.status(rev.key).ready === 1, 'first ready')
  const exits = () => log.entries.filter((e) => e.msg === 'instance exited with code 3')
  // Crash 1 → restart after 100 ms; crash 2 → after 200 ms.
  await waitFor(() => exits().length >= 2 && rt.instances(rev.key).find((i) => i.id === `${rev.name}-3`), 'two crashes and a third instance', 60_000)
  const [first, second] = exits()
  t.match(first!.fields, { revision: rev.key, instance: `${rev.name}-1`, code: 3, restartInMs: 100, lastOutput: 'fatal: crashing on purpose after 1000ms' })
  t.match(second!.fields, { instance: `${rev.name}-2`, restartInMs: 200 }, 'backoff doubles')
  const started = (id: string) => log.entries.find((e) => e.msg === 'instance started' && e.fields?.instance === id)
  t.ok(started(`${rev.name}-2`), 'replacement started')
  const third = rt.instances(rev.key).find((i) => i.id === `${rev.name}-3`)!
  t.equal(third.restarts, 2, 'restart count carries over like a pod restartCount')
  t.ok(changes.filter((k) => k === rev.key).length >= 3, 'onChange on ready and on each crash of a ready instance')
  t.equal(rt.status(rev.key).failure, undefined, 'instances that were ready do not make a failure')
  t.equal(rt.status(rev.key).desired, 1)
})

t.test('crash timing: each replacement waits for its backoff', async (t) => {
  const { rt, log } = harness(t)
  const rev = revision(app({ APP_EXIT_AT_START: '2' }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const started = () => log.entries.filter((e) => e.msg === 'instance started')
  await waitFor(() => started().length >= 3, 'three attempts', 60_000)
  const exited = log.entries.filter((e) => e.msg === 'instance exited with code 2')
  t.same(started().slice(0, 3).map((e) => e.fields!.instance), [`${rev.name}-1`, `${rev.name}-2`, `${rev.name}-3`])
  const gap1 = started()[1]!.at - exited[0]!.at
  const gap2 = started()[2]!.at - exited[1]!.at
  t.ok(gap1 >= 95, `second attempt ${gap1}ms after the first exit (backoff 100ms)`)
  t.ok(gap2 >= 195, `third attempt ${gap2}ms after the second exit (backoff 200ms)`)
})

t.test('a crash loop before readiness reports ExitCode<N> with the last output', async (t) => {
  const { rt, changes } = harness(t)
  const rev = revision(app({ APP_EXIT_AT_START: '7' }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const failure = await waitFor(() => rt.status(rev.key).failure, 'failure', 60_000)
  t.equal(failure.reason, 'ExitCode7')
  t.match(failure.message, /exited with code 7 before becoming ready \(3 exits in a row/)
  t.match(failure.message, /last output: fatal: cannot start \(code 7\)/)
  t.ok(changes.includes(rev.key), 'onChange when the failure appeared')
  t.equal(rt.status(rev.key).everReady, false)
  t.equal(rt.status(rev.key).desired, 1, 'keeps trying, like a pod in CrashLoopBackOff')
})

t.test('a missing command reports ContainerMissing at once', async (t) => {
  const { rt } = harness(t)
  const rev = revision({ command: ['sluice-test-no-such-command', '--flag'] })
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const failure = await waitFor(() => rt.status(rev.key).failure, 'failure')
  t.equal(failure.reason, 'ContainerMissing')
  t.match(failure.message, /"sluice-test-no-such-command" not found/)
  const missingDir = revision(app({}, { workingDir: 'no/such/dir' }))
  rt.setRevisions([rev, missingDir])
  rt.scale(missingDir.key, 1)
  const f2 = await waitFor(() => rt.status(missingDir.key).failure, 'failure')
  t.equal(f2.reason, 'ContainerMissing')
  t.match(f2.message, /workingDir .*no\/such\/dir does not exist/)
})

t.test('nothing ready within the progress deadline reports ProgressDeadline; readiness clears it', async (t) => {
  const { rt, changes } = harness(t, { progressDeadlineMs: 400 })
  const rev = revision(app({ APP_HEALTH_OK_AFTER_MS: '1200' }, { readinessProbe: { httpGet: { path: '/healthz' } } }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const failure = await waitFor(() => rt.status(rev.key).failure, 'failure')
  t.equal(failure.reason, 'ProgressDeadline')
  t.match(failure.message, /passed its readiness probe \(httpGet http:\/\/127\.0\.0\.1:\$PORT\/healthz\) within 0\.4s/)
  const n = changes.length
  await waitFor(() => rt.status(rev.key).ready === 1, 'ready later', 60_000)
  t.equal(rt.status(rev.key).failure, undefined, 'cleared once an instance is ready')
  t.ok(changes.length > n)
})

t.test('output: every line prefixed with the instance id, partial last lines kept', async (t) => {
  const { rt, log } = harness(t)
  const rev = revision(app({ APP_PARTIAL: 'goodbye', APP_PARTIAL_CODE: '0' }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const id = `${rev.name}-1`
  await waitFor(() => log.lines(id).includes(`[${id}] partial goodbye`), 'partial line', 60_000)
  const lines = log.lines(id)
  t.ok(lines.some((l) => /^\[rt\d+-00001-1\] hello stdout pid=\d+$/.test(l)), 'stdout line')
  t.ok(lines.includes(`[${id}] hello stderr`), 'stderr line')
  const entry = log.entries.find((e) => e.msg === `[${id}] hello stderr`)!
  t.equal(entry.level, 'info')
  t.same(entry.fields, { revision: rev.key, instance: id, stream: 'stderr' })
  await waitFor(() => log.entries.some((e) => e.msg === 'instance exited with code 0'), 'exit logged')
  rt.scale(rev.key, 0)
  await waitFor(() => rt.instances(rev.key).length === 0, 'no instance left')
})

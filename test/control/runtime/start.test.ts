// Local runtime, starting and readiness: scale from zero, the runtime contract's environment,
// aggressive probing, and each probe kind with real child processes.
import t from 'tap'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { app, getJson, harness, revision, waitFor } from './fixtures/helpers.ts'

t.test('scale from zero: contract env, aggressive probing, ready on the first passing probe', async (t) => {
  const { rt, changes, log } = harness(t)
  const rev = revision(
    app({ USER_VAR: 'from-spec', PORT: '1', K_REVISION: 'spoofed', EMPTY_VAR: '', APP_HEALTH_OK_AFTER_MS: '800' }, {
      readinessProbe: { httpGet: { path: '/healthz', httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } },
      ports: [{ name: 'h2c', containerPort: 8080 }],
    }),
    { name: 'hello-00001', service: 'hello', configuration: 'hello' },
  )
  rt.setRevisions([rev])
  t.same(rt.status(rev.key), { desired: 0, ready: 0, starting: 0, everReady: false })
  rt.scale(rev.key, 1)
  t.equal(rt.status(rev.key).starting, 1, 'starting counts toward desired at once')
  const [inst] = await waitFor(() => rt.ready(rev.key).length === 1 && rt.ready(rev.key), 'ready instance')
  t.equal(inst!.id, 'hello-00001-1')
  t.equal(inst!.state, 'ready')
  t.equal(inst!.protocol, 'h2c', 'a port named h2c selects h2c')
  t.equal(inst!.origin, `http://127.0.0.1:${inst!.port}`)
  t.equal(inst!.restarts, 0)
  t.ok(changes.includes(rev.key), 'onChange when it became ready')

  const env = await getJson(`${inst!.origin}/env`)
  t.same(env, {
    PORT: String(inst!.port), K_SERVICE: 'hello', K_CONFIGURATION: 'hello', K_REVISION: 'hello-00001',
    USER_VAR: 'from-spec', EMPTY_VAR: '', cwd: process.cwd(),
  }, 'PORT and K_* win over user env; user env passes')

  // The app answers 503 for its first 800 ms. Aggressive probing (not periodSeconds, 10 s by
  // default) means many probes while unready, and readiness on the first one that passes. How fast
  // (≤ 50 ms gaps, ready within a few ms) is a latency target: bench/, not a test on a shared CPU.
  const times = await getJson(`${inst!.origin}/times`)
  const probes: { at: number; headers: Record<string, string> }[] = times.probes
  const okAt = times.listeningAt + 800
  const before = probes.filter((p) => p.at < okAt)
  t.ok(before.length >= 5, `probed repeatedly while unready (${before.length} probes)`)
  t.equal(probes[0]!.headers['x-probe'], 'yes', 'httpHeaders sent')
  t.match(probes[0]!.headers['user-agent'], /^kube-probe\//)
  const status = rt.status(rev.key)
  t.equal(status.ready, 1)
  t.equal(status.everReady, true)
  t.ok(status.firstReadyMs !== undefined && status.firstReadyMs >= 800, `not ready before the app was (spawn→ready ${status.firstReadyMs}ms)`)
  // Same machine, same clock (whole milliseconds): the app stamps a probe as it arrives, the
  // runtime marks ready after the answer. A second passing probe strictly before readiness would
  // mean the first did not make it ready; the passing one itself may share readiness's millisecond.
  const passedBeforeReady = probes.filter((p) => p.at >= okAt && p.at < inst!.readyAt!)
  t.ok(passedBeforeReady.length <= 1, `ready on the first passing probe (${passedBeforeReady.length} passing probes before readiness)`)
  const gaps = before.slice(1).map((p, i) => p.at - before[i]!.at).sort((a, b) => a - b)
  t.comment(`spawn→ready ${status.firstReadyMs}ms, probe gaps median ${gaps[Math.floor(gaps.length / 2)]}ms, ` +
    `ready ${inst!.readyAt! - okAt}ms after the app turned healthy`)

  const debug = rt.describe() as { revisions: Record<string, { instances: { id: string; state: string; pid: number; uptimeMs: number }[] }> }
  t.match(debug.revisions[rev.key], { desired: 1, ready: 1, instances: [{ id: 'hello-00001-1', state: 'ready', pid: inst!.pid, port: inst!.port, restarts: 0 }] })
  t.same(rt.instances().map((i) => i.id), ['hello-00001-1'])
  t.ok(log.entries.some((e) => e.msg === 'instance ready' && e.fields?.instance === 'hello-00001-1'))
})

t.test('default probe is a TCP connect to $PORT', async (t) => {
  const { rt } = harness(t)
  const rev = revision(app({ APP_LISTEN_DELAY_MS: '400' }))
  rt.setRevisions([rev])
  const t0 = Date.now()
  rt.scale(rev.key, 1)
  await waitFor(() => rt.status(rev.key).ready === 1, 'ready')
  t.ok(Date.now() - t0 >= 400, 'not ready before the app listens')
  const [inst] = rt.ready(rev.key)
  t.comment(`spawn→ready ${rt.status(rev.key).firstReadyMs}ms with a 400ms listen delay`)
  t.equal(inst!.protocol, 'http1')
  const body = await getJson(inst!.origin)
  t.equal(body.revision, rev.name)
})

t.test('exec probe: ready once the command exits 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-exec-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'ready')
  const { rt } = harness(t)
  const rev = revision(app({ APP_READY_FILE: file, APP_READY_FILE_DELAY_MS: '500' }, {
    readinessProbe: { exec: { command: [process.execPath, '-e', `process.exit(require('node:fs').existsSync(${JSON.stringify(file)}) ? 0 : 1)`] } },
  }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  await waitFor(() => rt.status(rev.key).ready === 1, 'ready via exec probe')
  t.ok(existsSync(file), 'ready only after the file exists')
})

t.test('workingDir is relative to the gateway cwd', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cwd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { rt } = harness(t)
  const rev = revision(app({}, { workingDir: relative(process.cwd(), dir) }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const [inst] = await waitFor(() => rt.ready(rev.key).length > 0 && rt.ready(rev.key), 'ready')
  t.equal((await getJson(`${inst!.origin}/env`)).cwd, dir)
})

t.test('an app that turns unready leaves the ready set, and comes back', async (t) => {
  const { rt, changes } = harness(t)
  const rev = revision(app({ APP_HEALTH_FAIL_AFTER_MS: '600', APP_HEALTH_FAIL_FOR_MS: '2000' }, {
    readinessProbe: { httpGet: { path: '/healthz' }, periodSeconds: 1, failureThreshold: 1 },
  }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const [inst] = await waitFor(() => rt.ready(rev.key).length === 1 && rt.ready(rev.key), 'ready')
  const changesWhenReady = changes.length
  await waitFor(() => rt.ready(rev.key).length === 0, 'out of rotation', 60_000)
  t.ok(changes.length > changesWhenReady, 'onChange when it turned unready')
  const [now] = rt.instances(rev.key)
  t.equal(now!.id, inst!.id, 'same process, not restarted')
  t.equal(now!.state, 'starting')
  t.equal(rt.status(rev.key).starting, 1)
  t.equal(rt.status(rev.key).failure, undefined, 'no failure: it was ready once')
  await waitFor(() => rt.ready(rev.key).length === 1, 'back in rotation', 60_000)
  t.equal(rt.ready(rev.key)[0]!.id, inst!.id, 'the same instance is routable again')
})

t.test('scale up and down: stable order, newest stopped first, removal forgets the revision', async (t) => {
  const { rt } = harness(t, { terminationGraceMs: 2_000 })
  const rev = revision(app())
  rt.setRevisions([rev])
  rt.scale(rev.key, 3)
  await waitFor(() => rt.status(rev.key).ready === 3, '3 ready')
  const ids = rt.ready(rev.key).map((i) => i.id)
  t.same(ids, [`${rev.name}-1`, `${rev.name}-2`, `${rev.name}-3`])
  t.equal(new Set(rt.ready(rev.key).map((i) => i.port)).size, 3, 'distinct ports')
  rt.scale(rev.key, 2)
  t.same(rt.ready(rev.key).map((i) => i.id), [`${rev.name}-1`, `${rev.name}-2`], 'the newest left the ready set at once')
  t.equal(rt.status(rev.key).desired, 2)
  await waitFor(() => rt.instances(rev.key).length === 2, 'third stopped')
  rt.setRevisions([])
  t.same(rt.ready(rev.key), [], 'removed revision is not routable')
  await waitFor(() => rt.instances().length === 0, 'all stopped')
  t.same(rt.status(rev.key), { desired: 0, ready: 0, starting: 0, everReady: false }, 'forgotten')
  rt.scale(rev.key, 1)
  t.same(rt.instances(), [], 'scale of an unknown revision is ignored')
})

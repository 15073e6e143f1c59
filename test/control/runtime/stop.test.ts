// Local runtime, stopping: drain before SIGTERM, SIGKILL after the grace period, and stop()
// leaving no process behind.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { app, alive, getJson, harness, revision, waitFor } from './fixtures/helpers.ts'
import { waitFor as waitUntil } from '../../fixtures/wait.ts'

t.test('scale down drains before SIGTERM and cuts no request', async (t) => {
  // The drain resolves when the in-flight request is answered, as the gateway's would; the process
  // must stay up all along, and SIGTERM come only after. Checked by order, not by durations.
  let inflight: Promise<unknown> | undefined
  const aliveDuringDrain: boolean[] = []
  let drainedAt = 0
  const { rt, log, drains, changes } = harness(t, {
    drain: async (instance) => {
      aliveDuringDrain.push(alive(instance.pid))
      await inflight
      aliveDuringDrain.push(alive(instance.pid))
      drainedAt = Date.now()
    },
  })
  const rev = revision(app(), { timeoutSeconds: 7 })
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const [inst] = await waitFor(() => rt.ready(rev.key).length === 1 && rt.ready(rev.key), 'ready')
  inflight = getJson(`${inst!.origin}/slow?ms=250`)
  await waitUntil(async () => (await getJson(`${inst!.origin}/inflight`)).slow === 1, { what: 'the request reached the app' })
  const n = changes.length
  rt.scale(rev.key, 0)
  t.same(rt.ready(rev.key), [], 'out of the ready set at once')
  t.ok(changes.length > n, 'onChange when it started draining')
  t.equal(rt.instances(rev.key)[0]!.state, 'draining')
  t.equal(drains.length, 1)
  t.equal(drains[0]!.instance.id, inst!.id)
  t.equal(drains[0]!.instance.state, 'draining')
  t.equal(drains[0]!.timeoutMs, 7_000, 'drain bounded by timeoutSeconds')
  t.same(await inflight, { done: true, pid: inst!.pid }, 'the in-flight request finished')
  await waitFor(() => !alive(inst!.pid), 'process gone')
  t.same(aliveDuringDrain, [true, true], 'process alive for the whole drain')
  const term = log.entries.find((e) => /got SIGTERM at/.test(e.msg))
  t.ok(term, 'the app got SIGTERM')
  const termAt = Number(/at (\d+)/.exec(term!.msg)![1])
  t.ok(drainedAt > 0 && termAt >= drainedAt, `SIGTERM after the drain resolved (${termAt - drainedAt}ms later)`)
  await waitFor(() => rt.instances(rev.key).length === 0, 'instance forgotten')
  t.ok(log.entries.some((e) => e.msg === 'instance stopped' && e.fields?.instance === inst!.id), 'a stop, not a crash')
  t.equal(rt.status(rev.key).starting, 0, 'not replaced')
})

t.test('scale down stops starting instances first, without a drain', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-slow-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const slowFlag = join(dir, 'slow')
  const { rt, drains } = harness(t)
  const rev = revision(app({ APP_SLOW_IF_FILE: slowFlag }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const [ready] = await waitFor(() => rt.ready(rev.key).length === 1 && rt.ready(rev.key), 'first ready')
  writeFileSync(slowFlag, '') // the next instance takes 5 s to listen
  rt.scale(rev.key, 2)
  const starting = await waitFor(() => rt.instances(rev.key).find((i) => i.state === 'starting' && i.pid !== undefined), 'second spawned')
  rt.scale(rev.key, 1)
  await waitFor(() => !alive(starting.pid), 'starting one stopped')
  t.same(rt.ready(rev.key).map((i) => i.id), [ready!.id], 'the ready instance stays')
  t.ok(alive(ready!.pid))
  t.equal(drains.length, 0, 'nothing to drain on an instance that never served')
})

t.test('an app ignoring SIGTERM is SIGKILLed after the grace period', async (t) => {
  const { rt, log } = harness(t, { terminationGraceMs: 300 })
  const rev = revision(app({ APP_IGNORE_TERM: '1' }))
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const [inst] = await waitFor(() => rt.ready(rev.key).length === 1 && rt.ready(rev.key), 'ready')
  const t0 = Date.now()
  await rt.stop()
  const took = Date.now() - t0
  t.notOk(alive(inst!.pid), 'gone')
  // A load can only make it later; the upper bound just tells 300 ms from the 10 s default grace.
  t.ok(took >= 290 && took < 9_000, `stop took ${took}ms (grace 300ms)`)
  const term = log.entries.find((e) => /got SIGTERM/.test(e.msg))
  const kill = log.entries.find((e) => e.msg === 'instance ignored SIGTERM, killing')
  t.ok(term, 'SIGTERM first')
  t.ok(kill, 'then SIGKILL')
  t.ok(kill!.at - t0 >= 290, `SIGKILL ${kill!.at - t0}ms after stop(), not before the grace period`)
  t.match(log.entries.find((e) => e.msg === 'instance stopped')?.fields, { signal: 'SIGKILL' })
})

t.test('stop() drains and stops everything and leaves no process', async (t) => {
  const { rt, drains } = harness(t, { terminationGraceMs: 2_000 })
  const a = revision(app())
  const b = revision(app({ APP_LISTEN_DELAY_MS: '5000' }))
  rt.setRevisions([a, b])
  rt.scale(a.key, 3)
  rt.scale(b.key, 2)
  await waitFor(() => rt.status(a.key).ready === 3 && rt.instances(b.key).every((i) => i.pid !== undefined), 'all spawned', 60_000)
  const pids = rt.instances().map((i) => i.pid!)
  t.equal(pids.length, 5)
  t.ok(pids.every(alive))
  await rt.stop()
  t.same(pids.filter(alive), [], 'no process left')
  t.equal(drains.length, 3, 'ready instances drained')
  t.same(rt.instances(), [])
  rt.scale(a.key, 1)
  t.same(rt.instances(), [], 'no scaling after stop()')
  await rt.stop() // idempotent
})

t.test('a drain that never resolves is bounded', async (t) => {
  const { rt } = harness(t, { drain: () => new Promise(() => {}) })
  const rev = revision(app(), { timeoutSeconds: 0.2 })
  rt.setRevisions([rev])
  rt.scale(rev.key, 1)
  const [inst] = await waitFor(() => rt.ready(rev.key).length === 1 && rt.ready(rev.key), 'ready')
  rt.scale(rev.key, 0)
  await waitFor(() => !alive(inst!.pid), 'stopped despite a hung drain', 60_000)
  t.pass()
})

t.test('if the gateway process dies, its children die with it', async (t) => {
  const gateway = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/gateway-dies.ts', import.meta.url))], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  gateway.stdout.on('data', (c: Buffer) => { out += c })
  const code = await new Promise<number | null>((resolve) => gateway.once('exit', resolve))
  t.not(code, 0, 'the gateway crashed')
  const pids = JSON.parse(out.trim()) as number[]
  t.teardown(() => { for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL') }) // never leak them from a failed run
  t.equal(pids.length, 2)
  await waitFor(() => pids.every((p) => !alive(p)), 'children gone', 60_000)
  t.pass('no orphans, even of an app ignoring SIGTERM')
})

// ContainerSource processes: K_SINK / K_CE_OVERRIDES in their env, events reaching a real sink,
// restart with backoff, restart on change, stop on removal and shutdown — real child processes.
import t from 'tap'
import path from 'node:path'
import { ContainerSources } from '../../../control/eventing-sources/container-source.ts'
import { Backoff } from '../../../control/runtime/backoff.ts'
import { AppLogs } from '../../../control/runtime/app-logs.ts'
import { createLogger } from '../../../gateway/log.ts'
import { ROOT } from '../../fixtures/sluice.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { startEventSink } from './helpers.ts'

const script = path.join(ROOT, 'test/fixtures/k-sink-source.mjs')
const log = createLogger('error')

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try { process.kill(pid, 0); return true } catch { return false }
}

t.test('the process gets K_SINK and K_CE_OVERRIDES and its events reach the sink', async (t) => {
  const sink = await startEventSink()
  const appLogs = new AppLogs()
  const cs = new ContainerSources({ log, appLogs, graceMs: 2_000 })
  t.teardown(async () => { await cs.stop(); await sink.close() })
  const env = { PATH: process.env.PATH ?? '', K_SINK: sink.url, K_CE_OVERRIDES: '{"extensions":{"team":"blue"}}', GREETING: 'hello' }
  cs.set([{ key: 'default/heart', container: { name: 'heart-0', command: [process.execPath, script] }, env }])
  await waitFor(() => sink.events.length >= 1, { what: 'the first event', timeoutMs: 20_000 })
  const e = sink.events[0]!
  t.equal(e.headers['ce-type'], 'test.heartbeat')
  t.equal(e.headers['ce-team'], 'blue')
  t.equal(JSON.parse(e.body.toString()).greeting, 'hello')
  await waitFor(() => appLogs.read(['default/heart']).some((l) => l.line.startsWith('sent to')), { what: 'the output in the app logs' })
  const pid = cs.state('default/heart')!.pid
  t.ok(alive(pid))

  // the same spec again: nothing restarts
  cs.set([{ key: 'default/heart', container: { name: 'heart-0', command: [process.execPath, script] }, env }])
  t.equal(cs.state('default/heart')!.pid, pid)

  // a changed env: the old process stops, a new one sends with the new env
  cs.set([{ key: 'default/heart', container: { name: 'heart-0', command: [process.execPath, script] }, env: { ...env, GREETING: 'again' } }])
  await waitFor(() => sink.events.length >= 2, { what: 'the restarted process event', timeoutMs: 20_000 })
  t.equal(JSON.parse(sink.events[1]!.body.toString()).greeting, 'again')
  await waitFor(() => !alive(pid), { what: 'the old process to exit' })

  // removed: stopped
  const pid2 = cs.state('default/heart')!.pid
  cs.set([])
  t.equal(cs.state('default/heart'), undefined)
  await waitFor(() => !alive(pid2), { what: 'the removed source process to exit' })
})

t.test('a process that exits is restarted with a growing backoff', async (t) => {
  const sink = await startEventSink()
  let changes = 0
  const cs = new ContainerSources({ log, graceMs: 2_000, backoff: () => new Backoff(20, 200), onChange: () => { changes++ } })
  t.teardown(async () => { await cs.stop(); await sink.close() })
  cs.set([{ key: 'default/flaky', container: { command: [process.execPath, script] }, env: { PATH: process.env.PATH ?? '', K_SINK: sink.url, K_CE_OVERRIDES: '', EXIT_CODE: '3' } }])
  await waitFor(() => sink.events.length >= 3, { what: 'three runs', timeoutMs: 30_000 })
  await waitFor(() => (cs.state('default/flaky')?.restarts ?? 0) >= 2, { what: 'restart count' })
  t.equal(cs.state('default/flaky')!.lastExit, 'exited with code 3')
  t.ok(changes >= 2)
  t.equal(sink.events[0]!.headers['ce-team'], undefined, 'empty K_CE_OVERRIDES: no extensions')
})

t.test('stop() ends every process', async (t) => {
  const sink = await startEventSink()
  t.teardown(() => sink.close())
  const cs = new ContainerSources({ log, graceMs: 2_000 })
  const env = { PATH: process.env.PATH ?? '', K_SINK: sink.url, K_CE_OVERRIDES: '' }
  cs.set([
    { key: 'a/one', container: { command: [process.execPath, script] }, env },
    { key: 'a/two', container: { command: [process.execPath, script] }, env },
  ])
  await waitFor(() => sink.events.length >= 2, { what: 'both started', timeoutMs: 20_000 })
  const pids = [cs.state('a/one')!.pid, cs.state('a/two')!.pid]
  await cs.stop()
  for (const pid of pids) t.notOk(alive(pid), `pid ${pid} gone`)
})

t.test('a command that does not exist is reported and retried', async (t) => {
  const cs = new ContainerSources({ log, backoff: () => new Backoff(20, 50) })
  t.teardown(() => cs.stop())
  cs.set([{ key: 'a/missing', container: { command: ['/nonexistent/binary'] }, env: { PATH: '' } }])
  await waitFor(() => cs.state('a/missing')?.lastExit?.startsWith('could not start') === true, { what: 'the start failure' })
  t.match(cs.state('a/missing')!.lastExit, /ENOENT/)
})

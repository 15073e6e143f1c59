// Durability of the JetStream backing: SIGKILL the process holding it while events are being
// published, delivered and held unacknowledged by the subscriber, start a new one, and every event
// that was accepted is delivered at least once (duplicates counted, none lost). Then the same
// across a nats-server restart on the same store directory, mid-stream, both clean (SIGTERM) and a
// crash (SIGKILL: unacknowledged acks make duplicates, but the OS keeps what JetStream wrote).
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { JetStreamBacking } from '../../../../gateway/eventing/jetstream-backing.ts'
import { createLogger } from '../../../../gateway/log.ts'
import { startNatsServer } from '../../../fixtures/nats-server.ts'
import { waitFor } from '../../../fixtures/wait.ts'
import { TestDeliverer, broker, deliverySpec, event, startSubscriber, table } from './helpers.ts'

const CHILD = path.join(import.meta.dirname, 'backing-child.ts')

interface Child {
  proc: ChildProcess
  lines: string[]
  exited: boolean
}

function spawnChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const c: Child = { proc, lines: [], exited: false }
  createInterface({ input: proc.stdout! }).on('line', (l) => c.lines.push(l))
  proc.once('exit', () => { c.exited = true })
  return c
}

async function kill(c: Child, signal: NodeJS.Signals): Promise<void> {
  if (c.exited) return
  const gone = new Promise<void>((r) => c.proc.once('exit', () => r()))
  c.proc.kill(signal)
  await gone
}

function duplicates(counts: Map<string, number>): number {
  let d = 0
  for (const n of counts.values()) d += n - 1
  return d
}

t.test('SIGKILL of the process holding the backing loses no accepted event', async (t) => {
  const nats = await startNatsServer()
  t.teardown(() => nats.close())
  // even events are answered, odd ones held open (in flight, unacked) until the holder dies
  let phase: 'hold' | 'deliver' = 'hold'
  const sub = await startSubscriber((e) => phase === 'deliver' || Number(e.id.slice(1)) % 2 === 0 ? 200 : 'hold')
  t.teardown(() => sub.close())
  const env = { NATS_URL: nats.url, SUB_URL: sub.url, ACK_WAIT_MS: '1500' }

  // more than it can publish before the kill below (the kill must land mid-stream however fast it is)
  const a = spawnChild({ ...env, PUBLISH: '1000000', CONCURRENCY: '16' })
  t.teardown(() => kill(a, 'SIGKILL'))
  const accepted = () => a.lines.filter((l) => l.startsWith('accepted ')).map((l) => l.slice(9))
  // kill mid-stream: publishing under way, some delivered, some held
  await waitFor(() => accepted().length >= 500 && sub.held() >= 20, { what: () => `accepted ${accepted().length}, held ${sub.held()}`, timeoutMs: 60_000 })
  await kill(a, 'SIGKILL')
  const ids = accepted()
  t.notOk(a.lines.includes('published'), 'killed while still publishing')
  t.comment(`accepted before the kill: ${ids.length}, held unacked: ${sub.held()}, delivered: ${sub.deliveredCounts().size}`)

  phase = 'deliver'
  const b = spawnChild({ ...env, PUBLISH: '0' })
  t.teardown(() => kill(b, 'SIGKILL'))
  const ok = sub.deliveredCounts()
  await waitFor(() => ids.every((id) => ok.has(id)), {
    what: () => `every accepted event delivered; missing ${ids.filter((id) => !ok.has(id)).length} of ${ids.length}`, timeoutMs: 90_000, everyMs: 100,
  })
  t.pass(`all ${ids.length} accepted events delivered at least once`)
  t.comment(`duplicate deliveries (2xx for an id already delivered): ${duplicates(ok)}`)
  await kill(b, 'SIGTERM')
})

for (const signal of ['SIGTERM', 'SIGKILL'] as const) t.test(`a nats-server restart (${signal}) mid-stream loses no accepted event`, async (t) => {
  const nats = await startNatsServer()
  t.teardown(() => nats.close())
  const sub = await startSubscriber()
  t.teardown(() => sub.close())
  const deliverer = new TestDeliverer()
  t.teardown(() => deliverer.close())
  const backing = new JetStreamBacking({ servers: nats.url, deliverer, ackWaitMinMs: 2000, publishTimeoutMs: 2000, log: process.env.JS_TEST_LOG ? createLogger('debug') : undefined })
  t.teardown(() => backing.close())
  const br = broker('default', 'restart', [{ name: 'sub', subscriber: sub.url, delivery: deliverySpec({ retry: 100, backoffDelayMs: 50 }) }])
  await waitFor(() => backing.connected, { what: 'NATS' })
  await backing.install(table(nats.url, [br]))

  const accepted: string[] = []
  let failed = 0
  let n = 0
  let stop = false
  async function producer(): Promise<void> {
    while (!stop) {
      const id = `r${n++}`
      if ((await backing.accept(br, event(id))) === 'accepted') accepted.push(id)
      else {
        failed++
        // a producer backing off on 503: until the backing is connected again
        await waitFor(() => stop || backing.connected, { what: 'NATS back', timeoutMs: 120_000, everyMs: 20 })
      }
    }
  }
  const producers = Promise.all(Array.from({ length: 8 }, producer))
  await waitFor(() => accepted.length >= 500, { what: () => `500 accepted before the restart (${accepted.length})`, timeoutMs: 60_000 })
  await nats.stop(signal)
  const before = accepted.length
  await waitFor(() => failed > 0, { what: 'accept to fail while NATS is down' })
  await nats.start()
  await waitFor(() => accepted.length >= before + 500, { what: () => `500 more accepted after the restart (${accepted.length - before})`, timeoutMs: 60_000 })
  stop = true
  await producers
  const ok = sub.deliveredCounts()
  await waitFor(() => accepted.every((id) => ok.has(id)), {
    what: () => {
      const missing = accepted.filter((id) => !ok.has(id))
      const seenMissing = sub.seen.filter((s) => missing.includes(s.id)).length
      return `every accepted event delivered; missing ${missing.length} (${missing.slice(0, 5).join(',')}…) of ${accepted.length}, attempts seen for them ${seenMissing}; stats ${JSON.stringify(backing.stats())}`
    },
    timeoutMs: 90_000, everyMs: 100,
  })
  t.pass(`all ${accepted.length} accepted events delivered (${failed} refused while NATS was down)`)
  t.comment(`duplicate deliveries: ${duplicates(ok)}; stats ${JSON.stringify(backing.stats())}`)
})

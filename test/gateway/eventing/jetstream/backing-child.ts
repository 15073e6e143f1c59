// A process holding a JetStream backing, for the crash test (restart.test.ts spawns it and
// SIGKILLs it): installs one broker with one trigger to SUB_URL, prints `ready`, then, when PUBLISH
// is > 0, accepts that many events (CONCURRENCY at a time) and prints `accepted <id>` for each one
// JetStream acknowledged. Stdout is a pipe, synchronous on Linux, so every printed line arrived.
import { JetStreamBacking } from '../../../../gateway/eventing/jetstream-backing.ts'
import { waitFor } from '../../../fixtures/wait.ts'
import { TestDeliverer, broker, deliverySpec, event, table } from './helpers.ts'

const natsUrl = process.env.NATS_URL ?? ''
if (natsUrl === '') {
  // run by hand or by `tap <dir>`: not a test on its own
  process.stdout.write('1..0 # SKIP spawned by restart.test.ts\n')
  process.exit(0)
}
const subUrl = process.env.SUB_URL ?? ''
const publish = Number(process.env.PUBLISH ?? '0')
const concurrency = Number(process.env.CONCURRENCY ?? '16')
const prefix = process.env.PREFIX ?? 'k'

const deliverer = new TestDeliverer()
const backing = new JetStreamBacking({ servers: natsUrl, deliverer, ackWaitMinMs: Number(process.env.ACK_WAIT_MS ?? '1500'), ackWaitMarginMs: 0 })
const br = broker('default', 'crash', [{ name: 'sub', uid: 'crash-trigger-uid', subscriber: subUrl, delivery: deliverySpec({ retry: 100, backoffDelayMs: 50, timeoutMs: 0 }) }])
await waitFor(() => backing.connected, { what: 'NATS', timeoutMs: 30_000 })
await backing.install(table(natsUrl, [br]))
process.stdout.write('ready\n')

let next = 0
async function worker(): Promise<void> {
  while (next < publish) {
    const id = `${prefix}${next++}`
    const r = await backing.accept(br, event(id))
    if (r === 'accepted') process.stdout.write(`accepted ${id}\n`)
    else process.stdout.write(`failed ${id}\n`)
  }
}
await Promise.all(Array.from({ length: concurrency }, worker))
process.stdout.write('published\n')
process.on('SIGTERM', () => void backing.close().then(() => deliverer.close()).then(() => process.exit(0)))

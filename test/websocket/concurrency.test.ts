// An open WebSocket holds its containerConcurrency slot: with containerConcurrency 1 a second
// WebSocket waits in the activator until the first one closes. A client that leaves while waiting
// gives its place up (recorded as 499) and leaks nothing: once all are closed the revision has no
// request in flight, and a refused upgrade (a CR/LF header edit) never entered the count at all.
import t from 'tap'
import { WebSocket } from 'ws'
import { startSluice, eventually, metric } from '../fixtures/sluice.ts'
import { upstreamService, wsUpstream } from './fixtures/helpers.ts'
import { fileURLToPath } from 'node:url'

const API = fileURLToPath(new URL('../../plugins/api.ts', import.meta.url))

let upgrades = 0
const up = await wsUpstream((ws) => {
  upgrades++
  ws.on('message', (m) => ws.send(`echo ${m}`))
})
t.teardown(() => up.close())

const s = await startSluice({
  'ws.yaml': upstreamService('one', `http://127.0.0.1:${up.port}`, { spec: 'containerConcurrency: 1' }) +
    upstreamService('evil', `http://127.0.0.1:${up.port}`, { spec: 'containerConcurrency: 1', annotations: { 'sluice.dev/plugins': 'evil' } }) + `---
apiVersion: sluice.dev/v1alpha1
kind: Plugin
metadata: {name: evil}
spec: {plugin: ./evil.ts, config: {}}
`,
  'evil.ts': `import { definePlugin } from ${JSON.stringify(API)}
export default definePlugin({
  name: 'evil', priority: 1, validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create() { return { onRequest(req) { req.requestHeaders.set('x-evil', 'a\\r\\nx-injected: 1') } } },
})
`,
})
t.teardown(() => s.stop())

interface Opening { ws: WebSocket; opened: Promise<number> }
/** Starts a WebSocket; `opened` resolves with 101 once it is open, or with the refusal's status. */
function start(host: string): Opening {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`, { headers: { host } })
  ws.on('error', () => {})
  const opened = new Promise<number>((resolve) => {
    ws.once('open', () => resolve(101))
    ws.once('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode ?? 0) })
    ws.once('close', () => resolve(0))
  })
  return { ws, opened }
}
const gauge = async (name: string, revision: string): Promise<number> =>
  metric((await s.admin('/metrics')).body, name, { revision }) ?? -1

t.test('the route answers once the config is live', async (t) => {
  t.ok(await eventually(async () => {
    const o = start('one.default.localhost')
    const status = await o.opened
    o.ws.terminate()
    return status === 101
  }, 10_000, 50))
  t.ok(await eventually(async () => (await gauge('sluice_revision_inflight_requests', 'one-00001')) === 0, 3_000, 20), 'nothing in flight')
})

t.test('an open WebSocket holds the only slot; the next one waits until it closes', async (t) => {
  const a = start('one.default.localhost')
  t.equal(await a.opened, 101)
  let bOpen = false
  const b = start('one.default.localhost')
  void b.opened.then(() => { bOpen = true })
  t.ok(await eventually(async () => (await gauge('sluice_activator_queue_depth', 'one-00001')) === 1, 3_000, 20), 'the second one waits')
  t.notOk(bOpen, 'not open while the first holds the slot')

  // A third client gives up while waiting behind the second.
  const c = start('one.default.localhost')
  t.ok(await eventually(async () => (await gauge('sluice_revision_inflight_requests', 'one-00001')) === 3, 3_000, 20), 'three in flight')
  c.ws.terminate()
  t.ok(await eventually(async () => (await gauge('sluice_revision_inflight_requests', 'one-00001')) === 2, 3_000, 20), 'the one that left is no longer counted')
  t.ok((metric((await s.admin('/metrics')).body, 'sluice_requests_total', { route: 'one', class: '4xx' }) ?? 0) >= 1, 'recorded as 499')

  const before = upgrades
  a.ws.close()
  t.equal(await b.opened, 101, 'the second opens once the first closed')
  t.equal(upgrades, before + 1, 'and only the second reached the upstream')
  b.ws.close()
  t.ok(await eventually(async () => (await gauge('sluice_revision_inflight_requests', 'one-00001')) === 0, 3_000, 20), 'nothing in flight after all closed')
  const d = start('one.default.localhost')
  t.equal(await d.opened, 101, 'the slot is free again')
  d.ws.close()
})

t.test('a refused upgrade (invalid header edit) takes no slot and wakes nothing', async (t) => {
  for (let i = 0; i < 3; i++) {
    const o = start('evil.default.localhost')
    t.equal(await o.opened, 500)
  }
  t.equal(await gauge('sluice_revision_inflight_requests', 'evil-00001'), 0, 'nothing in flight')
  t.equal(await gauge('sluice_activator_queue_depth', 'evil-00001'), 0, 'nothing waits')
})

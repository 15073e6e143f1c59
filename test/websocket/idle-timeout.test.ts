// idleTimeoutSeconds on an open WebSocket: no byte either way for that long closes it with a
// 1001 close frame; traffic in either direction keeps it open. Without the setting (default 0),
// an idle WebSocket stays open.
import t from 'tap'
import { WebSocket } from 'ws'
import { startSluice, metric } from '../fixtures/sluice.ts'
import { upstreamService, wsUpstream } from './fixtures/helpers.ts'

const up = await wsUpstream((ws) => {
  ws.on('message', (m) => {
    // "push N": the server sends N messages 300 ms apart, unprompted (server-to-client traffic only)
    const push = /^push (\d+)$/.exec(String(m))
    if (push === null) return ws.send(`echo ${m}`)
    let left = Number(push[1])
    const timer = setInterval(() => { if (--left < 0 || ws.readyState !== ws.OPEN) clearInterval(timer); else ws.send('tick') }, 300)
  })
})
t.teardown(() => up.close())

const service = (name: string, spec: string) => upstreamService(name, `http://127.0.0.1:${up.port}`, { spec })
const s = await startSluice({ 'ws.yaml': service('idle', 'idleTimeoutSeconds: 1') + service('forever', 'timeoutSeconds: 1') })
t.teardown(() => s.stop())

function open(host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`, { headers: { host } })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}
const closed = (ws: WebSocket): Promise<{ code: number; at: number }> => new Promise((r) => ws.once('close', (code) => r({ code, at: Date.now() })))

t.test('an idle WebSocket is closed with 1001 after idleTimeoutSeconds', async (t) => {
  const ws = await open('idle.default.localhost')
  const t0 = Date.now()
  const { code, at } = await closed(ws)
  t.equal(code, 1001, 'going away')
  t.ok(at - t0 >= 900 && at - t0 < 3_000, `closed after ${at - t0} ms`)
  const m = (await s.admin('/metrics')).body
  t.ok((metric(m, 'sluice_upstream_errors_total', { route: 'idle', kind: 'idle_timeout' }) ?? 0) >= 1, 'counted as an idle timeout')
})

t.test('traffic either way keeps it open', async (t) => {
  const ws = await open('idle.default.localhost')
  let gone = false
  ws.once('close', () => { gone = true })
  // client → server every 400 ms for 2 s
  for (let i = 0; i < 5; i++) {
    const reply = await new Promise<string>((r) => { ws.once('message', (d) => r(String(d))); ws.send(`m${i}`) })
    t.equal(reply, `echo m${i}`)
    await new Promise((r) => setTimeout(r, 400))
  }
  t.notOk(gone, 'open after 2 s of client messages')
  // server → client only, every 300 ms for 2 s
  ws.send('push 7')
  await new Promise((r) => setTimeout(r, 2_000))
  t.notOk(gone, 'open after 2 s of server pushes')
  ws.close()
})

t.test('without idleTimeoutSeconds an idle WebSocket stays open (timeoutSeconds ends at the 101)', async (t) => {
  const ws = await open('forever.default.localhost')
  let gone = false
  ws.once('close', () => { gone = true })
  await new Promise((r) => setTimeout(r, 2_200))
  t.notOk(gone, 'still open after 2.2 s with timeoutSeconds 1')
  const reply = await new Promise<string>((r) => { ws.once('message', (d) => r(String(d))); ws.send('late') })
  t.equal(reply, 'echo late')
  ws.close()
})


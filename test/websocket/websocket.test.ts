// WebSockets through Sluice with the `ws` package on both sides: round trips on one connection,
// a 50/50 split over many connections (each stays on one backend), a revision at zero that wakes
// up for a WebSocket, and a clean close when Sluice drains.
import t from 'tap'
import { WebSocketServer, WebSocket } from 'ws'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { startSluice, eventually } from '../fixtures/sluice.ts'

async function echoServer(suffix: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('not a websocket\n'))
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${m} - ${suffix}`)))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close(() => r()) }),
  }
}

function open(port: number, host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host } })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)))
  })
}

function roundTrip(ws: WebSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(String(d)))
    ws.once('error', reject)
    ws.send(msg)
  })
}

const blue = await echoServer('blue')
const green = await echoServer('green')
t.teardown(() => Promise.all([blue.close(), green.close()]))

const service = (name: string, upstream: string, extra = '') => `---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: ${name}}
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: "${upstream}"}
    spec:
      containers: [{image: ws}]
${extra}`

const s = await startSluice({
  'ws.yaml': service('echo', `http://127.0.0.1:${blue.port}`) +
    `---
apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: split}
spec:
  rules:
    - hosts: [split.example.com]
      http:
        paths:
          - splits:
              - {serviceName: blue, servicePort: 80, percent: 50}
              - {serviceName: green, servicePort: 80, percent: 50}
---
apiVersion: v1
kind: Service
metadata: {name: blue}
spec: {ports: [{port: 80, targetPort: ${blue.port}}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: blue}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{port: ${blue.port}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: green}
spec: {ports: [{port: 80, targetPort: ${green.port}}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: green}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{port: ${green.port}}]}]
`,
})
t.teardown(() => s.stop())

t.test('100 round trips on one connection', async (t) => {
  const ws = await open(s.port, 'echo.default.localhost')
  for (let i = 0; i < 100; i++) {
    const reply = await roundTrip(ws, `ping ${i}`)
    if (reply !== `ping ${i} - blue`) { t.fail(`round trip ${i}: ${reply}`); break }
  }
  t.pass('100 replies, each to its own message')
  ws.close()
})

t.test('50/50 split over 200 connections: 100±25 each, each connection stays on one backend', async (t) => {
  const counts: Record<string, number> = { blue: 0, green: 0 }
  let switched = 0
  for (let batch = 0; batch < 10; batch++) {
    const conns = await Promise.all(Array.from({ length: 20 }, () => open(s.port, 'split.example.com')))
    await Promise.all(conns.map(async (ws) => {
      const first = (await roundTrip(ws, 'a')).split(' - ')[1]
      for (let i = 0; i < 3; i++) if ((await roundTrip(ws, 'b')).split(' - ')[1] !== first) switched++
      counts[first]++
      ws.close()
    }))
  }
  t.equal(switched, 0, 'no connection changed backend')
  t.ok(counts.blue >= 75 && counts.blue <= 125, `blue ${counts.blue}`)
  t.ok(counts.green >= 75 && counts.green <= 125, `green ${counts.green}`)
})

t.test('a WebSocket to a revision at zero waits for an instance', async (t) => {
  const app = path.resolve(import.meta.dirname, 'fixtures/ws-app.mjs')
  s.write('cold.yaml', `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: cold}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/window: "6s"}
    spec:
      containers: [{image: ws, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(app)}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-autoscaler}
data: {scale-to-zero-grace-period: "1s"}
`)
  // The first instance starts at once (initial scale 1), then the idle revision goes to zero.
  const ready = await eventually(async () => (await s.admin('/debug/instances')).body.includes('"everReady": true'), 15_000, 100)
  t.ok(ready, 'the revision became ready')
  const zero = await eventually(async () => {
    const d = JSON.parse((await s.admin('/debug/instances')).body) as { revisions: Record<string, { ready: number; instances: unknown[] }> }
    const r = d.revisions['default/cold-00001']
    return r !== undefined && r.ready === 0 && r.instances.length === 0
  }, 30_000, 200)
  t.ok(zero, 'scaled to zero')
  const ws = await open(s.port, 'cold.default.localhost')
  t.equal(await roundTrip(ws, 'wake'), 'wake - cold', 'the upgrade waited for a new instance')
  ws.close()
})

t.test('draining closes WebSockets cleanly (1001 going away)', async (t) => {
  const ws = await open(s.port, 'echo.default.localhost')
  t.equal(await roundTrip(ws, 'x'), 'x - blue')
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
  const exit = s.stop()
  t.equal(await closed, 1001)
  t.equal(await exit, 0)
})

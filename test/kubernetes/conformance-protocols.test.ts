// Knative's protocol conformance scenarios against `sluice serve --kubernetes`: websocket (100
// round trips on one connection) and websocket/split, grpc (one bidi stream, 100 round trips, h2c
// prior knowledge to the public port) and grpc/split, and host-rewrite (vanity hosts rewritten to
// a ClusterLocal host that an ExternalName Service sends back into Sluice's internal port).
import t from 'tap'
import WebSocket from 'ws'
import type { Backend } from '../fixtures/backend.ts'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { pingClient, roundTrips, startPingServer } from '../protocols/fixtures/grpc.ts'
import { wsUpstream } from '../websocket/fixtures/helpers.ts'
import { kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'

const NS = 'serving-tests'

/** serviceFor only needs a port: the shape of a Backend for servers that are not HTTP/1 backends. */
const atPort = (name: string, port: number): Backend => ({ name, port, origin: `http://127.0.0.1:${port}`, requests: [], close: async () => {} })

/** Opens a WebSocket to Sluice with this Host and resolves once it is open. */
function openWs(port: number, host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host }, handshakeTimeout: 10_000 })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket upgrade answered ${res.statusCode}`)))
  })
}

function roundTrip(ws: WebSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e)
    ws.once('message', (data) => { ws.off('error', onError); resolve(String(data)) })
    ws.once('error', onError)
    ws.send(msg)
  })
}

const api = await startFakeApiServer()
t.teardown(() => api.close())

// websocket + websocket/split
const wsPong = await wsUpstream((ws) => ws.on('message', (m) => ws.send(`${String(m)} - pong`)))
const wsBlue = await wsUpstream((ws) => ws.on('message', (m) => ws.send(`${String(m)} - blue`)))
const wsGreen = await wsUpstream((ws) => ws.on('message', (m) => ws.send(`${String(m)} - green`)))
// grpc + grpc/split
const gPong = await startPingServer('pong')
const gBlue = await startPingServer('blue', ' - blue')
const gGreen = await startPingServer('green', ' - green')
// host-rewrite
const rewritten = await knativeBackend('rewritten')
t.teardown(() => Promise.all([wsPong.close(), wsBlue.close(), wsGreen.close(), gPong.close(), gBlue.close(), gGreen.close(), rewritten.close()]))

for (const [name, port] of [['ws-pong', wsPong.port], ['ws-blue', wsBlue.port], ['ws-green', wsGreen.port]] as const) {
  for (const o of serviceFor(NS, name, [atPort(name, port)])) api.apply(o)
}
for (const [name, port] of [['grpc-pong', gPong.port], ['grpc-blue', gBlue.port], ['grpc-green', gGreen.port]] as const) {
  for (const o of serviceFor(NS, name, [atPort(name, port)], { name: 'http2' })) api.apply(o)
}
for (const o of serviceFor(NS, 'rewritten', [rewritten])) api.apply(o)
api.apply(kingress(NS, 'websocket', ['ws.example.com'], [{ service: 'ws-pong' }]))
api.apply(kingress(NS, 'websocket-split', ['ws-split.example.com'], [{ service: 'ws-blue', percent: 50 }, { service: 'ws-green', percent: 50 }]))
api.apply(kingress(NS, 'grpc', ['grpc.example.com'], [{ service: 'grpc-pong' }]))
api.apply(kingress(NS, 'grpc-split', ['grpc-split.example.com'], [{ service: 'grpc-blue', percent: 50 }, { service: 'grpc-green', percent: 50 }]))

const sluice = await startClusterSluice(api)
t.teardown(() => sluice.stop())
await Promise.all(['websocket', 'websocket-split', 'grpc', 'grpc-split'].map((n) => waitIngressReady(api, NS, n)))

t.test('websocket: 100 round trips on one connection', async (t) => {
  const ws = await openWs(sluice.port, 'ws.example.com')
  t.teardown(() => ws.terminate())
  for (let i = 0; i < 100; i++) {
    const reply = await roundTrip(ws, `ping ${i}`)
    if (reply !== `ping ${i} - pong`) { t.equal(reply, `ping ${i} - pong`, `round trip ${i}`); return }
  }
  t.pass('100 round trips answered msg + " - pong"')
})

t.test('websocket/split: a 50/50 split reveals both backends within 100 connections', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 100 && seen.size < 2; i++) {
    const ws = await openWs(sluice.port, 'ws-split.example.com')
    try {
      seen.add((await roundTrip(ws, 'who')).replace(/^who - /, ''))
    } finally { ws.terminate() }
  }
  t.same([...seen].sort(), ['blue', 'green'], 'both sides of the split answered')
})

t.test('grpc: one bidi stream, 100 round trips, h2c prior knowledge to the public port', async (t) => {
  const client = pingClient(sluice.port, 'grpc.example.com')
  t.teardown(() => client.close())
  const replies = await roundTrips(client, 100, 'ping', 30_000)
  t.equal(replies.length, 100, '100 replies')
  t.same(replies, Array.from({ length: 100 }, (_, i) => `ping ${i} - pong`), 'each reply is msg + " - pong"')
})

t.test('grpc/split: a 50/50 split reveals both backends', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 100 && seen.size < 2; i++) {
    // A client (connection) per try, as Knative's test dials anew each time.
    const client = pingClient(sluice.port, 'grpc-split.example.com')
    try {
      const [reply] = await roundTrips(client, 1, 'who')
      seen.add(reply!.replace(/^who 0 - /, ''))
    } finally { client.close() }
  }
  t.same([...seen].sort(), ['blue', 'green'], 'both sides of the split answered')
})

t.test('host-rewrite: vanity hosts rewritten to a ClusterLocal host behind an ExternalName Service', async (t) => {
  const p = 'rewrite-target'
  const local = `${p}.${NS}.svc.cluster.local`
  api.apply(kingress(NS, p, [local], [{ service: 'rewritten' }], { visibility: 'ClusterLocal' }))
  // What Knative points the ExternalName at is the private load balancer: here Sluice's internal port.
  api.apply({
    apiVersion: 'v1', kind: 'Service', metadata: { name: p, namespace: NS },
    spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ name: 'http', port: sluice.internalPort, protocol: 'TCP' }] },
  })
  const vanity = ['vanity-a.example.com', 'vanity-b.example.com']
  api.apply(kingress(NS, 'vanity', vanity, [], {
    spec: {
      httpOption: 'Enabled',
      rules: [{
        hosts: vanity, visibility: 'ExternalIP',
        http: { paths: [{ rewriteHost: local, splits: [{ serviceNamespace: NS, serviceName: p, servicePort: sluice.internalPort, percent: 100 }] }] },
      }],
    },
  }))
  await waitIngressReady(api, NS, p)
  await waitIngressReady(api, NS, 'vanity')
  t.equal((await request(sluice.internalPort, local, '/')).status, 200, 'the ClusterLocal host is served on the internal port')
  for (const host of vanity) {
    const r = await request(sluice.port, host, '/')
    t.equal(r.status, 200, `${host} → 200`)
    if (r.status === 200) {
      const b = JSON.parse(r.body) as { backend: string; headers: Record<string, string> }
      t.equal(b.backend, 'rewritten', `${host} reached the ClusterLocal backend`)
      t.equal(b.headers['host'], local, `${host} arrived with Host = the cluster-local host`)
    }
  }
  t.equal((await request(sluice.port, local, '/')).status, 404, 'the ClusterLocal host is not on the public port')
  await waitFor(() => rewritten.requests.length >= 2, { what: 'the backend saw the rewritten requests' })
})

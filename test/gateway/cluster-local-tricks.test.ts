// ClusterLocal routes stay unreachable from the public listener, however the request names them:
// the attack run's 20 Host, absolute-form and :authority tricks, kept as a regression test. Every
// trick must end before the private backend sees a request; the internal listener still serves it.
import t from 'tap'
import http2 from 'node:http2'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { rawExchange, rawStatus, send } from './helpers.ts'

const pub = await startBackend('public')
const priv = await startBackend('private')
t.teardown(() => { pub.close(); priv.close() })

const service = (name: string, origin: string, clusterLocal: boolean): string => `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: ${name}
${clusterLocal ? '  labels: {networking.knative.dev/visibility: cluster-local}\n' : ''}spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: ${JSON.stringify(origin)}}
    spec:
      containers: [{image: example.dev/${name}}]
`
const s = await startSluice({ 'svc.yaml': [service('web', pub.origin, false), service('secret', priv.origin, true)].join('---\n') })
t.teardown(() => s.stop())

const PRIVATE = 'secret.default.svc.cluster.local'
const PUBLIC = 'web.default.localhost'

t.test('the private Service answers on the internal listener (the tricks below are meaningful)', async (t) => {
  t.equal((await send(s.internalPort, PRIVATE)).status, 200)
  t.equal((await send(s.internalPort, 'secret.default')).status, 200)
  priv.requests.length = 0
})

const hostTricks: [string, string][] = [
  ['the full cluster-local name', PRIVATE],
  ['name.namespace.svc', 'secret.default.svc'],
  ['name.namespace', 'secret.default'],
  ['upper case', PRIVATE.toUpperCase()],
  ['a trailing dot', `${PRIVATE}.`],
  ['port 80', `${PRIVATE}:80`],
  ['the internal port', `${PRIVATE}:${s.internalPort}`],
  ['userinfo', `user@${PRIVATE}`],
  ['the external-domain form', 'secret.default.localhost'],
  ['a leading space', ` ${PRIVATE}`],
]
for (const [what, host] of hostTricks) {
  t.test(`Host: ${what}`, async (t) => {
    const r = await send(s.port, host).catch((err: Error) => ({ status: 0, body: err.message }))
    t.not(r.status, 200, `${JSON.stringify(host)} → ${r.status}`)
  })
}

const headerTricks: [string, Record<string, string>][] = [
  ['X-Forwarded-Host', { 'x-forwarded-host': PRIVATE }],
  ['K-Original-Host', { 'k-original-host': PRIVATE }],
  ['Forwarded host=', { forwarded: `host=${PRIVATE}` }],
  ['X-Original-Host', { 'x-original-host': PRIVATE }],
]
for (const [what, headers] of headerTricks) {
  t.test(`public Host with ${what} naming the private one`, async (t) => {
    const r = await send(s.port, PUBLIC, { headers })
    t.equal(r.status, 200)
    t.match(r.body, /"backend":"public"/, 'routed by Host only')
  })
}

const rawTricks: [string, string][] = [
  ['absolute-form target', `GET http://${PRIVATE}/ HTTP/1.1\r\nHost: ${PUBLIC}\r\n\r\n`],
  ['absolute-form https target', `GET https://${PRIVATE}/ HTTP/1.1\r\nHost: ${PUBLIC}\r\n\r\n`],
  ['duplicate Host, public first', `GET / HTTP/1.1\r\nHost: ${PUBLIC}\r\nHost: ${PRIVATE}\r\n\r\n`],
  ['WebSocket upgrade', `GET / HTTP/1.1\r\nHost: ${PRIVATE}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`],
  ['absolute-form upgrade', `GET http://${PRIVATE}/ HTTP/1.1\r\nHost: ${PUBLIC}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`],
]
for (const [what, bytes] of rawTricks) {
  t.test(what, async (t) => {
    const status = rawStatus(await rawExchange(s.port, bytes))
    t.not(status, 200, `→ ${status}`)
    t.not(status, 101, 'no tunnel')
  })
}

t.test('HTTP/2 :authority naming the private Service, alone or beside a public Host', async (t) => {
  const session = http2.connect(`http://127.0.0.1:${s.port}`)
  t.teardown(() => session.close())
  const ask = (headers: http2.OutgoingHttpHeaders) => new Promise<number>((resolve, reject) => {
    const req = session.request({ ':path': '/', ...headers })
    req.on('response', (h) => resolve(Number(h[':status'])))
    req.on('error', reject)
    req.resume()
    req.end()
  })
  t.not(await ask({ ':authority': PRIVATE }), 200)
  t.not(await ask({ ':authority': PRIVATE, host: PUBLIC }), 200)
  t.not(await ask({ ':authority': PUBLIC, host: PRIVATE }), 200)
})

t.test('the private backend never saw any of it', async (t) => {
  t.equal(priv.requests.length, 0, priv.requests.map((r) => r.headers.host).join(', '))
})

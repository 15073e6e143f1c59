// gRPC through the gateway with real @grpc/grpc-js clients and servers: plaintext h2c prior
// knowledge from the client, h2c to a backend whose Service port is named http2 (conformance
// `grpc`): unary, server streaming, bidi streaming (100 round trips, reply = msg + " - pong"),
// status codes, details and trailing metadata; and conformance `grpc/split`: a 50/50 split
// between two backends is seen on new streams, and each stream stays on one backend.
import t from 'tap'
import { startSluice } from '../fixtures/sluice.ts'
import { closedPort, kingress, yamlDocs } from '../gateway/helpers.ts'
import { grpc, pingClient, roundTrips, startPingServer, unary, within, type PingResponse } from './fixtures/grpc.ts'
import { namedService } from './fixtures/routes.ts'

const HOST = 'grpc.example.com'
const DOWN_HOST = 'grpc-down.example.com'
const PLUGIN_HOST = 'grpc-plugin.example.com'
const SPLIT_HOST = 'grpc-split.example.com'
const H2C = { name: 'http2', appProtocol: 'kubernetes.io/h2c' }

const pong = await startPingServer('pong')
const blue = await startPingServer('blue', ' - blue')
const green = await startPingServer('green', ' - green')
t.teardown(() => Promise.all([pong.close(), blue.close(), green.close()]))

const s = await startSluice({
  'grpc.yaml': yamlDocs(...namedService('grpc-ping', pong.port, H2C),
    kingress('grpc-ping', [{ hosts: [HOST], paths: [{ splits: [{ service: 'grpc-ping' }] }] }])),
  'split.yaml': yamlDocs(...namedService('blue', blue.port, H2C), ...namedService('green', green.port, H2C),
    kingress('grpc-split', [{ hosts: [SPLIT_HOST], paths: [{ splits: [{ service: 'blue', percent: 50 }, { service: 'green', percent: 50 }] }] }])),
  // The same backend behind a route with a plugin (the gateway's other response path).
  'plugin.yaml': yamlDocs(
    { apiVersion: 'sluice.dev/v1alpha1', kind: 'Plugin', metadata: { name: 'via', namespace: 'default' },
      spec: { plugin: 'headers', config: { response: { set: { 'x-via': 'sluice' } } } } },
    withAnnotation(kingress('grpc-plugin', [{ hosts: [PLUGIN_HOST], paths: [{ splits: [{ service: 'grpc-ping' }] }] }]), 'sluice.dev/plugins', 'via'),
  ),
  'down.yaml': yamlDocs(...namedService('grpc-down', await closedPort(), H2C),
    kingress('grpc-down', [{ hosts: [DOWN_HOST], paths: [{ splits: [{ service: 'grpc-down' }] }] }])),
})
t.teardown(() => s.stop())

function withAnnotation(obj: object, key: string, value: string): object {
  const o = obj as { metadata: { annotations?: Record<string, string> } }
  o.metadata.annotations = { ...o.metadata.annotations, [key]: value }
  return o
}

const client = pingClient(s.port, HOST)
t.teardown(() => client.close())

t.test('unary', async (t) => {
  const md = new grpc.Metadata()
  md.set('x-user', 'abc')
  const res = await new Promise<PingResponse>((resolve, reject) => {
    client.Ping({ msg: 'hello' }, md, within(5000), (err, r) => (err !== null ? reject(err) : resolve(r!)))
  })
  t.equal(res.msg, 'hello - pong')
  const call = pong.calls.at(-1)!
  t.equal(call.method, 'Ping')
  t.equal(call.metadata['x-user'], 'abc', 'request metadata passes')
  t.equal(call.metadata['x-forwarded-for'], '127.0.0.1')
  t.equal(call.metadata['x-forwarded-proto'], 'http')
  t.same(Object.keys(call.metadata).filter((k) => k.startsWith(':')), [], 'no pseudo-headers as metadata')
})

t.test('many concurrent unary calls on one connection', async (t) => {
  const N = 200
  const results = await Promise.all(Array.from({ length: N }, (_, i) => unary(client, 'Ping', `n${i}`)))
  t.same(results.map((r) => r.err?.message ?? r.res!.msg), Array.from({ length: N }, (_, i) => `n${i} - pong`))
})

t.test('server streaming', async (t) => {
  const call = client.PingMany({ msg: 'tick', count: 50 }, new grpc.Metadata(), within(5000))
  const got: string[] = []
  const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
    call.on('data', (r: PingResponse) => got.push(r.msg))
    call.on('error', reject)
    call.on('status', resolve)
  })
  t.equal(status.code, grpc.status.OK)
  t.same(got, Array.from({ length: 50 }, (_, i) => `tick ${i} - pong`), 'every message, in order')
})

t.test('bidi streaming: 100 round trips on one stream (conformance grpc)', async (t) => {
  const before = pong.streams
  const replies = await roundTrips(client, 100, 'ping')
  t.equal(replies.length, 100)
  t.same(replies, Array.from({ length: 100 }, (_, i) => `ping ${i} - pong`))
  t.equal(pong.streams - before, 1, 'one stream upstream')
})

t.test('status codes, details and trailing metadata pass through', async (t) => {
  const { err } = await unary(client, 'Fail', 'nessie')
  t.ok(err, 'the call fails')
  t.equal(err?.code, grpc.status.NOT_FOUND, 'NOT_FOUND')
  t.equal(err?.details, 'no ping named nessie')
  t.same(err?.metadata.get('x-fail-reason'), ['asked-to'], 'trailing metadata')

  // A method the server does not have: grpc-js answers UNIMPLEMENTED, and so does the client see.
  const unimplemented = await new Promise<grpc.ServiceError | null>((resolve) => {
    client.makeUnaryRequest('/ping.PingService/Nope', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new grpc.Metadata(), within(5000),
      (e) => resolve(e))
  })
  t.equal(unimplemented?.code, grpc.status.UNIMPLEMENTED)
})

t.test("the gateway's own answers reach gRPC clients as gRPC statuses", async (t) => {
  const stranger = pingClient(s.port, 'nobody.example.com')
  t.teardown(() => stranger.close())
  const nowhere = await unary(stranger, 'Ping', 'x')
  t.equal(nowhere.err?.code, grpc.status.UNIMPLEMENTED, 'no route (404) is UNIMPLEMENTED')
  t.match(nowhere.err?.details, /no route for host/)

  const down = pingClient(s.port, DOWN_HOST)
  t.teardown(() => down.close())
  const refused = await unary(down, 'Ping', 'x')
  t.equal(refused.err?.code, grpc.status.UNAVAILABLE, 'a backend refusing connections (502) is UNAVAILABLE')
})

t.test('grpc/split: both backends seen, each stream stays on one', async (t) => {
  const split = pingClient(s.port, SPLIT_HOST)
  t.teardown(() => split.close())
  const seen = new Set<string>()
  let streams = 0
  while (streams < 100 && seen.size < 2) {
    const replies = await roundTrips(split, 10, `s${streams}`)
    streams++
    const suffixes = new Set(replies.map((r) => r.slice(r.lastIndexOf(' - ') + 3)))
    t.equal(suffixes.size, 1, `stream ${streams} stayed on one backend (${[...suffixes].join(', ')})`)
    seen.add([...suffixes][0]!)
  }
  t.same([...seen].sort(), ['blue', 'green'], `both backends within ${streams} streams`)
  t.equal(blue.streams + green.streams, streams, 'one upstream stream per client stream')
})

t.test('a route with a response plugin: messages, statuses and the plugin header', async (t) => {
  const viaPlugin = pingClient(s.port, PLUGIN_HOST)
  t.teardown(() => viaPlugin.close())
  const headers = await new Promise<grpc.Metadata>((resolve, reject) => {
    const call = viaPlugin.Ping({ msg: 'p' }, new grpc.Metadata(), within(5000), (err) => { if (err !== null) reject(err) })
    call.on('metadata', resolve)
  })
  t.same(headers.get('x-via'), ['sluice'], 'the plugin set a response header')
  t.equal((await unary(viaPlugin, 'Ping', 'plugged')).res?.msg, 'plugged - pong')
  const failed = await unary(viaPlugin, 'Fail', 'x')
  t.equal(failed.err?.code, grpc.status.NOT_FOUND, 'a Trailers-Only status passes the plugin path')
  t.same(failed.err?.metadata.get('x-via'), ['sluice'])
  t.same(await roundTrips(viaPlugin, 20, 'pl'), Array.from({ length: 20 }, (_, i) => `pl ${i} - pong`))
})

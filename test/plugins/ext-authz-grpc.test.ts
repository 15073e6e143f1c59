// ext-authz's gRPC mode against a real grpc-js Authorization server on 127.0.0.1 (the vendored
// Envoy protos): header edit semantics, denial defaults, errors and failure mode, context, config checks.
import t, { type Test } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import plugin from '../../plugins/builtin/ext-authz.ts'
import { PROTO_DIR, visibilityOf } from '../../plugins/builtin/ext-authz-grpc.ts'
import type { LocalResponse, PluginInstance, RequestContext } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest } from '../../plugins/testing.ts'

type Reply = Record<string, unknown>
interface Server { url: string; reply: Reply | null; seen: { request: any; metadata: grpc.Metadata }[] }

async function authServer(t: Test): Promise<Server> {
  const state: Server = { url: '', reply: { status: { code: 0 } }, seen: [] }
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [PROTO_DIR], keepCase: true, longs: Number, enums: Number, defaults: false })
  const pkg = grpc.loadPackageDefinition(def) as any
  const server = new grpc.Server()
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check(call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      state.seen.push({ request: call.request, metadata: call.metadata })
      if (state.reply === null) cb({ code: grpc.status.UNAVAILABLE, details: 'down for maintenance' })
      else cb(null, state.reply)
    },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
  state.url = `grpc://127.0.0.1:${port}`
  t.teardown(() => server.forceShutdown())
  return state
}

function make(t: Test, raw: unknown): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(v.issues.map((i) => `${i.path}: ${i.message}`).join('; '))
  const inst = plugin.create(v.config, fakePluginContext())
  t.teardown(() => inst.close?.())
  return inst
}

const problems = (raw: unknown): string[] => {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

async function run(inst: PluginInstance, ctx: RequestContext): Promise<LocalResponse | undefined> {
  return (await inst.onRequest!(ctx)) ?? undefined
}

async function deadPort(): Promise<number> {
  const srv = http.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

t.test('config validation for grpc://', async (t) => {
  t.same(problems({ url: 'grpc://authz' }), ['url: a grpc:// URL needs a port, such as grpc://authz.example:9001, got "grpc://authz"'])
  t.same(problems({ url: 'grpc://authz:9001/x' }), ['url: a grpc:// URL has no path: the service is envoy.service.auth.v3.Authorization'])
  t.same(problems({ url: 'grpc://authz:9001', pathPrefix: '/p' }), ['pathPrefix: applies to http:// and https:// only; remove it or use an http:// url'])
  t.same(problems({ url: 'http://authz:9001', packAsBytes: true }), ['packAsBytes: applies to grpc:// only (an HTTP check carries the body as its own body)'])
  t.same(problems({ url: 'grpc://authz:9001', packAsBytes: true, maxRequestBodyBytes: 100, contextExtensions: { a: 'b' } }), [])
})

t.test('allow: header edits follow append / append_action', async (t) => {
  const srv = await authServer(t)
  srv.reply = {
    status: { code: 0 },
    ok_response: {
      headers: [
        { header: { key: 'x-set', value: 'new' } },
        { header: { key: 'x-add', value: 'two' }, append: { value: true } },
        { header: { key: 'x-absent', value: 'kept-old' }, append_action: 1 },
        { header: { key: 'x-absent-new', value: 'added' }, append_action: 1 },
        { header: { key: 'x-only-if', value: 'nope' }, append_action: 3 },
        { header: { key: 'x-raw', raw_value: Buffer.from('raw') } },
        { header: { key: 'host', value: 'evil' } },
      ],
      headers_to_remove: ['x-gone', 'host', ':path'],
    },
  }
  const inst = make(t, { url: srv.url, extraHeaders: { client: 'kourier', 'x-api-key': 's3cret' }, contextExtensions: { a: 'b' }, visibility: true })
  const ctx = fakeRequest({ url: '/p?q=1', host: 'web.ns.svc.cluster.local', headers: { 'x-set': 'old', 'x-add': 'one', 'x-absent': 'old', 'x-gone': 'bye', cookie: 'c=1' } })
  t.equal(await run(inst, ctx), undefined)
  t.equal(ctx.requestHeaders.get('x-set'), 'new')
  t.same(ctx.requestHeaders.getAll('x-add'), ['one', 'two'])
  t.equal(ctx.requestHeaders.get('x-absent'), 'old', 'ADD_IF_ABSENT keeps a present header')
  t.equal(ctx.requestHeaders.get('x-absent-new'), 'added')
  t.equal(ctx.requestHeaders.has('x-only-if'), false, 'OVERWRITE_IF_EXISTS does not add')
  t.equal(ctx.requestHeaders.get('x-raw'), 'raw')
  t.equal(ctx.requestHeaders.has('x-gone'), false)
  t.equal(ctx.requestHeaders.get('host'), 'web.ns.svc.cluster.local', 'host is neither set nor removed')
  const seen = srv.seen[0]!
  t.same(seen.metadata.get('client'), ['kourier'])
  t.same(seen.metadata.get('x-api-key'), ['s3cret'])
  t.same(seen.request.attributes.context_extensions, { a: 'b', visibility: 'ClusterLocal' })
  t.equal(seen.request.attributes.request.http.headers.cookie, 'c=1')
  t.equal(seen.request.attributes.request.http.size, -1, 'no content-length: size unknown')
})

t.test('deny: defaults and bounds', async (t) => {
  const srv = await authServer(t)
  const inst = make(t, { url: srv.url })
  srv.reply = { status: { code: 7 } }
  t.same(await run(inst, fakeRequest()), { status: 403 }, 'no denied_response: 403')
  srv.reply = { status: { code: 16 }, denied_response: { body: 'who are you' } }
  t.same(await run(inst, fakeRequest()), { status: 403, headers: {}, body: 'who are you' }, 'denied_response without status: 403')
  srv.reply = { status: { code: 7 }, denied_response: { status: { code: 429 }, headers: [{ header: { key: 'Retry-After', value: '5' } }, { header: { key: 'set-cookie', value: 'a=1' } }, { header: { key: 'set-cookie', value: 'b=2' }, append: { value: true } }, { header: { key: 'connection', value: 'close' } }] } }
  t.same(await run(inst, fakeRequest()), { status: 429, headers: { 'retry-after': '5', 'set-cookie': ['a=1', 'b=2'] }, body: '' }, 'hop-by-hop headers dropped')
})

t.test('errors: statusOnError unless failureModeAllow', async (t) => {
  const srv = await authServer(t)
  srv.reply = null
  t.same(await run(make(t, { url: srv.url }), fakeRequest()), { status: 403 }, 'a gRPC error status denies with 403, as Envoy')
  t.same(await run(make(t, { url: srv.url, statusOnError: 503 }), fakeRequest()), { status: 503 })
  t.equal(await run(make(t, { url: srv.url, failureModeAllow: true }), fakeRequest()), undefined)
  const dead = `grpc://127.0.0.1:${await deadPort()}`
  t.same(await run(make(t, { url: dead, timeout: '2s' }), fakeRequest()), { status: 403 }, 'nothing listening')
  t.equal(await run(make(t, { url: dead, timeout: '2s', failureModeAllow: true }), fakeRequest()), undefined)
})

t.test('skipProbes: Knative probes and ACME challenges are not checked', async (t) => {
  const srv = await authServer(t)
  srv.reply = { status: { code: 7 } }
  const inst = make(t, { url: srv.url, skipProbes: true })
  t.equal(await run(inst, fakeRequest({ url: '/healthz', headers: { 'k-network-probe': 'probe' } })), undefined)
  t.equal(await run(inst, fakeRequest({ url: '/.well-known/acme-challenge/abc' })), undefined)
  t.equal(srv.seen.length, 0)
  t.same(await run(inst, fakeRequest({ url: '/healthz', headers: { 'k-network-probe': 'queue' } })), { status: 403 })
  t.same(await run(make(t, { url: srv.url }), fakeRequest({ url: '/healthz', headers: { 'k-network-probe': 'probe' } })), { status: 403 }, 'off by default')
})

t.test('visibility of a host', async (t) => {
  t.equal(visibilityOf('web.default.svc.cluster.local'), 'ClusterLocal')
  t.equal(visibilityOf('web.default.svc'), 'ClusterLocal')
  t.equal(visibilityOf('web.default.example.com'), 'ExternalIP')
  t.equal(visibilityOf('web.default.localhost'), 'ExternalIP')
})

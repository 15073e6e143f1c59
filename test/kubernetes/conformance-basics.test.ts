// knative/networking ingress conformance, ported (basic.go, hosts.go, headers.go, retry.go): one
// host one split, h2c upstream, the suite's host shapes, appended headers before and after the
// split, the probe hash, tag-header matching and no retries, through the fake API server, a real
// `sluice serve --kubernetes` and real backends.
import t from 'tap'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { ingressHash } from '../../control/status/ingress-hash.ts'
import type { KIngress } from '../../control/resources/types.ts'
import { getIngress, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import {
  h2cBackend, h2cServiceFor, kingressOf, retryHandler, runtimeJson, runtimeService, uniq, whichBackend,
} from './fixtures/conformance.ts'

const NS = 'serving-tests'
const api = await startFakeApiServer()
t.teardown(() => api.close())
const sluice = await startClusterSluice(api)
t.teardown(() => sluice.stop())

t.test('basics: one host, one split → 200 runtime JSON', async (t) => {
  const name = uniq('basics')
  const b = await runtimeService(api, NS, name)
  t.teardown(() => b.close())
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths: [{ splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  const seen = runtimeJson(await request(sluice.port, `${name}.example.com`, '/'))
  t.equal(seen.headers['host'], `${name}.example.com`)
})

t.test('basics/http2: a Service port named http2 with appProtocol h2c is reached over HTTP/2', async (t) => {
  const name = uniq('http2')
  const b = await h2cBackend(name)
  t.teardown(() => b.close())
  for (const o of h2cServiceFor(NS, name, b)) api.apply(o)
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths: [{ splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  const seen = runtimeJson(await request(sluice.port, `${name}.example.com`, '/'))
  t.equal(seen.protoMajor, 2, 'the backend saw HTTP/2 from an HTTP/1.1 client')
  t.ok(b.requests.filter((r) => r.headers['k-network-probe'] === undefined).every((r) => r.protoMajor === 2))
})

t.test('hosts/multiple: the suite\'s four host shapes each → 200', async (t) => {
  const name = uniq('hosts')
  const b = await runtimeService(api, NS, name)
  t.teardown(() => b.close())
  const hosts = ['foo.com', 'www.foo.com', 'a-b-1.something-really-really-long.knative.dev', 'add.your.interesting.domain.here.io'].map((h) => `${name}.${h}`)
  api.apply(kingressOf(NS, name, [{ hosts, paths: [{ splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  for (const h of hosts) t.equal(runtimeJson(await request(sluice.port, h, '/')).headers['host'], h, h)
})

t.test('headers/pre-split: path appendHeaders overwrite what the client sent', async (t) => {
  const name = uniq('presplit')
  const b = await runtimeService(api, NS, name)
  t.teardown(() => b.close())
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths: [{ appendHeaders: { 'Foo-Bar-Baz': name }, splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  t.equal(runtimeJson(await request(sluice.port, `${name}.example.com`)).headers['foo-bar-baz'], name, 'no client header')
  t.equal(runtimeJson(await request(sluice.port, `${name}.example.com`, '/', { headers: { 'Foo-Bar-Baz': 'bogus' } })).headers['foo-bar-baz'], name, 'a bogus client value is overwritten, not joined')
})

t.test('headers/post-split: 4 splits × 25% each with its own header; all 4 seen within 100 requests', async (t) => {
  const name = uniq('postsplit')
  const b = await runtimeService(api, NS, name)
  t.teardown(() => b.close())
  const values = [0, 1, 2, 3].map((i) => `${name}-${i}`)
  api.apply(kingressOf(NS, name, [{
    hosts: [`${name}.example.com`],
    paths: [{ splits: values.map((v) => ({ service: name, percent: 25, appendHeaders: { 'Which-Backend': v } })) }],
  }]))
  await waitIngressReady(api, NS, name)
  for (const headers of [{}, { 'Which-Backend': 'bogus' }]) {
    const seen = new Set<string>()
    for (let i = 0; i < 100 && seen.size < values.length; i++) seen.add(await whichBackend(sluice.port, `${name}.example.com`, '/', { headers }))
    t.same([...seen].sort(), values, `every split seen, and only split values (client headers ${JSON.stringify(headers)})`)
  }
})

t.test('headers/probe: override → the hash Knative computes; any other hash is echoed', async (t) => {
  const name = uniq('probe')
  const b = await runtimeService(api, NS, name)
  t.teardown(() => b.close())
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths: [{ splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  const want = ingressHash(getIngress(api, NS, name) as unknown as KIngress)
  const r = await request(sluice.port, `${name}.example.com`, '/', { headers: { 'K-Network-Probe': 'probe', 'K-Network-Hash': 'override' } })
  t.equal(r.status, 200)
  t.equal(r.headers['k-network-hash'], want)
  const random = [...crypto.getRandomValues(new Uint8Array(32))].map((x) => x.toString(16).padStart(2, '0')).join('')
  const e = await request(sluice.port, `${name}.example.com`, '/', { headers: { 'K-Network-Probe': 'probe', 'K-Network-Hash': random } })
  t.equal(e.status, 200)
  t.equal(e.headers['k-network-hash'], random)
})

t.test('headers/tags: Knative-Serving-Tag exact match picks the tagged path', async (t) => {
  const name = uniq('tags')
  const b = await runtimeService(api, NS, name)
  t.teardown(() => b.close())
  api.apply(kingressOf(NS, name, [{
    hosts: [`${name}.example.com`],
    paths: [
      { headers: { 'Knative-Serving-Tag': { exact: 'the-tag' } }, appendHeaders: { 'Which-Backend': 'tag' }, splits: [{ service: name }] },
      { appendHeaders: { 'Which-Backend': 'no-tag' }, splits: [{ service: name }] },
    ],
  }]))
  await waitIngressReady(api, NS, name)
  const cases: [string, Record<string, string>, string][] = [
    ['matching tag header', { 'Knative-Serving-Tag': 'the-tag' }, 'tag'],
    ['no tag header', {}, 'no-tag'],
    ['empty tag header', { 'Knative-Serving-Tag': '' }, 'no-tag'],
    ['non-matching tag header', { 'Knative-Serving-Tag': 'not-the-tag' }, 'no-tag'],
  ]
  for (const [what, headers, want] of cases) t.equal(await whichBackend(sluice.port, `${name}.example.com`, '/', { headers }), want, what)
})

t.test('retry: a 503 is returned as is (no retry), the next request succeeds; no health checks', async (t) => {
  const name = uniq('retry')
  const b = await runtimeService(api, NS, name, retryHandler())
  t.teardown(() => b.close())
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths: [{ splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  t.equal((await request(sluice.port, `${name}.example.com`)).status, 503, 'first GET → 503')
  t.equal((await request(sluice.port, `${name}.example.com`)).status, 200, 'second GET → 200')
  const other = b.requests.filter((r) => r.headers['k-network-probe'] !== 'probe')
  t.equal(other.length, 2, `the backend saw only our two requests besides probes: ${JSON.stringify(other.map((r) => [r.method, r.url, r.headers['user-agent']]))}`)
})


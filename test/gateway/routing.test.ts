// Routing through a real `sluice serve`: hosts (exact, host:port, case, unknown), rule order, path
// prefixes, exact header matches, path/split header edits, rewriteHost, Knative Service routes
// (revision headers, tag hosts, tag-header routing) and cluster-local visibility.
import t from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, startSluice } from '../fixtures/sluice.ts'
import { coreBackend, echo, kingress, send, yamlDocs, type Reply } from './helpers.ts'

const names = ['foo', 'bar', 'baz', 'catchall', 'a', 'b', 'private'] as const
const be = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await startBackend(n)] as const)))
for (const b of Object.values(be)) t.teardown(() => b.close())

const cores = yamlDocs(
  ...coreBackend('foo', be.foo!.port),
  ...coreBackend('bar', be.bar!.port, { slice: true }),
  ...coreBackend('baz', be.baz!.port),
  ...coreBackend('catchall', be.catchall!.port, { slice: true }),
  ...[0, 1, 2, 3].flatMap((i) => coreBackend(`post-${i}`, be.foo!.port)),
)

const ingresses = yamlDocs(
  // conformance dispatch/path
  kingress('dispatch', [{
    hosts: ['dispatch.example.com'],
    paths: [
      { path: '/foo', splits: [{ service: 'foo', appendHeaders: { 'Which-Backend': 'foo' } }] },
      { path: '/bar', splits: [{ service: 'bar', appendHeaders: { 'Which-Backend': 'bar' } }] },
      { path: '/baz', splits: [{ service: 'baz', appendHeaders: { 'Which-Backend': 'baz' } }] },
      { splits: [{ service: 'catchall', appendHeaders: { 'Which-Backend': 'catchall' } }] },
    ],
  }]),
  // declared shortest first: the longest literal prefix must still win
  kingress('prefix', [{
    hosts: ['prefix.example.com'],
    paths: [
      { splits: [{ service: 'catchall' }] },
      { path: '/api', splits: [{ service: 'foo' }] },
      { path: '/api/v2', splits: [{ service: 'bar' }] },
      { path: '/api/v2/admin', splits: [{ service: 'baz' }] },
    ],
  }]),
  // exact header matches (conformance headers/tags) and a two-header match
  kingress('hdr', [{
    hosts: ['headers.example.com'],
    paths: [
      { headers: { 'Knative-Serving-Tag': 'the-tag' }, splits: [{ service: 'foo', appendHeaders: { 'Which-Backend': 'tag' } }] },
      { headers: { 'X-A': '1', 'X-B': '2' }, splits: [{ service: 'bar', appendHeaders: { 'Which-Backend': 'both' } }] },
      { splits: [{ service: 'catchall', appendHeaders: { 'Which-Backend': 'no-tag' } }] },
    ],
  }]),
  // two rules claim first.example.com: the first wins (conformance dispatch/rule with hosts per rule)
  kingress('rules', [
    { hosts: ['first.example.com'], paths: [{ appendHeaders: { 'Which-Rule': 'one' }, splits: [{ service: 'foo' }] }] },
    { hosts: ['first.example.com', 'second.example.com'], paths: [{ appendHeaders: { 'Which-Rule': 'two' }, splits: [{ service: 'bar' }] }] },
  ]),
  // conformance hosts/multiple
  kingress('multi', [{
    hosts: ['m.foo.com', 'm.www.foo.com', 'm.a-b-1.something-really-really-long.knative.dev', 'm.add.your.interesting.domain.here.io'],
    paths: [{ splits: [{ service: 'baz' }] }],
  }]),
  // path headers, then split headers, both overwriting what the client sent
  kingress('append', [{
    hosts: ['append.example.com'],
    paths: [{
      appendHeaders: { 'Foo-Bar-Baz': 'path-value', 'X-Path-Only': 'from-path' },
      splits: [{ service: 'foo', appendHeaders: { 'Foo-Bar-Baz': 'split-value' } }],
    }],
  }]),
  kingress('presplit', [{ hosts: ['presplit.example.com'], paths: [{ appendHeaders: { 'Foo-Bar-Baz': 'presplit' }, splits: [{ service: 'foo' }] }] }]),
  kingress('postsplit', [{
    hosts: ['postsplit.example.com'],
    paths: [{ splits: [0, 1, 2, 3].map((i) => ({ service: `post-${i}`, percent: 25, appendHeaders: { 'Foo-Bar-Baz': `split-${i}` } })) }],
  }]),
  kingress('rewrite', [{ hosts: ['vanity.example.com'], paths: [{ rewriteHost: 'target.default.svc.cluster.local', splits: [{ service: 'foo' }] }] }]),
  kingress('local', [{ hosts: ['local.default.svc.cluster.local'], visibility: 'ClusterLocal', paths: [{ splits: [{ service: 'bar' }] }] }]),
)

const services = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: ${be.a!.origin}
    spec:
      containers:
        - image: example.dev/hello
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: private
  labels:
    networking.knative.dev/visibility: cluster-local
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: ${be.private!.origin}
    spec:
      containers:
        - image: example.dev/private
---
apiVersion: serving.knative.dev/v1
kind: Revision
metadata:
  name: duo-a
  labels:
    serving.knative.dev/configuration: duo
    serving.knative.dev/service: duo
  annotations:
    sluice.dev/upstream: ${be.a!.origin}
spec:
  containers:
    - image: example.dev/duo
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: duo
spec:
  template:
    metadata:
      name: duo-b
      annotations:
        sluice.dev/upstream: ${be.b!.origin}
    spec:
      containers:
        - image: example.dev/duo
  traffic:
    - revisionName: duo-a
      percent: 100
      tag: old
    - latestRevision: true
      percent: 0
      tag: next
`

const s = await startSluice({ 'cores.yaml': cores, 'ingresses.yaml': ingresses, 'services.yaml': services })
t.teardown(() => s.stop())

const get = (host: string, path = '/', headers: Record<string, string> = {}, port = s.port): Promise<Reply> =>
  send(port, host, { path, headers })

t.test('conformance dispatch/path: each prefix reaches its backend, the rest the catch-all', async (t) => {
  const cases: [string, string][] = [
    ['/foo', 'foo'], ['/bar', 'bar'], ['/baz', 'baz'], ['/', 'catchall'], ['/asdf', 'catchall'],
    ['/foo/deeper?x=1', 'foo'], ['/bar?q=/baz', 'bar'],
  ]
  for (const [path, want] of cases) {
    const r = await get('dispatch.example.com', path)
    t.equal(r.status, 200, `${path} status`)
    const e = echo(r)
    t.equal(e.backend, want, `${path} backend`)
    t.equal(e.headers['which-backend'], want, `${path} Which-Backend`)
    t.equal(e.url, path, `${path} reaches the backend unchanged`)
  }
})

t.test('the longest literal path prefix wins whatever the declaration order', async (t) => {
  const cases: [string, string][] = [
    ['/api/v2/admin/users', 'baz'], ['/api/v2/admin', 'baz'], ['/api/v2/x', 'bar'], ['/api/v2', 'bar'],
    ['/api/v1', 'foo'], ['/api', 'foo'], ['/other', 'catchall'], ['/', 'catchall'],
  ]
  for (const [path, want] of cases) t.equal(echo(await get('prefix.example.com', path)).backend, want, path)
})

t.test('hosts: exact, with a port, any case; unknown hosts get 404', async (t) => {
  for (const host of ['dispatch.example.com', 'dispatch.example.com:8080', `dispatch.example.com:${s.port}`, 'DISPATCH.Example.COM']) {
    const r = await get(host, '/foo')
    t.equal(r.status, 200, host)
    t.equal(echo(r).backend, 'foo', host)
    t.equal(echo(r).headers.host, host, `${host}: Host reaches the backend as sent`)
  }
  const before = Object.values(be).reduce((n, b) => n + b.requests.length, 0)
  for (const host of ['unknown.example.com', 'example.com', 'foo.dispatch.example.com', 'dispatch.example.co', 'dispatch.example.com.evil']) {
    const r = await get(host, '/foo')
    t.equal(r.status, 404, `${host} → 404`)
    t.match(r.text, /no route for host/, host)
  }
  t.equal(Object.values(be).reduce((n, b) => n + b.requests.length, 0), before, 'no backend saw the unknown hosts')
})

t.test('conformance hosts/multiple: every host of the rule is served', async (t) => {
  for (const host of ['m.foo.com', 'm.www.foo.com', 'm.a-b-1.something-really-really-long.knative.dev', 'm.add.your.interesting.domain.here.io']) {
    const r = await get(host)
    t.equal(r.status, 200, host)
    t.equal(echo(r).backend, 'baz', host)
  }
})

t.test('rules: the first rule that matches a host wins; each host gets its own rule', async (t) => {
  const one = echo(await get('first.example.com'))
  t.equal(one.backend, 'foo')
  t.equal(one.headers['which-rule'], 'one')
  const two = echo(await get('second.example.com'))
  t.equal(two.backend, 'bar')
  t.equal(two.headers['which-rule'], 'two')
})

t.test('exact header matches (conformance headers/tags)', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ 'Knative-Serving-Tag': 'the-tag' }, 'tag'],
    [{}, 'no-tag'],
    [{ 'Knative-Serving-Tag': '' }, 'no-tag'],
    [{ 'Knative-Serving-Tag': 'not-the-tag' }, 'no-tag'],
    [{ 'Knative-Serving-Tag': 'THE-TAG' }, 'no-tag'],
    [{ 'X-A': '1', 'X-B': '2' }, 'both'],
    [{ 'X-A': '1' }, 'no-tag'],
    [{ 'X-A': '1', 'X-B': '3' }, 'no-tag'],
  ]
  for (const [headers, want] of cases) {
    t.equal(echo(await get('headers.example.com', '/', headers)).headers['which-backend'], want, JSON.stringify(headers))
  }
})

t.test('appendHeaders: path headers, then split headers, overwrite what the client sent', async (t) => {
  for (const headers of [{}, { 'Foo-Bar-Baz': 'bogus' }, { 'foo-bar-baz': 'bogus', 'X-Path-Only': 'bogus' }] as Record<string, string>[]) {
    const e = echo(await get('append.example.com', '/', headers))
    t.equal(e.headers['foo-bar-baz'], 'split-value', `split header wins with ${JSON.stringify(headers)}`)
    t.equal(e.headers['x-path-only'], 'from-path', `path header is set with ${JSON.stringify(headers)}`)
  }
  // conformance headers/pre-split
  for (const headers of [{}, { 'Foo-Bar-Baz': 'bogus' }] as Record<string, string>[]) {
    t.equal(echo(await get('presplit.example.com', '/', headers)).headers['foo-bar-baz'], 'presplit', `pre-split with ${JSON.stringify(headers)}`)
  }
  // conformance headers/post-split: 4 × 25%, all four values within 100 requests, bogus or not
  for (const headers of [{}, { 'Foo-Bar-Baz': 'bogus' }] as Record<string, string>[]) {
    const seen = new Set<unknown>()
    for (let i = 0; i < 100 && seen.size < 4; i++) seen.add(echo(await get('postsplit.example.com', '/', headers)).headers['foo-bar-baz'])
    t.same([...seen].sort(), ['split-0', 'split-1', 'split-2', 'split-3'], `post-split with ${JSON.stringify(headers)}`)
  }
})

t.test('rewriteHost replaces Host upstream; X-Forwarded-Host keeps the original', async (t) => {
  const r = await get('vanity.example.com', '/x')
  t.equal(r.status, 200)
  const e = echo(r)
  t.equal(e.backend, 'foo')
  t.equal(e.headers.host, 'target.default.svc.cluster.local')
  t.equal(e.headers['x-forwarded-host'], 'vanity.example.com')
})

t.test('Service routes carry Knative-Serving-Revision and -Namespace (overwriting the client)', async (t) => {
  for (const headers of [{}, { 'Knative-Serving-Revision': 'evil', 'Knative-Serving-Namespace': 'evil' }] as Record<string, string>[]) {
    const r = await get('hello.default.localhost', '/', headers)
    t.equal(r.status, 200)
    const e = echo(r)
    t.equal(e.backend, 'a')
    t.equal(e.headers['knative-serving-revision'], 'hello-00001')
    t.equal(e.headers['knative-serving-namespace'], 'default')
  }
})

t.test('tag hosts route 100% to their revision, even a 0% one', async (t) => {
  for (let i = 0; i < 10; i++) {
    t.equal(echo(await get('old-duo.default.localhost')).headers['knative-serving-revision'], 'duo-a')
    t.equal(echo(await get('next-duo.default.localhost')).headers['knative-serving-revision'], 'duo-b')
    t.equal(echo(await get('duo.default.localhost')).headers['knative-serving-revision'], 'duo-a')
  }
})

t.test('cluster-local visibility: 404 on the public port, 200 on the internal one', async (t) => {
  for (const host of ['private.default.localhost', 'private.default.svc.cluster.local', 'private.default.svc', 'private.default', 'local.default.svc.cluster.local']) {
    t.equal((await get(host)).status, 404, `public ${host}`)
  }
  t.equal(be.private!.requests.length + be.bar!.requests.filter((r) => r.headers.host === 'local.default.svc.cluster.local').length, 0,
    'nothing reached the cluster-local backends from the public port')
  for (const host of ['private.default.svc.cluster.local', 'private.default.svc', 'private.default']) {
    const r = await get(host, '/', {}, s.internalPort)
    t.equal(r.status, 200, `internal ${host}`)
    t.equal(echo(r).backend, 'private', `internal ${host}`)
    t.equal(echo(r).headers['knative-serving-revision'], 'private-00001', `internal ${host}`)
  }
  const local = await get('local.default.svc.cluster.local', '/', {}, s.internalPort)
  t.equal(local.status, 200, 'ClusterLocal KIngress rule on the internal port')
  t.equal(echo(local).backend, 'bar')
  // public routes are also reachable from inside, by both names
  t.equal(echo(await get('hello.default.svc.cluster.local', '/', {}, s.internalPort)).backend, 'a')
  t.equal(echo(await get('hello.default.localhost', '/', {}, s.internalPort)).backend, 'a')
  t.equal((await get('unknown.example.com', '/', {}, s.internalPort)).status, 404)
})

t.test('Knative-Serving-Tag routing follows config-features tag-header-based-routing', async (t) => {
  // disabled (the default): the header is just a header
  let e = echo(await get('duo.default.localhost', '/', { 'Knative-Serving-Tag': 'next' }))
  t.equal(e.headers['knative-serving-revision'], 'duo-a', 'disabled: a tag header does not route')
  t.equal(e.headers['knative-serving-default-route'], undefined)

  s.write('features.yaml', `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-features
  namespace: knative-serving
data:
  tag-header-based-routing: Enabled
`)
  const on = await eventually(async () =>
    echo(await get('duo.default.localhost', '/', { 'Knative-Serving-Tag': 'next' })).headers['knative-serving-revision'] === 'duo-b', 30_000, 50)
  t.ok(on, 'enabled: the tag header routes to the tag revision')

  e = echo(await get('duo.default.localhost', '/', { 'Knative-Serving-Tag': 'old' }))
  t.equal(e.headers['knative-serving-revision'], 'duo-a')
  t.equal(e.headers['knative-serving-tag'], 'old')
  for (const headers of [{}, { 'Knative-Serving-Tag': 'nope' }, { 'Knative-Serving-Tag': '' }] as Record<string, string>[]) {
    e = echo(await get('duo.default.localhost', '/', headers))
    t.equal(e.headers['knative-serving-revision'], 'duo-a', `default split for ${JSON.stringify(headers)}`)
    t.equal(e.headers['knative-serving-default-route'], 'true', `default route header for ${JSON.stringify(headers)}`)
  }
  // tag hosts say which tag they are
  e = echo(await get('next-duo.default.localhost'))
  t.equal(e.headers['knative-serving-revision'], 'duo-b')
  t.equal(e.headers['knative-serving-tag'], 'next')
  t.equal(e.headers['knative-serving-default-route'], undefined)
})

// The pure pipeline YAML → load → reconcile → compile, then matching as the gateway does it,
// with Knative's conformance cases (knative/networking test/conformance/ingress).
import t from 'tap'
import { loadFiles } from '../../../control/sources/load.ts'
import { readSettings } from '../../../control/settings/read-settings.ts'
import { reconcile } from '../../../control/reconcile/index.ts'
import { emptyState, type RevisionState } from '../../../control/state.ts'
import { compile } from '../../../control/compile/compile.ts'
import { RouteSlots } from '../../../gateway/metrics/route-slots.ts'
import { findHost, findPath, pickSplit } from '../../../gateway/match.ts'
import type { RouteTable } from '../../../gateway/route-table.ts'

function build(yaml: string, state: RevisionState = emptyState()): { table: RouteTable; state: RevisionState; objects: unknown[] } {
  const loaded = loadFiles([{ file: 'test.yaml', text: yaml }])
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors))
  const { settings, errors } = readSettings(loaded.resources.configMaps)
  if (errors.length > 0) throw new Error(JSON.stringify(errors))
  const out = reconcile({ resources: loaded.resources, settings, state, now: new Date('2026-01-01T00:00:00Z') })
  return { table: compile(out.model, new RouteSlots(), 1), state: out.state, objects: out.objects }
}

/** Where a request goes: the revision (or backend name) and the headers that would be set. */
function route(table: RouteTable, host: string, url = '/', headers: Record<string, string> = {}, internal = false) {
  const vh = findHost(internal ? table.internal : table.external, host)
  if (vh === null) return null
  const p = findPath(vh, url, headers)
  if (p === null) return null
  const s = pickSplit(p)
  if (s === null) return null
  const set: Record<string, string> = {}
  for (let i = 0; i < s.setHeaders.length; i += 2) set[s.setHeaders[i]] = s.setHeaders[i + 1]
  return { revision: s.backend.revision, backend: s.backend, set }
}

function endpointsFor(names: string[]): string {
  return names.map((n, i) => `---
apiVersion: v1
kind: Service
metadata: {name: ${n}}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: ${n}}
subsets:
  - addresses: [{ip: 127.0.0.${i + 1}}]
    ports: [{name: http, port: 8080}]
`).join('')
}

t.test('dispatch/percentage: 1,2,4,8,16,32,37,0,0,0 over 1000 requests', async (t) => {
  const weights = [1, 2, 4, 8, 16, 32, 37, 0, 0, 0]
  const names = weights.map((_, i) => `backend-${i}`)
  const { table } = build(`apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: percentage}
spec:
  rules:
    - hosts: [percentage.example.com]
      http:
        paths:
          - splits:
${weights.map((w, i) => `              - {serviceName: ${names[i]}, servicePort: 80, percent: ${w}, appendHeaders: {Which-Backend: ${names[i]}}}`).join('\n')}
${endpointsFor(names)}`)
  const seen = new Map<string, number>()
  for (let i = 0; i < 1000; i++) {
    const r = route(table, 'percentage.example.com')!
    seen.set(r.set['which-backend'], (seen.get(r.set['which-backend']) ?? 0) + 1)
  }
  weights.forEach((w, i) => {
    const got = seen.get(names[i]) ?? 0
    if (w === 0) t.equal(got, 0, `${names[i]} (0%) gets nothing`)
    else t.ok(Math.abs(got / 10 - w) <= 10, `${names[i]}: ${got / 10}% within ±10 points of ${w}%`)
  })
})

t.test('dispatch/path_and_percentage: 50/50 on /foo is 500±150 each; catch-all untouched', async (t) => {
  const { table } = build(`apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: pp}
spec:
  rules:
    - hosts: [pp.example.com]
      http:
        paths:
          - path: /foo
            splits:
              - {serviceName: a, servicePort: 80, percent: 50, appendHeaders: {Which-Backend: a}}
              - {serviceName: b, servicePort: 80, percent: 50, appendHeaders: {Which-Backend: b}}
          - splits:
              - {serviceName: c, servicePort: 80, appendHeaders: {Which-Backend: c}}
${endpointsFor(['a', 'b', 'c'])}`)
  const seen: Record<string, number> = {}
  for (let i = 0; i < 1000; i++) {
    const r = route(table, 'pp.example.com', '/foo')!
    seen[r.set['which-backend']] = (seen[r.set['which-backend']] ?? 0) + 1
  }
  t.ok(seen.a >= 350 && seen.a <= 650, `a got ${seen.a}`)
  t.ok(seen.b >= 350 && seen.b <= 650, `b got ${seen.b}`)
  t.equal(seen.c, undefined, 'the catch-all backend is not reached from /foo')
})

t.test('dispatch/path: longest literal prefix, catch-all for the rest', async (t) => {
  const { table } = build(`apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: paths}
spec:
  rules:
    - hosts: [paths.example.com]
      http:
        paths:
          - splits: [{serviceName: any, servicePort: 80, appendHeaders: {Which-Backend: any}}]
          - path: /foo
            splits: [{serviceName: foo, servicePort: 80, appendHeaders: {Which-Backend: foo}}]
          - path: /foo/bar
            splits: [{serviceName: foobar, servicePort: 80, appendHeaders: {Which-Backend: foobar}}]
          - path: /baz
            splits: [{serviceName: baz, servicePort: 80, appendHeaders: {Which-Backend: baz}}]
${endpointsFor(['any', 'foo', 'foobar', 'baz'])}`)
  const which = (url: string): string => route(table, 'paths.example.com', url)!.set['which-backend']
  t.equal(which('/foo'), 'foo')
  t.equal(which('/foo/x?q=1'), 'foo')
  t.equal(which('/foo/bar/baz'), 'foobar', 'the longer prefix wins even though declared later')
  t.equal(which('/baz'), 'baz')
  t.equal(which('/'), 'any')
  t.equal(which('/asdf'), 'any')
})

t.test('headers: path then split appendHeaders, split overwrites; header matches', async (t) => {
  const { table } = build(`apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: hdr}
spec:
  rules:
    - hosts: [hdr.example.com]
      http:
        paths:
          - headers: {X-Canary: {exact: "yes"}}
            appendHeaders: {Foo-Bar-Baz: path, Only-Path: p}
            splits: [{serviceName: canary, servicePort: 80, appendHeaders: {Foo-Bar-Baz: split}}]
          - appendHeaders: {Foo-Bar-Baz: name}
            splits: [{serviceName: main, servicePort: 80}]
${endpointsFor(['canary', 'main'])}`)
  const canary = route(table, 'hdr.example.com', '/', { 'x-canary': 'yes' })!
  t.equal(canary.revision, 'canary')
  t.same(canary.set, { 'foo-bar-baz': 'split', 'only-path': 'p' })
  t.equal(route(table, 'hdr.example.com', '/', { 'x-canary': 'no' })!.revision, 'main', 'an inexact value does not match')
  t.same(route(table, 'hdr.example.com', '/')!.set, { 'foo-bar-baz': 'name' })
})

t.test('hosts/multiple and host:port', async (t) => {
  const hosts = ['m.foo.com', 'm.www.foo.com', 'm.a-b-1.something-really-really-long.knative.dev', 'm.add.your.interesting.domain.here.io']
  const { table } = build(`apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: multi}
spec:
  rules:
    - hosts: [${hosts.join(', ')}]
      http:
        paths: [{splits: [{serviceName: multi, servicePort: 80}]}]
${endpointsFor(['multi'])}`)
  for (const h of hosts) t.equal(route(table, h)?.revision, 'multi', h)
  t.equal(route(table, 'M.FOO.COM:8080')?.revision, 'multi', 'case-insensitive, port ignored')
  t.equal(route(table, 'other.foo.com'), null, 'unknown host')
})

t.test('Service: tag hosts at 100%, 0% targets left out of the default host, revision headers', async (t) => {
  const svc = (image: string, traffic: string) => `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: web}
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: "http://127.0.0.1:9001"}
    spec:
      containers: [{image: ${image}}]
  traffic:
${traffic}`
  let r = build(svc('v1', '    - {latestRevision: true, percent: 100}'))
  r = build(svc('v2', `    - {revisionName: web-00001, percent: 100, tag: current}
    - {latestRevision: true, percent: 0, tag: latest}`), r.state)
  const counts: Record<string, number> = {}
  for (let i = 0; i < 200; i++) {
    const x = route(r.table, 'web.default.localhost')!
    counts[x.revision] = (counts[x.revision] ?? 0) + 1
  }
  t.same(counts, { 'web-00001': 200 }, 'the 0% latest revision gets nothing on the default host')
  t.equal(route(r.table, 'latest-web.default.localhost')!.revision, 'web-00002', 'the 0% tag still serves at 100%')
  t.equal(route(r.table, 'current-web.default.localhost')!.revision, 'web-00001')
  t.same(route(r.table, 'web.default.localhost')!.set, { 'knative-serving-revision': 'web-00001', 'knative-serving-namespace': 'default' })
  t.equal(route(r.table, 'web.default.svc.cluster.local'), null, 'cluster-local hosts are not public')
  t.equal(route(r.table, 'web.default.svc.cluster.local', '/', {}, true)!.revision, 'web-00001', 'but served internally')
  t.equal(route(r.table, 'web.default', '/', {}, true)!.revision, 'web-00001')
})

t.test('latest ready moves forward only: a not-ready newer revision keeps traffic', async (t) => {
  const svc = (annotations: string) => `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: app}
spec:
  template:
    metadata:
      annotations: {${annotations}}
    spec:
      containers: [{image: app}]`
  let r = build(svc('sluice.dev/upstream: "http://127.0.0.1:9001"'))
  t.equal(route(r.table, 'app.default.localhost')!.revision, 'app-00001')
  // The new template has no upstream: app-00002 is created but never ready.
  r = build(svc('example.dev/change: "2"'), r.state)
  t.equal(route(r.table, 'app.default.localhost')!.revision, 'app-00001', 'traffic stays on the last ready revision')
  r = build(svc('sluice.dev/upstream: "http://127.0.0.1:9003"'), r.state)
  t.equal(route(r.table, 'app.default.localhost')!.revision, 'app-00003', 'a ready newer revision takes over')
  t.same(route(r.table, 'app.default.localhost')!.backend.origins, ['http://127.0.0.1:9003'])
})

t.test('timeouts compile to the first-byte and idle limits', async (t) => {
  const { table } = build(`apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: slow}
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: "http://127.0.0.1:9001"}
    spec:
      timeoutSeconds: 30
      responseStartTimeoutSeconds: 10
      idleTimeoutSeconds: 5
      containers: [{image: slow}]`)
  const b = route(table, 'slow.default.localhost')!.backend
  t.equal(b.totalMs, 30000)
  t.equal(b.responseStartMs, 10000)
  t.equal(b.idleMs, 5000)
  t.equal(b.firstByteMs, 5000, 'the first response byte is bounded by the smallest limit')
})

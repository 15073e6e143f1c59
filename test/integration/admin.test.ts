// The admin listener of a real `sluice serve`: health, readiness, the JSON debug views and a
// Prometheus exposition checked by the real promtool.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { startBackend } from '../fixtures/backend.ts'
import { metric, request, serviceYaml, startSluice } from '../fixtures/sluice.ts'

const a = await startBackend('a')
const b = await startBackend('b')
t.teardown(() => a.close())
t.teardown(() => b.close())
// Port 9 (discard) is privileged, so no test process can be listening on it: connections are refused.
const dead = 9

const duo = `apiVersion: serving.knative.dev/v1
kind: Revision
metadata:
  name: duo-a
  labels:
    serving.knative.dev/configuration: duo
    serving.knative.dev/service: duo
  annotations:
    sluice.dev/upstream: ${a.origin}
spec:
  containers:
    - image: example.dev/duo
---
${serviceYaml('duo', b.origin, { revisionName: 'duo-b', traffic: [{ revisionName: 'duo-a', percent: 70 }, { latestRevision: true, percent: 30, tag: 'next' }] })}`

const s = await startSluice({
  'hello.yaml': serviceYaml('hello', a.origin),
  'duo.yaml': duo,
  'down.yaml': serviceYaml('down', `http://127.0.0.1:${dead}`),
})
t.teardown(() => s.stop())

interface Split { percent: number; backend: string; revision: string; origins: string[] }
interface HostView { host: string; owner: string; paths: { prefix: string; splits: Split[] }[] }
interface RoutesView { version: number; routeCount: number; external: HostView[]; internal: HostView[] }
interface Condition { type: string; status: string }
interface Obj {
  apiVersion: string; kind: string
  metadata: { name: string; namespace: string; labels?: Record<string, string>; generation?: number }
  spec: Record<string, unknown>
  status?: { url?: string; conditions?: Condition[]; traffic?: { revisionName?: string; percent?: number; latestRevision?: boolean; tag?: string; url?: string }[]; latestReadyRevisionName?: string; latestCreatedRevisionName?: string; observedGeneration?: number }
}

t.test('/healthz answers 200', async (t) => {
  const r = await s.admin('/healthz')
  t.equal(r.status, 200)
  t.equal(r.body, 'ok\n')
})

t.test('/readyz is 200 once the first configuration is loaded', async (t) => {
  const r = await s.admin('/readyz')
  t.equal(r.status, 200)
  t.equal(r.body, 'ready\n')
})

t.test('unknown admin paths are 404', async (t) => {
  const r = await s.admin('/nope')
  t.equal(r.status, 404)
})

t.test('/debug/routes lists every host with its splits', async (t) => {
  const r = await s.admin('/debug/routes')
  t.equal(r.status, 200)
  const routes = JSON.parse(r.body) as RoutesView
  t.equal(routes.version, 1, 'the first table')
  t.same(routes.external.map((h) => h.host).sort(), [
    'down.default.localhost', 'duo.default.localhost', 'hello.default.localhost', 'next-duo.default.localhost',
  ])
  t.same(routes.internal.map((h) => h.host).sort(), [
    'down.default', 'down.default.localhost', 'down.default.svc', 'down.default.svc.cluster.local',
    'duo.default', 'duo.default.localhost', 'duo.default.svc', 'duo.default.svc.cluster.local',
    'hello.default', 'hello.default.localhost', 'hello.default.svc', 'hello.default.svc.cluster.local',
    'next-duo.default', 'next-duo.default.localhost', 'next-duo.default.svc', 'next-duo.default.svc.cluster.local',
  ])
  const host = (name: string): HostView => routes.external.find((h) => h.host === name)!
  const hello = host('hello.default.localhost')
  t.equal(hello.owner, 'default/hello')
  t.same(hello.paths.map((p) => p.splits.map((x) => ({ percent: x.percent, revision: x.revision, origins: x.origins }))),
    [[{ percent: 100, revision: 'hello-00001', origins: [a.origin] }]])
  const d = host('duo.default.localhost')
  t.same(d.paths[0]!.splits.map((x) => ({ percent: x.percent, revision: x.revision, backend: x.backend, origins: x.origins })), [
    { percent: 70, revision: 'duo-a', backend: 'revision/default/duo-a', origins: [a.origin] },
    { percent: 30, revision: 'duo-b', backend: 'revision/default/duo-b', origins: [b.origin] },
  ])
  t.same(host('next-duo.default.localhost').paths[0]!.splits.map((x) => [x.percent, x.revision]), [[100, 'duo-b']])
})

t.test('/debug/resources lists every object with its computed status', async (t) => {
  const r = await s.admin('/debug/resources')
  t.equal(r.status, 200)
  const view = JSON.parse(r.body) as { loadedAt: string | null; errors: string[]; objects: Obj[] }
  t.same(view.errors, [])
  t.ok(view.loadedAt !== null && !Number.isNaN(Date.parse(view.loadedAt)), 'loadedAt is a timestamp')
  const find = (kind: string, name: string, apiVersion = 'serving.knative.dev/v1'): Obj | undefined =>
    view.objects.find((o) => o.kind === kind && o.apiVersion === apiVersion && o.metadata.name === name && o.metadata.namespace === 'default')
  const ready = (o: Obj | undefined): string | undefined => o?.status?.conditions?.find((c) => c.type === 'Ready')?.status

  const svc = find('Service', 'hello')
  t.ok(svc, 'the Service')
  t.equal(svc?.status?.url, `http://hello.default.localhost:${s.port}`, 'the URL names the public port (not 80)')
  t.equal(ready(svc), 'True', 'Service Ready=True')
  t.same(svc?.status?.traffic, [{ revisionName: 'hello-00001', latestRevision: true, percent: 100 }], 'traffic resolved to a revision name')
  t.equal(svc?.status?.latestReadyRevisionName, 'hello-00001')
  t.equal(svc?.status?.latestCreatedRevisionName, 'hello-00001')

  const cfg = find('Configuration', 'hello')
  t.equal(cfg?.metadata.generation, 1, 'generated Configuration')
  t.equal(ready(cfg), 'True')
  const rev = find('Revision', 'hello-00001')
  t.ok(rev, 'generated Revision hello-00001')
  t.equal(rev?.metadata.labels?.['serving.knative.dev/configuration'], 'hello')
  t.equal(rev?.metadata.labels?.['serving.knative.dev/service'], 'hello')
  t.equal(ready(rev), 'True')
  t.equal(ready(find('Route', 'hello')), 'True', 'generated Route')
  const ing = find('Ingress', 'hello', 'networking.internal.knative.dev/v1alpha1')
  t.ok(ing, 'generated Ingress')
  t.equal(ing?.metadata.labels?.['serving.knative.dev/route'], 'hello')
  t.equal(ready(ing), 'True')

  const duoSvc = find('Service', 'duo')
  t.same(duoSvc?.status?.traffic?.map((x) => ({ revisionName: x.revisionName, percent: x.percent, tag: x.tag })), [
    { revisionName: 'duo-a', percent: 70, tag: undefined },
    { revisionName: 'duo-b', percent: 30, tag: 'next' },
  ], 'split traffic resolved')
  t.ok(find('Revision', 'duo-a'), 'declared Revision')
  t.ok(find('Revision', 'duo-b'), 'named template Revision')
  t.notOk(view.objects.some((o) => o.kind === 'Revision' && o.metadata.name === 'hello-00002'), 'no extra revision')
  t.notOk(JSON.stringify(view).includes('"source"'), 'internal source references are not exposed')
})

t.test('/metrics passes promtool and has the required families after traffic', async (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    t.fail(`promtool is not installed (${probe.error.message}); install the Debian package "prometheus" (CI does: .ci/run)`)
    return
  }
  for (let i = 0; i < 5; i++) t.equal((await request(s.port, 'hello.default.localhost', `/r${i}`)).status, 200)
  for (let i = 0; i < 2; i++) t.equal((await request(s.port, 'nobody.example', '/')).status, 404)
  for (let i = 0; i < 3; i++) t.equal((await request(s.port, 'down.default.localhost', '/')).status, 502)

  const r = await s.admin('/metrics')
  t.equal(r.status, 200)
  const check = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8', timeout: 10_000 })
  t.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`)

  const body = r.body
  t.equal(metric(body, 'sluice_requests_total', { namespace: 'default', route: 'hello', revision: 'hello-00001', class: '2xx' }), 5)
  t.equal(metric(body, 'sluice_requests_total', { namespace: 'default', route: 'down', revision: 'down-00001', class: '5xx' }), 3)
  t.equal(metric(body, 'sluice_upstream_errors_total', { namespace: 'default', route: 'down', revision: 'down-00001', kind: 'connect' }), 3)
  // Knative's revision labels and the exact status code (docs/metrics.md)
  const hello = { namespace: 'default', service: 'hello', configuration: 'hello', revision: 'hello-00001', route: 'hello' }
  t.equal(metric(body, 'sluice_requests_total', { ...hello, code: '200', class: '2xx' }), 5)
  t.equal(metric(body, 'sluice_requests_total', { namespace: 'default', service: 'down', configuration: 'down', revision: 'down-00001', code: '502', class: '5xx' }), 3)
  t.equal(metric(body, 'sluice_revision_info', { namespace: 'default', service: 'duo', configuration: 'duo', revision: 'duo-a' }), 1, 'a declared Revision keeps its labels')
  t.equal(metric(body, 'sluice_unmatched_requests_total', { listener: 'external' }), 2)
  t.match(body, /^# TYPE sluice_request_duration_seconds histogram$/m)
  const labels = { namespace: 'default', route: 'hello', revision: 'hello-00001', class: '2xx' }
  t.equal(metric(body, 'sluice_request_duration_seconds_count', labels), 5)
  t.equal(metric(body, 'sluice_request_duration_seconds_bucket', { ...labels, le: '+Inf' }), 5)
  t.ok((metric(body, 'sluice_request_duration_seconds_sum', labels) ?? -1) > 0, 'duration sum > 0')
  t.match(body, /^# TYPE sluice_config_reloads_total counter$/m)
  t.equal(metric(body, 'sluice_config_reloads_total', { result: 'success' }), 1)
  t.equal(metric(body, 'sluice_config_reloads_total', { result: 'error' }), 0)
  t.equal(metric(body, 'sluice_config_errors'), 0)
  const routes = JSON.parse((await s.admin('/debug/routes')).body) as RoutesView
  t.equal(metric(body, 'sluice_routes'), routes.routeCount)
  t.ok(routes.routeCount > 0)
  t.match(body, /^# TYPE sluice_process_cpu_user_seconds_total counter$/m)
  t.ok((metric(body, 'sluice_process_cpu_user_seconds_total') ?? 0) > 0, 'process CPU counter')
  const unprefixed = body.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('sluice_'))
  t.same(unprefixed, [], 'every metric name starts with sluice_')
})

// The reconcile and compile caches (control/reconcile/cache.ts, CompileCache in control/compile/compile.ts):
// an unchanged KIngress keeps its routing model and compiled hosts from one pass to the next; a changed
// ingress, Service, EndpointSlice or setting rebuilds exactly what depends on it; and a cached build
// always routes like a build without a cache.
import t from 'tap'
import { loadFiles } from '../../../control/sources/load.ts'
import { readSettings } from '../../../control/settings/read-settings.ts'
import { reconcile, type ReconcileOutput } from '../../../control/reconcile/index.ts'
import { ReconcileCache } from '../../../control/reconcile/cache.ts'
import { emptyState } from '../../../control/state.ts'
import { CompileCache, compile, type EdgeOptions } from '../../../control/compile/compile.ts'
import { RouteSlots } from '../../../gateway/metrics/route-slots.ts'
import { findHost } from '../../../gateway/match.ts'
import type { KObject, ResourceSet } from '../../../control/resources/types.ts'
import type { RouteTable, VirtualHost } from '../../../gateway/route-table.ts'

const NOW = new Date('2026-01-01T00:00:00Z')

function ingress(name: string, service: string, header = 'v1'): string {
  return `---
apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: ${name}}
spec:
  rules:
    - hosts: [${name}.example.com]
      visibility: ExternalIP
      http:
        paths:
          - splits:
              - serviceName: ${service}
                servicePort: 80
                appendHeaders: {x-version: ${header}}
`
}

function service(name: string): string {
  return `---
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
`
}

function slice(service: string, ip: string): string {
  return `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${service}-abc, labels: {kubernetes.io/service-name: ${service}}}
addressType: IPv4
endpoints: [{addresses: [${ip}], conditions: {ready: true}}]
ports: [{name: http, port: 8080}]
`
}

function load(yaml: string): ResourceSet {
  const loaded = loadFiles([{ file: 'test.yaml', text: yaml }])
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors))
  return loaded.resources
}

/** The same resource set with these objects put in place of those of the same kind and name (the rest keep their identity, as a watch cache does). */
function replaced(rs: ResourceSet, yaml: string): ResourceSet {
  const fresh = load(yaml)
  const out = { ...rs } as Record<string, KObject[]>
  for (const [bucket, objs] of Object.entries(fresh) as [string, KObject[]][]) {
    for (const o of objs) {
      const list = [...out[bucket]!]
      const i = list.findIndex((x) => x.kind === o.kind && x.metadata.namespace === o.metadata.namespace && x.metadata.name === o.metadata.name)
      if (i >= 0) list[i] = o
      else list.push(o)
      out[bucket] = list
    }
  }
  return out as unknown as ResourceSet
}

class Pipeline {
  readonly rc = new ReconcileCache()
  readonly cc = new CompileCache()
  readonly slots = new RouteSlots()
  #version = 0

  build(rs: ResourceSet, edge: EdgeOptions = {}): { out: ReconcileOutput; table: RouteTable } {
    const { settings, errors } = readSettings(rs.configMaps)
    if (errors.length > 0) throw new Error(JSON.stringify(errors))
    const out = reconcile({ resources: rs, settings, state: emptyState(), now: NOW, cache: this.rc })
    return { out, table: compile(out.model, this.slots, ++this.#version, undefined, edge, this.cc) }
  }
}

/** Built again from scratch without any cache. */
function uncached(rs: ResourceSet, edge: EdgeOptions = {}): RouteTable {
  const { settings } = readSettings(rs.configMaps)
  const out = reconcile({ resources: rs, settings, state: emptyState(), now: NOW })
  return compile(out.model, new RouteSlots(), 1, undefined, edge)
}

function vhost(table: RouteTable, host: string): VirtualHost {
  const vh = findHost(table.external, host)
  if (vh === null) throw new Error(`no host ${host}`)
  return vh
}

/** What a table routes, without identities: host → paths → splits. */
function routes(table: RouteTable): unknown {
  return [...table.external.exact].map(([h, vh]) => [h, vh.owner, vh.paths.map((p) => [p.prefix, p.total, p.splits.map((s) => [s.backend.key, [...s.backend.origins], s.backend.idleMs, [...s.setHeaders], s.probeHash])])])
}

const base = [ingress('a', 'svc-a'), ingress('b', 'svc-b'), service('svc-a'), service('svc-b'), slice('svc-a', '10.0.0.1'), slice('svc-b', '10.0.0.2')].join('')

t.test('an unchanged ingress keeps its routing model and compiled hosts; the changed one is rebuilt', async (t) => {
  const p = new Pipeline()
  const rs1 = load(base)
  const one = p.build(rs1)
  t.same(p.rc.stats, { hits: 0, misses: 2 }, 'first pass builds everything')
  const rs2 = replaced(rs1, ingress('b', 'svc-b', 'v2'))
  const two = p.build(rs2)
  t.same(p.rc.stats, { hits: 1, misses: 1 })
  t.same(p.cc.stats, { hits: 1, misses: 1 })
  t.equal(vhost(two.table, 'a.example.com'), vhost(one.table, 'a.example.com'), 'a: the same VirtualHost object')
  t.not(vhost(two.table, 'b.example.com'), vhost(one.table, 'b.example.com'), 'b: rebuilt')
  t.same(vhost(two.table, 'b.example.com').paths[0]!.splits[0]!.setHeaders, ['x-version', 'v2'])
  t.not(two.table, one.table, 'the table itself is new')
  t.ok(Object.isFrozen(two.table) && Object.isFrozen(two.table.external), 'and frozen')
  const statusA = (o: ReconcileOutput) => o.objects.find((x) => x.kind === 'Ingress' && x.metadata.name === 'a')
  t.equal(statusA(two.out), statusA(one.out), 'a: the same status object')
  t.same(routes(two.table), routes(uncached(rs2)), 'routes like a build without a cache')
})

t.test('a changed EndpointSlice rebuilds the ingresses of its Service only', async (t) => {
  const p = new Pipeline()
  const rs1 = load(base)
  const one = p.build(rs1)
  const rs2 = replaced(rs1, slice('svc-a', '10.0.0.9'))
  const two = p.build(rs2)
  t.same(p.rc.stats, { hits: 1, misses: 1 })
  t.not(vhost(two.table, 'a.example.com'), vhost(one.table, 'a.example.com'), 'a: rebuilt')
  t.same(vhost(two.table, 'a.example.com').paths[0]!.splits[0]!.backend.origins, ['http://10.0.0.9:8080'])
  t.equal(vhost(two.table, 'b.example.com'), vhost(one.table, 'b.example.com'), 'b: reused')
  t.equal(two.table.backends.get('service/default/svc-b/80'), one.table.backends.get('service/default/svc-b/80'), 'b: the same compiled Backend')
  t.same(routes(two.table), routes(uncached(rs2)))
})

t.test('a changed Service, or one that goes away, rebuilds the ingresses that name it', async (t) => {
  const p = new Pipeline()
  const rs1 = load(base)
  const one = p.build(rs1)
  const rs2 = replaced(rs1, service('svc-b').replace('targetPort: 8080', 'targetPort: 9090'))
  const two = p.build(rs2)
  t.equal(vhost(two.table, 'a.example.com'), vhost(one.table, 'a.example.com'), 'a: reused')
  t.not(vhost(two.table, 'b.example.com'), vhost(one.table, 'b.example.com'), 'b: rebuilt')
  t.same(routes(two.table), routes(uncached(rs2)))

  const rs3 = { ...rs2, coreServices: rs2.coreServices.filter((s) => s.metadata.name !== 'svc-b') }
  const three = p.build(rs3)
  t.same(vhost(three.table, 'b.example.com').paths[0]!.splits[0]!.backend.origins, [], 'no Service: no origins (503)')
  const statusB = three.out.objects.find((x) => x.kind === 'Ingress' && x.metadata.name === 'b')!
  t.match(JSON.stringify(statusB.status), /Service default\/svc-b not found/, 'and its status says why')
  t.same(routes(three.table), routes(uncached(rs3)))
})

t.test('a changed ConfigMap setting that compile uses rebuilds every backend and host; a Secret changes no route', async (t) => {
  const p = new Pipeline()
  const rs1 = load(base)
  const one = p.build(rs1, { streamIdleMs: 0 })
  const two = p.build(rs1, { streamIdleMs: 5_000 })
  t.same(p.cc.stats, { hits: 0, misses: 2 }, 'stream-idle-timeout is part of every compiled backend')
  t.not(vhost(two.table, 'a.example.com'), vhost(one.table, 'a.example.com'))
  t.equal(vhost(two.table, 'a.example.com').paths[0]!.splits[0]!.backend.idleMs, 5_000)
  t.same(routes(two.table), routes(uncached(rs1, { streamIdleMs: 5_000 })))

  const secret = `---
apiVersion: v1
kind: Secret
metadata: {name: a-cert}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: ""}
`
  const rs3 = replaced(rs1, secret)
  const three = p.build(rs3, { streamIdleMs: 5_000 })
  t.same(p.rc.stats, { hits: 2, misses: 0 }, 'a Secret is not part of any routing model')
  t.equal(vhost(three.table, 'a.example.com'), vhost(two.table, 'a.example.com'))

  // A config-network change through its ConfigMap, as the control loop reads it.
  const cm = `---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-network, namespace: knative-serving}
data: {http-protocol: Redirected}
`
  const rs4 = replaced(rs3, cm)
  const four = p.build(rs4, { streamIdleMs: 5_000 })
  t.same(routes(four.table), routes(uncached(rs4, { streamIdleMs: 5_000 })), 'a ConfigMap change routes like an uncached build')
})

t.test('many passes with random changes route exactly like uncached builds', async (t) => {
  const p = new Pipeline()
  const names = Array.from({ length: 12 }, (_, i) => `i${i}`)
  let rs = load(names.map((n, i) => ingress(n, `svc-${i % 4}`)).join('') + [0, 1, 2, 3].map((i) => service(`svc-${i}`) + slice(`svc-${i}`, `10.0.0.${i + 1}`)).join(''))
  let seed = 7
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  for (let step = 0; step < 40; step++) {
    const what = rnd(3)
    if (what === 0) rs = replaced(rs, ingress(names[rnd(names.length)]!, `svc-${rnd(5)}`, `v${step}`))
    else if (what === 1) rs = replaced(rs, slice(`svc-${rnd(4)}`, `10.0.1.${step}`))
    else rs = replaced(rs, service(`svc-${rnd(5)}`))
    const { table } = p.build(rs)
    t.same(routes(table), routes(uncached(rs)), `step ${step}`)
  }
})

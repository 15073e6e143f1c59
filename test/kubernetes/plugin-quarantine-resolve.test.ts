// The quarantine's decisions, one by one, without a process: which problems refuse the load (a
// file's) and which quarantine a cluster Plugin (its last good config, else the 503 stand-in),
// what the instances do when create() throws, and what is kept as last good. The end-to-end
// behaviour is in plugin-quarantine.test.ts.
import t from 'tap'
import { emptyResourceSet, type KObject, type ResourceSet, type SourceRef } from '../../control/resources/types.ts'
import { PluginRegistry } from '../../control/plugins/registry.ts'
import { resolvePlugins, type ResolvedPlugin } from '../../control/plugins/resolve.ts'
import { PluginInstances } from '../../control/plugins/instances.ts'
import { NOT_READY_PRIORITY, PluginQuarantine } from '../../control/plugins/quarantine.ts'
import { clusterSource } from '../../control/sources/kubernetes/cluster-objects.ts'
import type { Logger } from '../../gateway/log.ts'
import type { RequestContext } from '../../plugins/api.ts'

const NS = 'q'

function fileSource(file: string): SourceRef {
  return { file, doc: 0, line: 1, column: 1, locate: () => ({ line: 3, column: 5 }) } as unknown as SourceRef
}

function pluginObject(name: string, spec: Record<string, unknown>, fromCluster = true): KObject {
  return { apiVersion: 'sluice.dev/v1alpha1', kind: 'Plugin', metadata: { name, namespace: NS }, spec, source: fromCluster ? clusterSource('Plugin', NS, name) : fileSource(`${name}.yaml`) } as unknown as KObject
}

function ingress(name: string, plugins: string, fromCluster = true): KObject {
  return { apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress', metadata: { name, namespace: NS, annotations: { 'sluice.dev/plugins': plugins } }, spec: { rules: [] }, source: fromCluster ? clusterSource('Ingress', NS, name) : fileSource(`${name}.yaml`) } as unknown as KObject
}

function resources(objs: readonly KObject[]): ResourceSet {
  const rs = emptyResourceSet()
  for (const o of objs) (o.kind === 'Plugin' ? rs.others : rs.ingresses as KObject[]).push(o)
  return rs
}

const lines: string[] = []
const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`), debug: () => {} } as unknown as Logger
const registry = new PluginRegistry()
const good = pluginObject('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'one' } } } })
const bad = pluginObject('tag', { plugin: 'headers', config: { bogus: true } })

t.test('without a quarantine (files, sluice validate) every Plugin problem refuses the load, as before', async (t) => {
  const r = resolvePlugins(resources([bad, ingress('app', 'tag'), ingress('lost', 'missing')]), registry, null)
  t.same(r.errors.map((e) => e.path), ['spec.config.bogus', 'metadata.annotations["sluice.dev/plugins"]'])
  t.same(r.quarantined.size, 0)
})

t.test('a file Plugin is never quarantined, even next to the cluster', async (t) => {
  const q = new PluginQuarantine(log)
  const fileBad = pluginObject('tag', { plugin: 'headers', config: { bogus: true } }, false)
  const r = resolvePlugins(resources([fileBad, ingress('app', 'tag')]), registry, null, q.view({ resources: emptyResourceSet(), errors: [], files: [] }))
  t.same(r.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}`), ['tag.yaml:3:5 spec.config.bogus'])
  t.same(r.quarantined.size, 0)
  // and a file's reference to a Plugin nobody declared is still the file's error
  const lost = resolvePlugins(resources([ingress('lost', 'missing', false)]), registry, null, q.view({ resources: emptyResourceSet(), errors: [], files: [] }))
  t.match(lost.errors[0]?.message, /no Plugin named "q\/missing"/)
})

t.test('a bad cluster Plugin: the 503 stand-in first, its last good config once one was served', async (t) => {
  const q = new PluginQuarantine(log)
  const view = () => q.view({ resources: emptyResourceSet(), errors: [], files: [] })
  const first = resolvePlugins(resources([bad, ingress('app', 'tag'), ingress('plain', '')]), registry, null, view())
  t.same(first.errors, [], 'nothing refuses the load')
  t.same(first.quarantined.get(`${NS}/tag`)?.fallback, 'fail-closed')
  const [standIn] = first.forOwner('Ingress', NS, 'app')
  t.equal(standIn?.priority, NOT_READY_PRIORITY, 'the stand-in runs before any other plugin')
  const res = standIn!.plugin.create(undefined as never, { route: { namespace: NS, name: 'app' }, baseDir: '.', log }).onRequest!({} as RequestContext)
  t.match(res, { status: 503, headers: { 'x-sluice-plugin-not-ready': `${NS}/tag` } })
  t.same(first.forOwner('Ingress', NS, 'plain'), [], 'a route that does not use it is untouched')
  t.same(first.problems.map((p) => `${p.file} ${p.path}: ${p.message}`), [
    `kubernetes:Ingress/${NS}/app metadata.annotations["sluice.dev/plugins"]: Plugin ${NS}/tag is not ready (see its status); this route answers 503 until it is fixed`,
  ])
  const reported = q.served(first, { failed: new Map(), routeProblems: [] })
  t.same(reported.map((p) => `${p.file} ${p.path}`), [
    `kubernetes:Ingress/${NS}/app metadata.annotations["sluice.dev/plugins"]`, `kubernetes:Plugin/${NS}/tag spec.config.bogus`, `kubernetes:Plugin/${NS}/tag `,
  ], 'the KIngress, the Plugin\'s error at its field, and what its routes do')
  t.equal(reported[2]?.message, 'routes that use it answer 503 until it is fixed (no good config of it was ever served)')
  q.served(first, { failed: new Map(), routeProblems: [] })
  t.equal(lines.filter((l) => l.includes('quarantined')).length, 1, 'logged once, not at every load')

  const fixed = resolvePlugins(resources([good, ingress('app', 'tag')]), registry, null, view())
  t.equal(fixed.quarantined.size, 0)
  q.served(fixed, { failed: new Map(), routeProblems: [] })
  t.match(lines.at(-1), /out of quarantine/)
  const again = resolvePlugins(resources([bad, ingress('app', 'tag')]), registry, null, view())
  t.same(again.quarantined.get(`${NS}/tag`)?.fallback, 'last-good')
  t.equal(again.forOwner('Ingress', NS, 'app')[0], fixed.forOwner('Ingress', NS, 'app')[0], 'the very last good config (its instances are kept)')
  q.served(again, { failed: new Map(), routeProblems: [] })
  // A deleted Plugin still named by a KIngress: the last good config, and the KIngress says so.
  const gone = resolvePlugins(resources([ingress('app', 'tag')]), registry, null, view())
  t.same(gone.quarantined.get(`${NS}/tag`), { fallback: 'last-good', errors: [] })
  t.match(gone.problems[0]?.message, /no Plugin named "q\/tag"; this route keeps its last good config/)
  q.served(gone, { failed: new Map(), routeProblems: [] })
  // Nothing names it any more: forgotten, so it cannot come back by itself.
  q.served(resolvePlugins(resources([]), registry, null, view()), { failed: new Map(), routeProblems: [] })
  t.same(resolvePlugins(resources([ingress('app', 'tag')]), registry, null, view()).quarantined.get(`${NS}/tag`)?.fallback, 'fail-closed')
})

t.test('a quarantined global Plugin (config-sluice plugins) affects every route, each KIngress says so', async (t) => {
  const q = new PluginQuarantine(log)
  const rs = resources([bad, ingress('app', ''), ingress('web', '')])
  rs.configMaps.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-sluice', namespace: NS }, data: { plugins: 'tag' }, source: clusterSource('ConfigMap', NS, 'config-sluice') } as never)
  const r = resolvePlugins(rs, registry, null, q.view({ resources: emptyResourceSet(), errors: [], files: [] }))
  t.same(r.errors, [])
  t.equal(r.forOwner('Ingress', NS, 'web')[0]?.configJson, 'not-ready', 'fail closed: a global auth plugin never leaves a route open')
  t.same(r.problems.map((p) => `${p.file} ${p.path}`), [`kubernetes:Ingress/${NS}/app config-sluice data.plugins`, `kubernetes:Ingress/${NS}/web config-sluice data.plugins`])
})

t.test('a Plugin the source rejected is quarantined like one that fails to resolve', async (t) => {
  const q = new PluginQuarantine(log)
  const rejected = [{ kind: 'Plugin', namespace: NS, name: 'typo', generation: 1, resourceVersion: '1', errors: [{ file: `kubernetes:Plugin/${NS}/typo`, line: 0, column: 0, path: 'spec.confg', message: 'unknown field' }] }]
  const r = resolvePlugins(resources([ingress('app', 'typo')]), registry, null, q.view({ resources: emptyResourceSet(), errors: [], files: [], rejected } as never))
  t.same(r.errors, [])
  t.equal(r.forOwner('Ingress', NS, 'app')[0]?.configJson, 'not-ready')
  t.match(r.problems[0]?.message, /Plugin q\/typo is not ready/)
})

t.test('create() throwing for a cluster Plugin: that route keeps its previous instance, or gets the stand-in', async (t) => {
  const instances = new PluginInstances(log)
  const p = (config: string, create: () => object): ResolvedPlugin => ({
    key: `${NS}/x`, priority: 0, config, configJson: config, baseDir: '.', source: clusterSource('Plugin', NS, 'x'),
    plugin: { name: 'x', priority: 0, validate: () => ({ ok: true, config: undefined as never }), create: create as never },
  })
  const one = { onRequest: () => undefined }
  instances.begin()
  t.equal(instances.entry(NS, 'a', p('1', () => one)).instance, one)
  instances.commit()
  instances.begin()
  const boom = () => { throw new Error('boom') }
  t.equal(instances.entry(NS, 'a', p('2', boom)).instance, one, 'route a keeps the instance of the previous config')
  t.equal(instances.entry(NS, 'b', p('2', boom)).name, `${NS}/x`)
  t.match(instances.failed.get(`${NS}/x`), { fallback: 'fail-closed', errors: [{ path: 'spec.config', message: /cannot start for route q\/a: boom/ }, { message: /route q\/b/ }] })
  t.same(instances.routeProblems.map((e) => `${e.file} ${e.path}: ${e.message}`), [
    `kubernetes:Ingress/${NS}/a plugins: Plugin ${NS}/x cannot start for this route (see its status); this route keeps its previous config of it`,
    `kubernetes:Ingress/${NS}/b plugins: Plugin ${NS}/x cannot start for this route (see its status); this route answers 503 until it is fixed`,
  ], 'each route\'s KIngress says so')
  instances.commit()
  instances.begin()
  t.equal(instances.entry(NS, 'a', p('2', boom)).instance, one, 'the failing config is tried again at the next compile, and fails again')
  t.equal(instances.failed.size, 1)
  instances.commit()
  // a file Plugin's create() failure still refuses the load
  instances.begin()
  t.throws(() => instances.entry(NS, 'c', { ...p('3', boom), source: fileSource('x.yaml') }), { name: 'Error', message: /cannot start/ })
  instances.abort()
})

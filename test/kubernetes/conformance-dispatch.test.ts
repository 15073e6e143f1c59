// knative/networking ingress conformance, ported (path.go, percentage.go, rule.go, visibility.go):
// path dispatch, weighted splits, several rules, and ClusterLocal rules, which the public port
// must not serve and the internal port (the private load balancer) must, through the fake API
// server, a real `sluice serve --kubernetes` and real backends. The suite reaches the private load
// balancer through an httpproxy pod; here the test is that pod and sends to the internal port itself.
import t from 'tap'
import type { Test } from 'tap'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import type { Backend } from '../fixtures/backend.ts'
import { request } from '../fixtures/sluice.ts'
import { startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import { distribution, kingressOf, runtimeJson, runtimeService, uniq, whichBackend, type PathSpec, type RuleSpec } from './fixtures/conformance.ts'

const NS = 'serving-tests'
const api = await startFakeApiServer()
t.teardown(() => api.close())
const sluice = await startClusterSluice(api)
t.teardown(() => sluice.stop())

async function services(t: Test, names: string[]): Promise<Backend[]> {
  const bs = await Promise.all(names.map((n) => runtimeService(api, NS, n)))
  t.teardown(() => Promise.all(bs.map((b) => b.close())))
  return bs
}

/** The four paths of dispatch/path, each split to its own Service with a Which-Backend header. */
async function pathDispatch(t: Test, name: string): Promise<PathSpec[]> {
  const names = ['foo', 'bar', 'baz', 'catch'].map((p) => `${name}-${p}`)
  await services(t, names)
  return ['/foo', '/bar', '/baz', undefined].map((path, i) => ({
    ...(path !== undefined ? { path } : {}),
    splits: [{ service: names[i]!, percent: 100, appendHeaders: { 'Which-Backend': names[i]! } }],
  }))
}

/** The 10 splits of dispatch/percentage: 1, 2, 4 … 32, then 37 and three at 0, each its own Service. */
async function percentageSplits(t: Test, name: string): Promise<{ paths: PathSpec[]; weights: Map<string, number> }> {
  const percents = [1, 2, 4, 8, 16, 32, 37, 0, 0, 0]
  const names = percents.map((_, i) => `${name}-${i}`)
  await services(t, names)
  return {
    paths: [{ splits: names.map((n, i) => ({ service: n, percent: percents[i]!, appendHeaders: { 'Which-Backend': n } })) }],
    weights: new Map(names.map((n, i) => [n, percents[i]!])),
  }
}

/** 1000 requests, 8 at a time: each Service's share within ±10 points of its weight, none for 0%. */
async function checkPercentages(t: Test, port: number, host: string, weights: Map<string, number>): Promise<void> {
  const total = 1000
  const counts = await distribution(total, 8, (agent) => whichBackend(port, host, '/', { agent }))
  for (const k of counts.keys()) t.ok(weights.has(k), `only split backends answer (saw ${k} ×${counts.get(k)})`)
  for (const [n, w] of weights) {
    const got = (100 * (counts.get(n) ?? 0)) / total
    if (w === 0) t.equal(got, 0, `${n} at 0% gets nothing`)
    else t.ok(Math.abs(got - w) <= 10, `${n}: ${got}% within 10 points of ${w}%`)
  }
}

const clusterHosts = (name: string): string[] => [`${name}.${NS}.svc.cluster.local`, `${name}.${NS}.svc`, `${name}.${NS}`]

t.test('dispatch/path: /foo /bar /baz to their own backends; "" and /asdf to the catch-all', async (t) => {
  const name = uniq('path')
  const paths = await pathDispatch(t, name)
  const host = `${name}.example.com`
  api.apply(kingressOf(NS, name, [{ hosts: [host], paths }]))
  await waitIngressReady(api, NS, name)
  for (const [path, want] of [['/foo', 'foo'], ['/bar', 'bar'], ['/baz', 'baz'], ['', 'catch'], ['/', 'catch'], ['/asdf', 'catch']] as const) {
    t.equal(await whichBackend(sluice.port, host, path || '/'), `${name}-${want}`, `${JSON.stringify(path)} → ${want}`)
  }
})

t.test('dispatch/percentage: 10 weighted splits, 1000 requests', async (t) => {
  const name = uniq('pct')
  const { paths, weights } = await percentageSplits(t, name)
  api.apply(kingressOf(NS, name, [{ hosts: [`${name}.example.com`], paths }]))
  await waitIngressReady(api, NS, name)
  await checkPercentages(t, sluice.port, `${name}.example.com`, weights)
})

t.test('dispatch/path_and_percentage: /foo 50/50 plus a catch-all', async (t) => {
  const name = uniq('pathpct')
  const [a, b, c] = [`${name}-a`, `${name}-b`, `${name}-catch`]
  await services(t, [a, b, c])
  const host = `${name}.example.com`
  api.apply(kingressOf(NS, name, [{
    hosts: [host],
    paths: [
      { path: '/foo', splits: [a, b].map((s) => ({ service: s, percent: 50, appendHeaders: { 'Which-Backend': s } })) },
      { splits: [{ service: c, percent: 100, appendHeaders: { 'Which-Backend': c } }] },
    ],
  }]))
  await waitIngressReady(api, NS, name)
  const counts = await distribution(1000, 8, (agent) => whichBackend(sluice.port, host, '/foo', { agent }))
  t.same([...counts.keys()].sort(), [a, b], `only the two /foo backends answer: ${JSON.stringify([...counts])}`)
  for (const s of [a, b]) t.ok(Math.abs((counts.get(s) ?? 0) - 500) <= 150, `${s}: ${counts.get(s) ?? 0} within 500 ± 150`)
})

t.test('dispatch/rule: two rules with different hosts each reach their own backend', async (t) => {
  const name = uniq('rule')
  const [a, b] = [`${name}-a`, `${name}-b`]
  await services(t, [a, b])
  const rules: RuleSpec[] = [a, b].map((s) => ({ hosts: [`${s}.example.com`], paths: [{ appendHeaders: { 'Which-Backend': s }, splits: [{ service: s }] }] }))
  api.apply(kingressOf(NS, name, rules))
  await waitIngressReady(api, NS, name)
  for (const s of [a, b]) t.equal(await whichBackend(sluice.port, `${s}.example.com`), s)
})

t.test('visibility: ClusterLocal hosts → 404 on the public port, 200 on the internal port', async (t) => {
  const name = uniq('vis')
  await services(t, [name])
  const hosts = clusterHosts(name)
  api.apply(kingressOf(NS, name, [{ hosts, visibility: 'ClusterLocal', paths: [{ splits: [{ service: name }] }] }]))
  await waitIngressReady(api, NS, name)
  for (const h of hosts) {
    t.equal((await request(sluice.port, h, '/')).status, 404, `public ${h} → 404`)
    t.equal(runtimeJson(await request(sluice.internalPort, h, '/')).backend, name, `internal ${h} → 200`)
  }
})

t.test('visibility/split: the percentage table on a ClusterLocal host', async (t) => {
  const name = uniq('vissplit')
  const { paths, weights } = await percentageSplits(t, name)
  const host = clusterHosts(name)[0]!
  api.apply(kingressOf(NS, name, [{ hosts: [host], visibility: 'ClusterLocal', paths }]))
  await waitIngressReady(api, NS, name)
  t.equal((await request(sluice.port, host, '/')).status, 404, 'public → 404')
  await checkPercentages(t, sluice.internalPort, host, weights)
})

t.test('visibility/path: path dispatch on a ClusterLocal host', async (t) => {
  const name = uniq('vispath')
  const paths = await pathDispatch(t, name)
  const host = clusterHosts(name)[0]!
  api.apply(kingressOf(NS, name, [{ hosts: [host], visibility: 'ClusterLocal', paths }]))
  await waitIngressReady(api, NS, name)
  for (const path of ['/', '/foo', '/bar', '/baz']) t.equal((await request(sluice.port, host, path)).status, 404, `public ${path} → 404`)
  for (const [path, want] of [['/foo', 'foo'], ['/bar', 'bar'], ['/baz', 'baz'], ['/', 'catch'], ['/asdf', 'catch']] as const) {
    t.equal(await whichBackend(sluice.internalPort, host, path), `${name}-${want}`, `internal ${path} → ${want}`)
  }
})

// config/grafana/sluice.json against a real `sluice serve`: every PromQL expression of the
// dashboard (panel targets and template variables) parses (promtool check rules); every metric it
// selects is among the samples of /metrics after traffic, carrying every label the selector matches
// on; and a real Prometheus (Debian's, like promtool) scraping that sluice returns series for every
// expression, joins included. The traffic covers each family the dashboard draws: 2xx/4xx/5xx, an
// upstream error, an unmatched host, and a cold start through the activator (initial-scale 0).
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startBackend } from '../fixtures/backend.ts'
import { ROOT, eventually, metric, request, serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { exposition, selectors } from '../fixtures/promql.ts'
import { appPids, appServiceYaml, attempt, cond, configMapYaml, resource } from '../activator/fixtures/helpers.ts'

interface Target { expr: string; refId: string }
interface Panel { title: string; type: string; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: string | { query: string } }
interface Dashboard { panels: Panel[]; templating: { list: Variable[] } }

const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'config/grafana/sluice.json'), 'utf8')) as Dashboard

/** [where, PromQL] for every panel target, nested rows included. */
function panelExprs(panels: readonly Panel[]): [string, string][] {
  const out: [string, string][] = []
  for (const p of panels) {
    for (const tg of p.targets ?? []) out.push([`panel "${p.title}" ${tg.refId}`, tg.expr])
    out.push(...panelExprs(p.panels ?? []))
  }
  return out
}
const exprs = panelExprs(dashboard.panels)
/** label_values(selector, label) of the query variables: [where, selector, label] */
const variables = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => {
  const q = typeof v.query === 'string' ? v.query : v.query.query
  const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q)
  if (m === null) throw new Error(`variable ${v.name}: expected label_values(selector, label), got ${q}`)
  return [`variable $${v.name}`, m[1]!, m[2]!] as const
})

/** Grafana's variables replaced by values Prometheus accepts. */
const concrete = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replace(/\$(namespace|service|revision)\b/g, '.*')

const up = await startBackend('up')
t.teardown(() => up.close())
const TAG = `grafana-${process.pid}`
const s = await startSluice({
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true' }),
  'hello.yaml': serviceYaml('hello', up.origin),
  // Port 9 (discard) is privileged, so nothing listens there: connections are refused.
  'down.yaml': serviceYaml('down', 'http://127.0.0.1:9'),
  'lazy.yaml': appServiceYaml(TAG, { name: 'lazy', annotations: { 'autoscaling.knative.dev/initial-scale': '0' } }),
})
t.teardown(() => s.stop())

t.test('the extractor reads selectors, not functions, keywords or label lists', async (t) => {
  t.same(selectors('histogram_quantile(0.99, sum by (le, revision) (rate(a_bucket{x=~"1,}", y!="z"}[5m]))) / on (revision) group_left (service) b * 2 > bool c offset 5m'), [
    { name: 'a_bucket', labels: ['x', 'y'] }, { name: 'b', labels: [] }, { name: 'c', labels: [] },
  ])
  t.same(selectors('sum(rate(x_total[1m])) by (code) and y'), [{ name: 'x_total', labels: [] }, { name: 'y', labels: [] }])
  t.same(selectors('max without (le) (z{a="b"})'), [{ name: 'z', labels: ['a'] }])
})

t.test('the dashboard has panels for what it promises', async (t) => {
  t.ok(exprs.length >= 20, `${exprs.length} expressions`)
  const names = new Set(exprs.flatMap(([, e]) => selectors(concrete(e)).map((s) => s.name)))
  for (const n of ['sluice_requests_total', 'sluice_request_duration_seconds_bucket', 'sluice_autoscaler_actual_instances',
    'sluice_activator_queue_depth', 'sluice_cold_start_duration_seconds_count', 'sluice_cold_start_duration_seconds_bucket']) {
    t.ok(names.has(n), `uses ${n}`)
  }
})

t.test('promtool parses every expression', async (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    t.fail(`promtool is not installed (${probe.error.message}); install the Debian package "prometheus" (CI does: .ci/run)`)
    return
  }
  // Each expression as a recording rule: `promtool check rules` parses them all and names the bad one.
  const all = [...exprs.map(([, e]) => concrete(e)), ...variables.map(([, sel]) => concrete(sel))]
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-grafana-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'rules.yml')
  const rules = all.map((e, i) => `      - record: dashboard:expr:${i}\n        expr: ${JSON.stringify(e)}`)
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`)
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 10_000 })
  const listing = r.status === 0 ? '' : `:\n${r.stdout}${r.stderr}\n${all.map((e, i) => `${i}: ${e}`).join('\n')}`
  t.equal(r.status, 0, `promtool check rules${listing}`)
  t.match(r.stdout, new RegExp(`SUCCESS: ${all.length} rules found`))
})

t.test('every metric the dashboard selects is exported by a running sluice, with the labels it matches on', async (t) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    t.fail(`promtool is not installed (${probe.error.message}); install the Debian package "prometheus" (CI does: .ci/run)`)
    return
  }
  for (let i = 0; i < 5; i++) t.equal((await request(s.port, 'hello.default.localhost', `/r${i}`)).status, 200)
  t.equal((await request(s.port, 'hello.default.localhost', '/?status=404')).status, 404)
  t.equal((await request(s.port, 'hello.default.localhost', '/?status=503')).status, 503)
  t.equal((await request(s.port, 'down.default.localhost', '/')).status, 502)
  t.equal((await request(s.port, 'nobody.example', '/')).status, 404)
  // The first request of a revision at zero waits in the activator for a cold start.
  t.ok(await eventually(async () => cond(await resource(s, 'Route', 'lazy'), 'Ready')?.status === 'True', 60_000, 100), 'lazy is routed')
  t.same(appPids(TAG), [], 'at zero: no process yet')
  const first = await attempt(s.port, 'lazy', '/hello', 'first', { timeoutMs: 30_000 })
  t.equal(first.status, 200, `cold start served (${first.error ?? first.body.trim()})`)
  t.equal(appPids(TAG).length, 1, 'the app started')
  t.equal(metric((await s.admin('/metrics')).body, 'sluice_cold_start_duration_seconds_count', { revision: 'lazy-00001' }), 1, 'one cold start')
  // Per-revision gauges are sampled by the scaling loop: wait until it has seen the revision.
  const ready = await eventually(async () => (metric((await s.admin('/metrics')).body, 'sluice_revision_concurrency', { revision: 'lazy-00001' }) !== undefined), 30_000, 100)
  t.ok(ready, 'the scaling loop sampled lazy-00001')

  const body = (await s.admin('/metrics')).body
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 10_000 })
  t.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`)
  t.equal(metric(body, 'sluice_requests_total', { namespace: 'default', service: 'hello', configuration: 'hello', revision: 'hello-00001', code: '404', class: '4xx' }), 1, 'an exact code next to its class')

  const exported = exposition(body)
  const checked = new Set<string>()
  const check = (where: string, expr: string): void => {
    for (const sel of selectors(concrete(expr))) {
      const labels = exported.get(sel.name)
      if (labels === undefined) {
        t.fail(`${where}: ${sel.name} is not among the samples of /metrics after traffic\n  in: ${expr}`)
        continue
      }
      const missing = sel.labels.filter((l) => !labels.has(l))
      t.same(missing, [], `${where}: ${sel.name} carries ${sel.labels.join(', ') || 'no matched labels'}`)
      checked.add(sel.name)
    }
  }
  for (const [where, expr] of exprs) check(where, expr)
  for (const [where, sel, label] of variables) {
    check(where, sel)
    const name = selectors(sel)[0]?.name ?? ''
    t.ok(exported.get(name)?.has(label), `${where}: ${name} has the label ${label}`)
  }
  t.ok(checked.size >= 15, `${checked.size} distinct metrics checked`)
})

t.test('a real Prometheus scraping sluice has data for every panel', async (t) => {
  const probe = spawnSync('prometheus', ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined) {
    t.fail(`prometheus is not installed (${probe.error.message}); install the Debian package "prometheus" (CI does: .ci/run)`)
    return
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-prometheus-'))
  const config = path.join(dir, 'prometheus.yml')
  writeFileSync(config, [
    'global:', '  scrape_interval: 1s', '  evaluation_interval: 1s',
    'scrape_configs:', '  - job_name: sluice', '    static_configs:', `      - targets: ['127.0.0.1:${s.adminPort}']`, '',
  ].join('\n'))
  const port = await freePort()
  const prom = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let promLog = ''
  prom.stderr.on('data', (d: Buffer) => { promLog += d.toString() })
  t.teardown(async () => {
    const exited = new Promise((r) => prom.once('exit', r))
    if (prom.exitCode === null) prom.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  })
  const query = async (expr: string): Promise<number> => {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`)
    const j = await r.json() as { status: string; error?: string; data?: { result: unknown[] } }
    if (j.status !== 'success') throw new Error(`${expr}: ${j.error ?? r.status}`)
    return j.data?.result.length ?? 0
  }
  // Grafana's $__rate_interval is at least four scrape intervals; 30 s covers every scrape so far.
  const all = [...exprs, ...variables.map(([where, sel]) => [where, sel] as const)]
    .map(([where, e]) => [where, e.replaceAll('$__rate_interval', '30s').replace(/\$(namespace|service|revision)\b/g, '.*')] as const)
  let empty: string[] = all.map(([where]) => where)
  const ok = await eventually(async () => {
    // keep requests flowing, so rates are not only zeros
    await request(s.port, 'hello.default.localhost', '/')
    try {
      const counts = await Promise.all(all.map(([, e]) => query(e)))
      empty = all.filter((_, i) => counts[i] === 0).map(([where, e]) => `${where}: ${e}`)
    } catch (err) {
      if (!(err instanceof TypeError)) throw err // fetch failed: Prometheus is still starting
    }
    return empty.length === 0
  }, 60_000, 500)
  t.ok(ok, `every expression returns series${ok ? '' : `; still empty:\n${empty.join('\n')}\n${promLog}`}`)
  t.ok(await query('up{job="sluice"} == 1') === 1, 'Prometheus scrapes sluice')
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

// Outlier and breaker settings from config-sluice and revision annotations to the compiled
// Backend: annotations override the cluster defaults field by field, the compile cache keeps a
// backend when the settings' values are unchanged (new objects each load), and rebuilds it when
// they change.
import t from 'tap'
import { loadFiles } from '../../../control/sources/load.ts'
import { readSettings } from '../../../control/settings/read-settings.ts'
import { reconcile } from '../../../control/reconcile/index.ts'
import { emptyState } from '../../../control/state.ts'
import { CompileCache, compile } from '../../../control/compile/compile.ts'
import { edgeOptions } from '../../../control/settings/kourier-keys.ts'
import { RouteSlots } from '../../../gateway/metrics/route-slots.ts'
import { DEFAULT_OUTLIER_POLICY } from '../../../gateway/activator/outlier-detector.ts'
import { DEFAULT_RETRY_BUDGET } from '../../../gateway/activator/retry-budget.ts'
import { resilienceOverrides } from '../../../control/settings/outlier-keys.ts'

const svc = (name: string, annotations: string, meta = '') => `---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: ${name}${meta}}
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: http://127.0.0.1:9001,http://127.0.0.1:9002
${annotations}
    spec:
      containers: [{image: example.dev/x}]
`
const sluiceCm = (data: string) => `---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-sluice, namespace: knative-serving}
data:
${data}
`

function build(yaml: string, cache?: CompileCache) {
  const loaded = loadFiles([{ file: 'test.yaml', text: yaml }])
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors))
  const { settings, errors } = readSettings(loaded.resources.configMaps)
  if (errors.length > 0) throw new Error(JSON.stringify(errors))
  const out = reconcile({ resources: loaded.resources, settings, state: emptyState(), now: new Date('2026-01-01T00:00:00Z') })
  return compile(out.model, new RouteSlots(), 1, undefined, edgeOptions(settings), cache)
}

t.test('defaults, config-sluice, then the annotations on top', async (t) => {
  const plain = build(svc('a', ''))
  t.same(plain.backends.get('revision/default/a-00001')!.outlier, DEFAULT_OUTLIER_POLICY, 'Envoy-like defaults: 5 gateway errors, 30s, 50%, 5xx off')
  const yaml = sluiceCm('  outlier-base-ejection: "10s"\n  breaker-max-requests: "100"\n  outlier-consecutive-5xx: "7"')
    + svc('a', '        sluice.dev/outlier-consecutive-5xx: "3"\n        sluice.dev/breaker-max-pending: "20"') + svc('b', '')
  const table = build(yaml)
  const a = table.backends.get('revision/default/a-00001')!
  t.same(a.outlier, { ...DEFAULT_OUTLIER_POLICY, baseEjectionMs: 10_000, consecutive5xx: 3 })
  t.same(a.breaker, { maxPending: 20, maxRequests: 100, maxConnections: 0 })
  const b = table.backends.get('revision/default/b-00001')!
  t.equal(b.outlier!.consecutive5xx, 7, 'b has no annotation: config-sluice applies')
  t.equal(b.breaker!.maxPending, 0)
})

t.test('a changed config-sluice value reaches the backend through the compile cache', async (t) => {
  const cache = new CompileCache()
  const yaml = sluiceCm('  outlier-base-ejection: "10s"') + svc('a', '')
  const one = build(yaml, cache).backends.get('revision/default/a-00001')!
  const changed = build(sluiceCm('  outlier-base-ejection: "20s"') + svc('a', ''), cache).backends.get('revision/default/a-00001')!
  t.not(changed, one, 'a changed value compiles the backend again')
  t.equal(changed.outlier!.baseEjectionMs, 20_000)
})

t.test('annotation values: only valid ones become overrides; errors are reported through the callback', async (t) => {
  const errors: string[] = []
  const o = resilienceOverrides({ 'sluice.dev/outlier-max-ejection-percent': '101', 'sluice.dev/outlier-base-ejection': '1m', 'sluice.dev/breaker-max-conns': '1' }, (k, m) => errors.push(`${k}: ${m}`))
  t.same(o, { baseEjectionMs: 60_000 })
  t.equal(errors.length, 2)
  t.match(errors[0], /must be a whole number from 0 to 100/)
  t.match(errors[1], /unknown annotation sluice\.dev\/breaker-max-conns/)
  t.equal(resilienceOverrides({ 'other/x': '1' }), undefined, 'no outlier annotations: no overrides')
})

t.test('sluice.dev/retry-attempts on a Service reaches its route\'s splits', async (t) => {
  const table = build(svc('a', '', ', annotations: {sluice.dev/retry-attempts: "0"}') + svc('b', ''))
  const splitOf = (host: string) => table.external.exact.get(host)!.paths[0]!.splits[0]!
  t.equal(splitOf('a.default.localhost').retry?.attempts, 0)
  t.equal(splitOf('b.default.localhost').retry, undefined, 'no annotation: the default policy')
})

t.test('the retry budget: config-sluice retry-budget-*, a revision\'s sluice.dev/retry-budget-* on top', async (t) => {
  t.same(build(svc('a', '')).backends.get('revision/default/a-00001')!.retryBudget, DEFAULT_RETRY_BUDGET, 'Envoy\'s defaults: 20%, at least 3')
  t.same(DEFAULT_RETRY_BUDGET, { budgetPercent: 20, minConcurrency: 3 })
  const table = build(sluiceCm('  retry-budget-percent: "10"\n  retry-budget-min-concurrency: "1"')
    + svc('a', '        sluice.dev/retry-budget-percent: "50"') + svc('b', ''))
  t.same(table.backends.get('revision/default/a-00001')!.retryBudget, { budgetPercent: 50, minConcurrency: 1 }, 'the annotation overrides its field only')
  t.same(table.backends.get('revision/default/b-00001')!.retryBudget, { budgetPercent: 10, minConcurrency: 1 })
  const cache = new CompileCache()
  build(sluiceCm('  retry-budget-percent: "10"') + svc('a', ''), cache)
  t.equal(build(sluiceCm('  retry-budget-percent: "30"') + svc('a', ''), cache).backends.get('revision/default/a-00001')!.retryBudget!.budgetPercent, 30, 'a changed value compiles it again')

  const bad = readSettings(loadFiles([{ file: 'c.yaml', text: sluiceCm('  retry-budget-percent: "120"\n  retry-budget-min-concurrency: "-1"') }]).resources.configMaps)
  t.same(bad.errors.map((e) => [e.file, e.line, e.path]), [['c.yaml', 6, 'data.retry-budget-percent'], ['c.yaml', 7, 'data.retry-budget-min-concurrency']])
  t.match(bad.errors[0]!.message, /config-sluice: retry-budget-percent must be a whole number from 0 to 100 \(the share of the revision's active requests that may be retrying at once\), got "120"/)
  t.match(bad.errors[1]!.message, /retry-budget-min-concurrency must be a whole number from 0 to 1000000/)
  t.same(bad.settings.sluice.resilience.retry, DEFAULT_RETRY_BUDGET, 'bad values keep the defaults')
  const errors: string[] = []
  t.same(resilienceOverrides({ 'sluice.dev/retry-budget-min-concurrency': '0', 'sluice.dev/retry-budget-pct': '5', 'sluice.dev/retry-attempts': '2' }, (k, m) => errors.push(`${k}: ${m}`)), { minConcurrency: 0 })
  t.equal(errors.length, 1, 'sluice.dev/retry-attempts (a route\'s annotation) is not an unknown revision annotation')
  t.match(errors[0], /unknown annotation sluice\.dev\/retry-budget-pct; the outlier, breaker and retry budget annotations are .*sluice\.dev\/retry-budget-percent/)
})

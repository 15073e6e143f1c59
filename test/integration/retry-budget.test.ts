// The retry budget through a real sluice: config-sluice's retry-budget-percent and
// retry-budget-min-concurrency set the cluster's budget, a revision's sluice.dev/retry-budget-*
// annotation overrides it. Three instances that reset every connection (a full outage) with many
// requests active at once: under a budget of 0% (at least 1 at once) the failures beyond it are
// answered 502 at once and counted in sluice_retries_budget_exhausted_total; a revision whose
// annotation raises the budget to 100% retries every one of them and refuses none.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { metric, request, startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'

/** An instance that holds requests while `held` is an array (to reset them together), else resets each at once. */
async function resetting() {
  const u = { origin: '', seen: 0, held: [] as http.IncomingMessage[] | null }
  const srv = http.createServer((req) => {
    u.seen++
    if (u.held !== null) u.held.push(req)
    else req.socket.destroy()
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  u.origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
  return u
}

function service(name: string, upstreams: string[], annotations: Record<string, string>): string {
  return [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  template:', '    metadata:', '      annotations:',
    `        sluice.dev/upstream: ${upstreams.join(',')}`,
    ...Object.entries(annotations).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`),
    '    spec:', '      containers:', '        - image: example.dev/hello',
  ].join('\n') + '\n'
}

const configSluice = (data: Record<string, string>): string => [
  'apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-sluice', '  namespace: knative-serving', 'data:',
  ...Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
].join('\n') + '\n'

const N = 20
const tight = await Promise.all([resetting(), resetting(), resetting()])
const wide = await Promise.all([resetting(), resetting(), resetting()])
const s = await startSluice({
  // Outlier ejection off: every instance stays in play, so only the budget limits the retries.
  'config-sluice.yaml': configSluice({ 'retry-budget-percent': '0', 'retry-budget-min-concurrency': '1', 'outlier-consecutive-gateway-errors': '0' }),
  'tight.yaml': service('tight', tight.map((u) => u.origin), {}),
  'wide.yaml': service('wide', wide.map((u) => u.origin), { 'sluice.dev/retry-budget-percent': '100' }),
})
t.teardown(() => s.stop())

/** N requests active at once, then every instance resets them together (and every later send). */
async function outage(name: string, ups: { held: http.IncomingMessage[] | null; seen: number }[]): Promise<number[]> {
  const host = `${name}.default.localhost`
  await waitFor(async () => (await s.admin('/debug/instances')).body.includes(`revision/default/${name}-00001`), { what: `${name} is routed` })
  const sent = Promise.all(Array.from({ length: N }, () => request(s.port, host).then((r) => r.status)))
  await waitFor(() => ups.reduce((n, u) => n + u.held!.length, 0) === N, { what: `all ${name} requests reached the instances` })
  for (const u of ups) {
    const held = u.held!
    u.held = null
    for (const req of held) req.socket.destroy()
  }
  return sent
}

const metrics = async (revision: string) => {
  const body = (await s.admin('/metrics')).body
  return { retries: metric(body, 'sluice_retries_total', { revision }) ?? 0, exhausted: metric(body, 'sluice_retries_budget_exhausted_total', { revision }) ?? 0 }
}

t.test('config-sluice\'s budget (0%, at least 1 at once): the failures beyond it are answered 502 at once, and counted', async (t) => {
  const statuses = await outage('tight', tight)
  t.same([...new Set(statuses)], [502], 'every request fails: no instance can serve it')
  const m = await metrics('tight-00001')
  t.ok(m.exhausted > 0, `${m.exhausted} retries refused by the budget`)
  // Each request whose first send failed either started retrying (at most 3 sends more) or was refused.
  t.ok(m.retries <= 3 * (N - m.exhausted), `${m.retries} retries for ${N - m.exhausted} requests let retry`)
  const seen = tight.reduce((n, u) => n + u.seen, 0)
  t.equal(seen, N + m.retries, `the instances saw ${seen} sends: the first ones and the counted retries`)
})

t.test('the revision\'s sluice.dev/retry-budget-percent: "100" overrides it: nothing refused', async (t) => {
  const statuses = await outage('wide', wide)
  t.same([...new Set(statuses)], [502])
  const m = await metrics('wide-00001')
  t.equal(m.exhausted, 0, 'no retry refused')
  t.equal(m.retries, 3 * N, 'every request sent 3 times more (sluice.dev/retry-attempts default)')
})

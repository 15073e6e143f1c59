// A bad edit never replaces the last good table: every kind of mistake is reported with the exact
// `file:line:column field.path: message` that `sluice validate` prints, in the log, on /readyz, on
// /debug/resources and in the metrics, while the old routes keep serving; fixing the file recovers.
import t from 'tap'
import { startBackend, type Backend } from '../fixtures/backend.ts'
import { eventually, metric, request, serviceYaml, startSluice, validateErrors, type SluiceProcess } from '../fixtures/sluice.ts'
import { appServiceYaml, attempt, cond, configMapYaml, resource } from '../activator/fixtures/helpers.ts'

const HOST = 'hello.default.localhost'
const a = await startBackend('a')
const b = await startBackend('b')
t.teardown(() => a.close())
t.teardown(() => b.close())

const upstream = (be: Backend): string => be.origin

interface Case { name: string; files: Record<string, string> }

const cases: Case[] = [
  {
    name: 'bad YAML syntax',
    files: {
      'svc.yaml': `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  labels: {app: [x
spec:
  template:
    spec:
      containers:
        - image: example.dev/hello
`,
    },
  },
  {
    name: 'unknown kind',
    files: {
      'svc.yaml': `apiVersion: serving.knative.dev/v1
kind: Servce
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: example.dev/hello
`,
    },
  },
  {
    name: 'missing required field (no containers)',
    files: {
      'svc.yaml': `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: http://127.0.0.1:9
    spec:
      timeoutSeconds: 30
`,
    },
  },
  {
    name: 'percents that do not sum to 100',
    files: { 'svc.yaml': serviceYaml('hello', 'http://127.0.0.1:9', { traffic: [{ latestRevision: true, percent: 60 }, { latestRevision: true, percent: 30, tag: 'x' }] }) },
  },
  {
    name: 'a percent of 150',
    files: { 'svc.yaml': serviceYaml('hello', 'http://127.0.0.1:9', { traffic: [{ latestRevision: true, percent: 150 }] }) },
  },
  {
    name: 'an env reference to a Secret that is not declared',
    files: {
      'svc.yaml': `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: http://127.0.0.1:9
    spec:
      containers:
        - image: example.dev/hello
          env:
            - name: PASSWORD
              valueFrom:
                secretKeyRef: {name: db, key: password}
`,
    },
  },
  {
    name: 'a misspelt container field',
    files: {
      'svc.yaml': `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        sluice.dev/upstream: http://127.0.0.1:9
    spec:
      containers:
        - image: example.dev/hello
          envv:
            - {name: A, value: b}
`,
    },
  },
  {
    name: 'a bad setting in config-sluice (next to a still-good Service file)',
    files: {
      'settings.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-sluice
  namespace: knative-serving
data:
  drain-timeout: soon
`,
    },
  },
]

async function metrics(s: SluiceProcess): Promise<string> {
  const r = await s.admin('/metrics')
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return r.body
}

/** the `at=` values of the ERROR lines logged in `log` */
function loggedErrors(log: string): string[] {
  const out: string[] = []
  for (const m of log.matchAll(/ ERROR {1,2}configuration error; keeping the last good configuration at=("(?:[^"\\]|\\.)*"|\S+)$/gm)) {
    out.push(m[1]!.startsWith('"') ? JSON.parse(m[1]!) as string : m[1]!)
  }
  return out
}

t.test('every bad edit keeps the last good table, reports the exact error, and recovers', async (t) => {
  let current = a
  const s = await startSluice({ 'svc.yaml': serviceYaml('hello', upstream(current)) })
  t.teardown(() => s.stop())
  const first = await request(s.port, HOST)
  t.equal(first.status, 200)
  t.equal(first.headers['x-backend'], 'a')

  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const before = await metrics(s)
      const errorsBefore = metric(before, 'sluice_config_reloads_total', { result: 'error' }) ?? NaN
      const successBefore = metric(before, 'sluice_config_reloads_total', { result: 'success' }) ?? NaN
      const logFrom = s.logs().length
      for (const [name, text] of Object.entries(c.files)) s.write(name, text)

      // the truth: what `sluice validate` says about the very same directory
      const expected = await validateErrors(s.configDir)
      t.ok(expected.length > 0, 'validate finds errors')
      for (const line of expected) t.match(line, /^\/.+:\d+:\d+( [^ :]+)?: .+/, `formatted as file:line:column field.path: message: ${line}`)

      const readyBody = `ready: serving the last good configuration; the latest load has errors:\n${expected.join('\n')}\n`
      t.ok(await eventually(async () => (await s.admin('/readyz')).body === readyBody, 5000), 'the reload is rejected')
      const ready = await s.admin('/readyz')
      t.equal(ready.status, 200, '/readyz stays 200: the last good table is served')
      t.equal(ready.body, readyBody, '/readyz lists the exact errors')

      t.ok(await eventually(() => loggedErrors(s.logs().slice(logFrom)).length >= expected.length, 2000), 'logged')
      const logged = loggedErrors(s.logs().slice(logFrom))
      t.same([...new Set(logged)], expected, 'the log has the exact error lines')
      for (const line of expected) t.ok(s.logs().includes(`at=${JSON.stringify(line)}`), `log line: ${line}`)

      const body = await metrics(s)
      t.equal(metric(body, 'sluice_config_errors'), expected.length, 'sluice_config_errors counts the errors')
      t.ok((metric(body, 'sluice_config_reloads_total', { result: 'error' }) ?? 0) > errorsBefore, 'reloads_total{result="error"} increased')
      t.equal(metric(body, 'sluice_config_reloads_total', { result: 'success' }), successBefore, 'no successful reload')

      const res = JSON.parse((await s.admin('/debug/resources')).body) as { errors: string[] }
      t.same(res.errors, expected, '/debug/resources lists the errors')

      for (let i = 0; i < 5; i++) {
        const r = await request(s.port, HOST, `/old${i}`)
        t.equal(r.status, 200, 'the old table keeps serving')
        t.equal(r.headers['x-backend'], current.name, 'on the old backend')
      }

      // fix: the Service moves to the other backend, any extra file goes away
      const next = current === a ? b : a
      for (const name of Object.keys(c.files)) if (name !== 'svc.yaml') s.remove(name)
      s.write('svc.yaml', serviceYaml('hello', upstream(next)))
      t.ok(await eventually(async () => (await s.admin('/readyz')).body === 'ready\n', 5000), 'recovers')
      const after = await metrics(s)
      t.equal(metric(after, 'sluice_config_errors'), 0, 'errors gone')
      t.ok((metric(after, 'sluice_config_reloads_total', { result: 'success' }) ?? 0) > successBefore, 'a successful reload')
      t.same((JSON.parse((await s.admin('/debug/resources')).body) as { errors: string[] }).errors, [])
      const r = await request(s.port, HOST, '/fixed')
      t.equal(r.status, 200)
      t.equal(r.headers['x-backend'], next.name, 'the new configuration is live')
      current = next
    })
  }
})

t.test('a server started with an invalid config is not ready and says why', async (t) => {
  const s = await startSluice({ 'svc.yaml': cases[2]!.files['svc.yaml']! })
  t.teardown(() => s.stop())
  const expected = await validateErrors(s.configDir)
  t.equal(expected.length, 1)
  t.match(expected[0], /spec\.template\.spec\.containers: missing field/)
  const r = await s.admin('/readyz')
  t.equal(r.status, 503)
  t.equal(r.body, `not ready: no valid configuration loaded yet\n${expected.join('\n')}\n`)
  t.equal((await s.admin('/healthz')).status, 200, 'alive all the same')
  t.ok(s.logs().includes(`at=${JSON.stringify(expected[0])}`), 'logged')
  const body = await metrics(s)
  t.equal(metric(body, 'sluice_config_errors'), 1)
  t.equal(metric(body, 'sluice_config_reloads_total', { result: 'error' }), 1)
  t.equal(metric(body, 'sluice_config_reloads_total', { result: 'success' }), 0)
  t.equal(metric(body, 'sluice_routes'), 0)
  t.equal((await request(s.port, HOST)).status, 404, 'nothing is routed')

  s.write('svc.yaml', serviceYaml('hello', upstream(b)))
  t.ok(await eventually(async () => (await s.admin('/readyz')).status === 200, 5000), 'ready once fixed')
  t.equal((await s.admin('/readyz')).body, 'ready\n')
  const ok = await request(s.port, HOST)
  t.equal(ok.status, 200)
  t.equal(ok.headers['x-backend'], 'b')
})

t.test('errors last through scale events until the file is fixed', async (t) => {
  // A scale event (an instance of a scale-from-zero Service becoming ready) re-reconciles the
  // last good load; that must not hide the errors of the bad file still on disk.
  const tag = `bad-config-scale-${process.pid}`
  const s = await startSluice({
    'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true' }),
    'lazy.yaml': appServiceYaml(tag, { name: 'lazy', annotations: { 'autoscaling.knative.dev/initial-scale': '0' } }),
  })
  t.teardown(() => s.stop())
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'lazy-00001'), 'Ready')?.status === 'True', 15_000, 50), 'revision ready at zero')
  t.equal(cond(await resource(s, 'Revision', 'lazy-00001'), 'Active')?.status, 'False', 'no instance yet')

  s.write('bad.yaml', cases[1]!.files['svc.yaml']!)
  const expected = await validateErrors(s.configDir)
  t.equal(expected.length, 1)
  const readyBody = `ready: serving the last good configuration; the latest load has errors:\n${expected.join('\n')}\n`
  t.ok(await eventually(async () => (await s.admin('/readyz')).body === readyBody, 5000), 'the bad load is reported')

  // the scale event: the first request starts an instance; its readiness refreshes the status
  const r = await attempt(s.port, 'lazy', '/wake', 'wake', { timeoutMs: 20_000 })
  t.equal(r.status, 200, `served (${r.error ?? r.body.trim()})`)
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'lazy-00001'), 'Active')?.status === 'True', 10_000, 50), 'the status was refreshed')

  for (let i = 0; i < 3; i++) {
    const ready = await s.admin('/readyz')
    t.equal(ready.body, readyBody, '/readyz still lists the error')
    t.equal(metric(await metrics(s), 'sluice_config_errors'), 1, 'sluice_config_errors still counts it')
    t.same((JSON.parse((await s.admin('/debug/resources')).body) as { errors: string[] }).errors, expected, '/debug/resources still lists it')
  }

  s.remove('bad.yaml')
  t.ok(await eventually(async () => (await s.admin('/readyz')).body === 'ready\n', 5000), 'fixing the file clears the error')
  t.equal(metric(await metrics(s), 'sluice_config_errors'), 0)
  t.same((JSON.parse((await s.admin('/debug/resources')).body) as { errors: string[] }).errors, [])
})

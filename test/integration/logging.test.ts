// What `sluice serve` writes to its terminal: the URLs it serves at start, and with
// SLUICE_LOG_FORMAT=json every line as one JSON object.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { brokerUrls, servedUrls, ServedUrlLog } from '../../control/served-urls.ts'
import { BIN, request, serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { appServiceYaml, configMapYaml } from '../activator/fixtures/helpers.ts'

t.test('brokerUrls: each served Broker at the public ingress host, with the port when it is not 80', async (t) => {
  const brokers = new Map([['team/orders', {}], ['default/default', {}]]) as unknown as Parameters<typeof brokerUrls>[0]['brokers']
  const ingressHosts = { internal: ['broker-ingress.knative-eventing.svc.cluster.local'], external: ['broker-ingress.localhost'] }
  t.same(brokerUrls({ brokers, ingressHosts }, { port: 8080, internalPort: 8081 }).map((u) => [u.namespace, u.name, u.url]), [
    ['default', 'default', 'http://broker-ingress.localhost:8080/default/default'],
    ['team', 'orders', 'http://broker-ingress.localhost:8080/team/orders'],
  ])
  t.equal(brokerUrls({ brokers, ingressHosts }, { port: 80, internalPort: 8081 })[0]!.url, 'http://broker-ingress.localhost/default/default')
  t.same(brokerUrls({ brokers, ingressHosts: { internal: ingressHosts.internal, external: [] } }, { port: 8080, internalPort: 8081 }), [], 'no public ingress host, no line')
})

t.test('ServedUrlLog: every URL at start, then each URL once when it starts being served', async (t) => {
  const lines: string[] = []
  const log = { debug: () => {}, warn: () => {}, error: () => {}, info: (msg: string) => { lines.push(msg) } }
  const route = (traffic: object[]) => ({ apiVersion: 'serving.knative.dev/v1', kind: 'Route', metadata: { name: 'hello', namespace: 'default', labels: {}, annotations: {} }, spec: {},
    status: { url: 'http://hello.default.localhost', traffic } as Record<string, unknown> })
  const tagged = route([{ tag: 'old', url: 'http://old-hello.default.localhost', percent: 0 }])
  const none = { brokers: new Map(), ingressHosts: { internal: [], external: ['broker-ingress.localhost'] } }
  const one = { brokers: new Map([['default/default', {}]]), ingressHosts: none.ingressHosts } as unknown as Parameters<typeof brokerUrls>[0]
  const urls = new ServedUrlLog(log)
  urls.update([route([])], none, 'cluster.local')
  t.same(lines, [], 'nothing before the listeners are open')
  urls.start({ port: 8080, internalPort: 8081 }, [route([])], none, 'cluster.local')
  t.same(lines, ['serving hello at http://hello.default.localhost:8080'])
  urls.update([tagged], one, 'cluster.local')
  t.same(lines.slice(1), ['serving hello tag old at http://old-hello.default.localhost:8080', 'broker default takes events at http://broker-ingress.localhost:8080/default/default'],
    'a tag URL that appears later (its revision became ready), and a new Broker')
  urls.update([tagged], one, 'cluster.local')
  t.equal(lines.length, 3, 'an update that adds nothing logs nothing')
  urls.update([route([])], one, 'cluster.local')
  urls.update([tagged], one, 'cluster.local')
  t.same(lines.slice(3), ['serving hello tag old at http://old-hello.default.localhost:8080'], 'a URL that went away and came back is logged again')
})

t.test('servedUrls: route URLs and tag URLs on the listener that serves them', async (t) => {
  const route = (name: string, status: object) => ({ apiVersion: 'serving.knative.dev/v1', kind: 'Route', metadata: { name, namespace: 'ns', labels: {}, annotations: {} }, spec: {}, status: status as Record<string, unknown> })
  const urls = servedUrls([
    route('a', { url: 'http://a.ns.example.com', traffic: [{ percent: 100 }, { tag: 'v1', url: 'http://v1-a.ns.example.com', percent: 0 }] }),
    route('b', { url: 'http://b.ns.svc.cluster.local' }),
    route('c', { url: 'https://c.ns.example.com' }),
    { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'a', namespace: 'ns', labels: {}, annotations: {} }, spec: {}, status: { url: 'http://a.ns.example.com' } },
  ], { port: 8080, internalPort: 8081, tlsPort: 8443 }, 'cluster.local')
  t.same(urls, [
    { namespace: 'ns', name: 'a', tag: '', url: 'http://a.ns.example.com:8080' },
    { namespace: 'ns', name: 'a', tag: 'v1', url: 'http://v1-a.ns.example.com:8080' },
    { namespace: 'ns', name: 'b', tag: '', url: 'http://b.ns.svc.cluster.local:8081' },
    { namespace: 'ns', name: 'c', tag: '', url: 'https://c.ns.example.com:8443' },
  ])
})

t.test('serve logs one INFO line per served URL at start', async (t) => {
  const s = await startSluice({
    'hello.yaml': serviceYaml('hello', 'http://127.0.0.1:9', { traffic: [{ latestRevision: true, percent: 100 }, { revisionName: 'hello-00001', percent: 0, tag: 'old' }] }),
  })
  t.teardown(() => s.stop())
  const served = (): string[] => s.logs().split('\n').filter((l) => / INFO +serving /.test(l))
  await waitFor(() => served().length >= 2, { what: 'two serving lines' })
  const lines = served()
  t.equal(lines.length, 2, lines.join('\n'))
  t.match(lines[0], new RegExp(`INFO  serving hello at http://hello\\.default\\.[a-z.]+:${s.port} namespace=default$`))
  t.match(lines[1], new RegExp(`INFO  serving hello tag old at http://old-hello\\.default\\.[a-z.]+:${s.port} namespace=default$`))
})

/** A Service that runs `node FILE` in `dir` (NODE_OPTIONS cleared: tap's hooks stay out of the app). */
function nodeServiceYaml(name: string, dir: string, file: string): string {
  return [
    'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  template:', '    spec:',
    '      containers:', '        - image: example.dev/node',
    `          command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(file)}]`,
    `          workingDir: ${JSON.stringify(dir)}`,
    '          env:', '            - name: NODE_OPTIONS', '              value: ""',
  ].join('\n') + '\n'
}

t.test('SLUICE_LOG_FORMAT=json: every line sluice writes is a JSON record, app output and stack traces included', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-json-log-'))
  writeFileSync(path.join(dir, 'app.js'), [
    "const http = require('node:http')",
    "console.log('app says hi')",
    "console.error(new Error('a handled failure'))",
    "http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')",
  ].join('\n') + '\n')
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-json-config-'))
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-json-state-'))
  writeFileSync(path.join(configDir, 'ok.yaml'), nodeServiceYaml('ok', dir, 'app.js'))
  writeFileSync(path.join(configDir, 'broken.yaml'), nodeServiceYaml('broken', dir, 'index.js'))
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configDir, '--state', stateDir, '--port', '0', '--internal-port', '0', '--admin-port', '0', '--host', '127.0.0.1'], {
    env: { ...process.env, SLUICE_LOG_FORMAT: 'json', SLUICE_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const d of [dir, configDir, stateDir]) rmSync(d, { recursive: true, force: true })
  })
  const records = (): Record<string, unknown>[] => err.split('\n').filter((l) => l !== '').flatMap((l) => {
    try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] }
  })
  const find = (pred: (r: Record<string, unknown>) => boolean): Record<string, unknown> | undefined => records().find(pred)
  const msg = (r: Record<string, unknown>): string => String(r.msg)
  const listening = await waitFor(() => find((r) => r.msg === 'sluice listening'), { what: 'sluice listening', timeoutMs: 60_000 })
  // The route serves once its revision is ready; until then the host answers 404/503.
  await waitFor(async () => (await request(Number(listening.public), 'ok.default.localhost', '/', { timeoutMs: 10_000 })).status === 200, { what: 'ok answering 200', timeoutMs: 60_000 })
  const trace = await waitFor(() => find((r) => msg(r).includes('Error: a handled failure')), { what: 'the app trace', timeoutMs: 60_000 })
  t.match(trace, { level: 30, stream: 'stderr', revision: 'default/ok-00001' })
  t.match(msg(trace), /\] Error: a handled failure\n {4}at /, 'the trace is one record')
  t.equal(records().filter((r) => /^\s+at /.test(msg(r).replace(/^\[[^\]]+\] /, ''))).length, 0, 'no frame on its own')
  t.ok(find((r) => /\] app says hi$/.test(msg(r)) && r.stream === 'stdout'), 'a stdout line')
  t.ok(find((r) => msg(r) === `serving ok at http://ok.default.localhost:${listening.public}`), 'the served URL')
  const crash = await waitFor(() => find((r) => r.level === 40 && msg(r) === 'instance exited with code 1'), { what: 'the broken app crashing', timeoutMs: 60_000 })
  t.match(crash.lastOutput, /^Error.*: Cannot find module/)
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.ok(find((r) => r.msg === 'stopped'))
  const lines = (out + err).split('\n').filter((l) => l !== '')
  const bad = lines.filter((l) => { try { JSON.parse(l); return false } catch { return true } })
  t.same(bad, [], `every one of ${lines.length} lines parses as JSON`)
  const notPino = records().filter((r) => typeof r.level !== 'number' || typeof r.time !== 'number' || typeof r.msg !== 'string')
  t.same(notPino, [], 'every record has pino\'s level (number), time (ms) and msg')
})

t.test('SLUICE_LOG_FORMAT with an unknown value is refused at start', async (t) => {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', '.'], { env: { ...process.env, SLUICE_LOG_FORMAT: 'yaml' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 2)
  t.match(err, /^sluice: SLUICE_LOG_FORMAT must be logfmt or json, got "yaml"/)
})

t.test('autoscaler decisions reach the log of a real sluice: to zero when idle, back to one on a request', async (t) => {
  const s = await startSluice({
    'autoscaler.yaml': configMapYaml('config-autoscaler', { 'scale-to-zero-grace-period': '1s' }),
    'nap.yaml': appServiceYaml(`logging-${process.pid}`, { name: 'nap', annotations: { 'autoscaling.knative.dev/window': '6s' } }),
  })
  t.teardown(() => s.stop())
  const scaling = (): string[] => s.logs().split('\n').filter((l) => / INFO  scaling nap-00001 /.test(l))
  await waitFor(() => scaling().length >= 1, { what: 'the scale to zero', timeoutMs: 90_000 })
  t.match(scaling()[0], /scaling nap-00001 from 1 to 0 revision=default\/nap-00001 from=1 to=0 reason=stable concurrency=0 target=70 desired=0/)
  const res = await request(s.port, 'nap.default.localhost', '/', { timeoutMs: 60_000 })
  t.equal(res.status, 200)
  await waitFor(() => scaling().length >= 2, { what: 'the scale from zero', timeoutMs: 30_000 })
  t.match(scaling()[1], /scaling nap-00001 from 0 to 1 .*trigger=request/)
  t.equal(scaling().length, 2, 'no line for the ticks in between')
})

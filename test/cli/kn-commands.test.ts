// `sluice get|describe|logs` against a real `sluice serve` child: kn's columns, -o json/yaml,
// the Service description, an app's output through /debug/logs (tail and follow), and the errors a
// user sees when the server is not there or the name is wrong.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { parse } from 'yaml'
import { BIN, eventually, request, startSluice } from '../fixtures/sluice.ts'
import { AppLogs, MAX_FOLLOWERS } from '../../control/runtime/app-logs.ts'
import { age, sinkText } from '../../bin/cli/resources-view.ts'
import { conditionMark, knConditionOrder, runKnCommand } from '../../bin/cli/kn-commands.ts'
import { Agent, setGlobalDispatcher } from 'undici'

const APP = "console.log('app ' + process.env.K_REVISION + ' starting'); " +
  "require('node:http').createServer((req, res) => { console.log('served ' + req.url); res.end('hi') }).listen(Number(process.env.PORT), '127.0.0.1')"
const SERVICE = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: greeter, namespace: default}
spec:
  template:
    metadata: {name: greeter-one, annotations: {autoscaling.knative.dev/min-scale: "1"}}
    spec:
      containers: [{command: [node, -e, ${JSON.stringify(APP)}]}]
  traffic:
    - {revisionName: greeter-one, percent: 100, tag: current}
`

const EVENTING = `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default, namespace: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: to-greeter, namespace: default}
spec:
  broker: default
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: greeter}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: to-elsewhere, namespace: default}
spec:
  broker: nowhere
  subscriber: {uri: "http://127.0.0.1:9/hook"}
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: tick, namespace: default}
spec:
  schedule: "0 3 * * *"
  sink:
    ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}
`

// In this process the commands share undici's pool: a connection left idle between them (while a
// spawned one runs) may be closed by the server just as it is reused. A CLI makes one call and exits.
setGlobalDispatcher(new Agent({ pipelining: 0 }))

/** The same commands in this process (no Node start per call: the machine running the suite is busy). */
async function kn(adminPort: number, ...args: string[]): Promise<string> {
  let text = ''
  await runKnCommand([...args, '--admin', `http://127.0.0.1:${adminPort}`], { write: (s: string) => { text += s } })
  return text
}

function cli(adminPort: number, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--admin', `http://127.0.0.1:${adminPort}`], { encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('get, describe and logs read a running sluice like kn', async (t) => {
  const s = await startSluice({ 'greeter.yaml': SERVICE, 'eventing.yaml': EVENTING })
  t.teardown(() => s.stop())
  t.ok(await eventually(async () => (await request(s.port, 'greeter.default.localhost', '/first').catch(() => ({ status: 0 }))).status === 200), 'the service answers')

  const services = cli(s.adminPort, 'get', 'services')
  t.equal(services.status, 0, services.stderr)
  const [head, row] = services.stdout.trim().split('\n')
  t.match(head, /^NAME\s+URL\s+LATEST\s+AGE\s+CONDITIONS\s+READY\s+REASON$/, 'kn service list columns')
  t.match(row, new RegExp(`^greeter\\s+http://greeter\\.default\\.localhost:${s.port}\\s+greeter-one`), 'the URL names the public port')
  t.match(row, /^greeter\s+\S+\s+greeter-one\s+\S+\s+3 OK \/ 3\s+True$/)

  const revisions = cli(s.adminPort, 'get', 'revisions')
  t.match(revisions.stdout, /^NAME\s+SERVICE\s+TRAFFIC\s+TAGS\s+GENERATION\s+AGE\s+CONDITIONS\s+READY\s+REASON\n/)
  t.match(revisions.stdout, /\ngreeter-one\s+greeter\s+100%\s+current\s/, 'a revision shows its traffic and tag')

  t.match(await kn(s.adminPort, 'get', 'routes', '-A'), new RegExp(`^NAMESPACE\\s+NAME\\s+URL\\s+READY\\ndefault\\s+greeter\\s+http://greeter\\.default\\.localhost:${s.port}\\s+True\\n$`))
  t.match(await kn(s.adminPort, 'get', 'king'), /^NAME\s+READY\s+REASON\ngreeter\s+True\n$/)
  t.match(await kn(s.adminPort, 'get', 'services', '-n', 'nowhere'), 'No services found in namespace nowhere.')

  // eventing, as kn broker list / kn trigger list / kn source ping list print it
  t.match((await kn(s.adminPort, 'get', 'brokers')),
    /^NAME\s+URL\s+AGE\s+CONDITIONS\s+READY\s+REASON\ndefault\s+http:\/\/broker-ingress\.knative-eventing\.svc\.cluster\.local\/default\/default\s+\S+\s+\d+ OK \/ \d+\s+True\n$/)
  const triggers = await kn(s.adminPort, 'get', 'triggers')
  t.match(triggers, /^NAME\s+BROKER\s+SINK\s+AGE\s+CONDITIONS\s+READY\s+REASON\n/)
  t.match(triggers, /\nto-greeter\s+default\s+ksvc:greeter\s+\S+\s+\d+ OK \/ \d+\s+True\n/)
  t.match(triggers, /\nto-elsewhere\s+nowhere\s+http:\/\/127\.0\.0\.1:9\/hook\s+\S+\s+\d+ OK \/ \d+\s+False\s+BrokerDoesNotExist\n/, 'a Trigger that is not ready says why')
  t.match((await kn(s.adminPort, 'get', 'pingsources')), /^NAME\s+SCHEDULE\s+SINK\s+AGE\s+CONDITIONS\s+READY\s+REASON\ntick\s+0 3 \* \* \*\s+broker:default\s+/)
  t.match((await kn(s.adminPort, 'get', 'triggers', '-n', 'nowhere')), 'No triggers found in namespace nowhere.')
  t.match(await kn(s.adminPort, 'get', 'brokers', '--no-headers'), /^default\s+http:\/\/broker-ingress\S+\s+\S+\s+\d+ OK \/ \d+\s+True\n$/, '--no-headers: the rows only')

  const json = JSON.parse(await kn(s.adminPort, 'get', 'ksvc', '-o', 'json')) as { kind: string; items: { metadata: { name: string } }[] }
  t.equal(json.kind, 'List')
  t.same(json.items.map((i) => i.metadata.name), ['greeter'])
  const yaml = parse(await kn(s.adminPort, 'get', 'revisions', '-o', 'yaml')) as { items: { kind: string }[] }
  t.same(yaml.items.map((i) => i.kind), ['Revision'])

  const described = cli(s.adminPort, 'describe', 'service', 'greeter')
  t.equal(described.status, 0, described.stderr)
  t.match(described.stdout, new RegExp(`^Name:\\s+greeter\\nNamespace:\\s+default\\nAge:\\s+\\S+\\nURL:\\s+http://greeter\\.default\\.localhost:${s.port}\\n`))
  t.match(described.stdout, /100%\s+greeter-one #current/)
  t.match(described.stdout, /Instances:\s+1\/1/)
  t.match(described.stdout, /Conditions:\n {2}OK TYPE +AGE REASON\n {2}\+\+ Ready /, 'Ready first, as kn lists it')

  const logs = cli(s.adminPort, 'logs', 'greeter')
  t.match(logs.stdout, /\[greeter-one-\d+\] app greeter-one starting/, 'the app output, by service name')
  t.match(logs.stdout, /served \/first/)
  t.match(await kn(s.adminPort, 'logs', 'greeter-one', '--tail', '1'), /^\[greeter-one-\d+\] served \/first\n$/, 'by revision name, the last line only')

  // -f streams what comes next, until the user stops it.
  const follow = spawn(process.execPath, [BIN, 'logs', 'greeter', '-f', '--tail', '0', '--admin', `http://127.0.0.1:${s.adminPort}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { follow.kill('SIGKILL') })
  let followed = ''
  follow.stdout.setEncoding('utf8').on('data', (d: string) => { followed += d })
  // Request until the follower, once connected, sees one (a request before it connected is not streamed).
  t.ok(await eventually(async () => {
    await request(s.port, 'greeter.default.localhost', '/later').catch(() => undefined)
    return followed.includes('served /later')
  }), 'a new line reaches the follower')
  t.notMatch(followed, 'starting', '--tail 0 shows nothing old')
  follow.kill('SIGTERM')

  const missing = cli(s.adminPort, 'describe', 'service', 'nope')
  t.equal(missing.status, 1)
  t.match(missing.stderr, 'no service nope in namespace default')
  t.match(cli(s.adminPort, 'logs', 'nope').stderr, 'no service or revision nope')
  t.equal(cli(s.adminPort, 'get', 'widgets').status, 2, 'a usage error exits 2')

  const bad = await s.admin('/debug/logs')
  t.equal(bad.status, 400)
})

t.test('a server that is not there is named, with how to point at one', async (t) => {
  const r = cli(1, 'get', 'services')
  t.equal(r.status, 1)
  t.match(r.stderr, /cannot reach the Sluice admin API at http:\/\/127\.0\.0\.1:1 .*--admin URL/)
})

t.test('app logs are bounded per revision and in followers', async (t) => {
  const logs = new AppLogs(3)
  for (let i = 0; i < 5; i++) logs.append({ time: i, revision: 'ns/a', instance: 'a-1', stream: 'stdout', line: `l${i}` })
  t.same(logs.read(['ns/a']).map((l) => l.line), ['l2', 'l3', 'l4'], 'the oldest lines go first')
  t.same(logs.read(['ns/a'], 1).map((l) => l.line), ['l4'])
  const stops = []
  for (let i = 0; i < MAX_FOLLOWERS; i++) stops.push(logs.follow(['ns/a'], () => {}))
  t.ok(stops.every((s) => s !== null))
  t.equal(logs.follow(['ns/a'], () => {}), null, 'no more followers than the bound')
  stops[0]!()
  t.not(logs.follow(['ns/a'], () => {}), null, 'a follower that left frees its place')
})

t.test('sinks read like kn', async (t) => {
  t.equal(sinkText({ ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'a' } }), 'ksvc:a')
  t.equal(sinkText({ ref: { apiVersion: 'v1', kind: 'Service', name: 'b' } }), 'service:b', 'a core Service is not a ksvc')
  t.equal(sinkText({ ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'c' }, uri: '/x' }), 'broker:c', 'the ref wins over a relative uri')
  t.equal(sinkText({ uri: 'http://h/p' }), 'http://h/p')
  t.equal(sinkText(undefined), '')
})

t.test('describe orders and marks conditions like kn', async (t) => {
  const order = knConditionOrder([
    { type: 'RoutesReady', status: 'True' }, { type: 'Active', status: 'False', severity: 'Info' },
    { type: 'ConfigurationsReady', status: 'True' }, { type: 'Ready', status: 'True' }, { type: 'Deploy', status: 'False', severity: 'Warning' },
  ]).map((c) => c.type)
  t.same(order, ['Ready', 'ConfigurationsReady', 'RoutesReady', 'Deploy', 'Active'], 'Ready first, then errors, warnings, infos, each by type')
  t.same(['True', 'Unknown'].map((status) => conditionMark({ type: 'X', status })), ['++', '??'])
  t.same(['', 'Error', 'Warning', 'Info'].map((severity) => conditionMark({ type: 'X', status: 'False', severity })), ['!!', '!!', ' W', ' I'])
})

t.test('ages read like kubectl', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  const ago = (s: number): string => new Date(now - s * 1000).toISOString()
  t.equal(age(ago(45), now), '45s')
  t.equal(age(ago(185), now), '3m5s')
  t.equal(age(ago(3600), now), '60m')
  t.equal(age(ago(5 * 3600 + 60), now), '5h1m')
  t.equal(age(ago(3 * 86400), now), '3d')
  t.equal(age(undefined, now), '<unknown>')
})

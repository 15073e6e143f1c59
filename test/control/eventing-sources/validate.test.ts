// Validation of PingSource, ContainerSource and SinkBinding: knative/eventing's webhook rules, with located messages.
import t from 'tap'
import { errors, load, yaml } from '../sources/fixtures/load-helpers.ts'

const ping = (...spec: string[]): string => yaml(
  'apiVersion: sources.knative.dev/v1', // 1
  'kind: PingSource', //                   2
  'metadata:', //                          3
  '  name: tick', //                       4
  'spec:', //                              5
  ...spec, //                              6…
)
const sink = ['  sink:', '    uri: http://127.0.0.1:9/x']

t.test('PingSource: defaults and a valid spec', async (t) => {
  const r = load(ping(...sink))
  t.same(r.errors, [])
  t.same(r.resources.pingSources[0]!.spec, { sink: { uri: 'http://127.0.0.1:9/x' }, schedule: '* * * * *' })
  const full = load(ping(...sink, '  schedule: "0 0 9 * * MON-FRI"', '  timezone: Europe/Paris', '  contentType: application/json',
    '  data: \'{"a":1}\'', '  ceOverrides:', '    extensions:', '      team: blue'))
  t.same(full.errors, [])
  t.same(full.resources.pingSources[0]!.spec, {
    sink: { uri: 'http://127.0.0.1:9/x' }, schedule: '0 0 9 * * MON-FRI', timezone: 'Europe/Paris', contentType: 'application/json',
    data: '{"a":1}', ceOverrides: { extensions: { team: 'blue' } },
  })
  t.same(errors(ping(...sink, '  schedule: "@hourly"')), [])
})

t.test('PingSource: errors, located', async (t) => {
  const table: [string[], string[]][] = [
    [['  schedule: "61 * * * *"'], ['hello.yaml:6:13 spec.schedule: invalid value "61 * * * *": ']],
    [['  schedule: "@every 1m"'], ['hello.yaml:6:13 spec.schedule: invalid value "@every 1m": unsupported descriptor @every; write a cron expression such as */5 * * * * (every 5 minutes)']],
    [['  schedule: "* * *"'], ['hello.yaml:6:13 spec.schedule: invalid value "* * *": expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a descriptor like @hourly']],
    [['  schedule: "0 0 L * *"'], ['hello.yaml:6:13 spec.schedule: invalid value "0 0 L * *": expected 5 fields']],
    [['  timezone: Mars/Olympus'], ['hello.yaml:6:13 spec.timezone: invalid value "Mars/Olympus": unknown time zone; use an IANA name such as Europe/Paris or America/New_York']],
    [['  data: a', '  dataBase64: YQ=='], ['hello.yaml:5:1 spec: expected exactly one, got both: data, dataBase64; keep one of them']],
    [['  dataBase64: "not base64!"'], ['hello.yaml:6:15 spec.dataBase64: invalid value: not standard base64']],
    [['  contentType: application/json', '  data: "{nope"'], ['hello.yaml:7:9 spec.data: invalid value: data is not JSON (']],
    [['  contentType: application/json', '  data: "[1]"'], ['hello.yaml:7:9 spec.data: invalid value: data must be a JSON object ({...}) when contentType is application/json']],
    [['  contentType: application/json', '  dataBase64: bm9wZQ=='], ['hello.yaml:7:15 spec.dataBase64: invalid value: decoded dataBase64 is not JSON (']],
    [['  ceOverrides:', '    extensions:', '      bad-key: x'], ['hello.yaml:8:7 spec.ceOverrides.extensions.bad-key: invalid key name "bad-key": keys are expected to be alphanumeric']],
    [['  shedule: "* * * * *"'], ['hello.yaml:6:3 spec.shedule: unknown field "shedule"; did you mean schedule?']],
  ]
  for (const [lines, want] of table) {
    const got = errors(ping(...lines, ...sink))
    t.equal(got.length, want.length, `${lines.join(' | ')}: ${got.join('; ')}`)
    want.forEach((w, i) => t.ok(got[i]?.startsWith(w), `${got[i]} starts with ${w}`))
  }
})

t.test('PingSource: sink rules (duck/v1 Destination)', async (t) => {
  t.same(errors(ping()), ['hello.yaml:5:1 spec: missing field; a PingSource needs spec.sink (and usually spec.schedule)'])
  t.same(errors(ping('  schedule: "* * * * *"')), ['hello.yaml:5:1 spec.sink: missing field; say where events go: sink.ref (a Broker or Knative Service) or sink.uri'])
  t.same(errors(ping('  sink: {}')), ['hello.yaml:6:3 spec.sink: expected at least one, got none: ref, uri'])
  t.same(errors(ping('  sink:', '    uri: /relative')), ['hello.yaml:7:10 spec.sink.uri: invalid value "/relative": a uri without ref must be absolute, e.g. http://127.0.0.1:9000/events'])
  t.same(errors(ping('  sink:', '    ref:', '      kind: Broker')), [
    'hello.yaml:7:5 spec.sink.ref.name: missing field; the name of the Broker or Service',
    'hello.yaml:7:5 spec.sink.ref.apiVersion: missing field; e.g. eventing.knative.dev/v1 or serving.knative.dev/v1',
  ])
})

const cs = (...spec: string[]): string => yaml(
  'apiVersion: sources.knative.dev/v1', 'kind: ContainerSource', 'metadata:', '  name: heart', 'spec:', ...spec)

t.test('ContainerSource: defaults container names, checks the pod template', async (t) => {
  const r = load(cs('  sink:', '    uri: http://127.0.0.1:9/', '  template:', '    spec:', '      containers:', '        - command: [node, x.mjs]'))
  t.same(r.errors, [])
  t.same(r.resources.containerSources[0]!.spec.template.spec, { containers: [{ command: ['node', 'x.mjs'], name: 'heart-0' }] })
  t.same(errors(cs('  sink:', '    uri: http://127.0.0.1:9/', '  template:', '    spec:', '      containers: []')), [
    'hello.yaml:10:7 spec.template.spec.containers: missing field; list the container to run, e.g. - name: source\\n    command: [node, source.mjs]',
  ])
  t.same(errors(cs('  sink:', '    uri: http://127.0.0.1:9/', '  template:', '    spec:', '      containers:', '        - name: a', '          comand: [x]')), [
    'hello.yaml:11:11 spec.template.spec.containers[0]: needs an image (to run in Kubernetes) or a command (to run as a local process)',
    'hello.yaml:12:11 spec.template.spec.containers[0].comand: unknown field "comand"; did you mean command?',
  ])
})

const sb = (...spec: string[]): string => yaml(
  'apiVersion: sources.knative.dev/v1', 'kind: SinkBinding', 'metadata:', '  name: bind', 'spec:', '  sink:', '    uri: http://127.0.0.1:9/', ...spec)

t.test('SinkBinding: subject rules', async (t) => {
  const r = load(sb('  subject:', '    apiVersion: serving.knative.dev/v1', '    kind: Service', '    name: app'))
  t.same(r.errors, [])
  t.same(r.resources.sinkBindings[0]!.spec.subject, { apiVersion: 'serving.knative.dev/v1', kind: 'Service', namespace: 'default', name: 'app' })
  t.same(errors(sb('  subject:', '    apiVersion: serving.knative.dev/v1', '    kind: Service')), [
    'hello.yaml:8:3 spec.subject: expected exactly one, got neither: name, selector; name the subject or select it by labels',
  ])
  t.same(errors(sb('  subject:', '    apiVersion: apps/v1', '    kind: Deployment', '    name: d', '    namespace: other')), [
    'hello.yaml:10:11 spec.subject.kind: Sluice binds serving.knative.dev/v1 Service, Configuration or Revision locally, got apps/v1 Deployment',
    'hello.yaml:12:16 spec.subject.namespace: invalid value "other": a SinkBinding binds subjects in its own namespace (default); remove it',
  ])
  const sel = load(sb('  subject:', '    apiVersion: serving.knative.dev/v1', '    kind: Revision', '    selector:', '      matchLabels:', '        app: x'))
  t.same(sel.errors, [])
  t.same(sel.resources.sinkBindings[0]!.spec.subject.selector, { matchLabels: { app: 'x' } })
})

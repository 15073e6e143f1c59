import t from 'tap'
import { errors, ksvcHead, load, yaml } from './fixtures/load-helpers.ts'
import { validateDocument } from '../../../control/sources/validate.ts'
import { formatPath } from '../../../control/sources/fields.ts'

const containers = [
  'spec:', //                               5
  '  template:', //                         6
  '    spec:', //                           7
  '      containers:', //                   8
  '        - image: ghcr.io/me/hello', //   9
]

t.test('unknown kind is reported at kind with the list of known kinds', async (t) => {
  const errs = errors(yaml('apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: x'))
  t.equal(errs.length, 1)
  t.match(errs[0], /^hello\.yaml:2:7 kind: unknown kind Deployment \(apiVersion apps\/v1\); expected one of: serving\.knative\.dev\/v1 Service, Configuration, Revision, Route; networking\.internal\.knative\.dev\/v1alpha1 Ingress; v1 Service, Endpoints, ConfigMap, Secret; discovery\.k8s\.io\/v1 EndpointSlice; /)
})

t.test('known kind under the wrong apiVersion is reported at apiVersion', async (t) => {
  t.same(errors(yaml('apiVersion: serving.knative.dev/v1alpha1', 'kind: Route', 'metadata:', '  name: x')), [
    'hello.yaml:1:13 apiVersion: kind Route is not served by apiVersion serving.knative.dev/v1alpha1; use serving.knative.dev/v1',
  ])
})

t.test('missing apiVersion, kind and name', async (t) => {
  t.same(errors(yaml('metadata:', '  namespace: default')), [
    'hello.yaml:1:1 apiVersion: missing field; e.g. apiVersion: serving.knative.dev/v1',
    'hello.yaml:1:1 kind: missing field; e.g. kind: Service',
    'hello.yaml:1:1 metadata.name: missing field; give the object a name (or set metadata.generateName)',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: ConfigMap', 'data: {}')), [
    'hello.yaml:1:1 metadata: missing field; every object needs metadata.name',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: Bad_Name')), [
    `hello.yaml:4:9 metadata.name: "Bad_Name" is not a valid DNS-1123 subdomain: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
  ])
})

t.test('a document that is not a mapping', async (t) => {
  t.same(errors(yaml('- a', '- b')), [
    'hello.yaml:1:1: a document must be a mapping describing one object (apiVersion, kind, metadata, spec), got a list',
  ])
})

t.test('Service: missing containers', async (t) => {
  t.same(errors(yaml(...ksvcHead, 'spec:', '  template:', '    spec: {}')), [
    'hello.yaml:7:5 spec.template.spec.containers: missing field; list the container to run, e.g. - image: ghcr.io/me/app or - command: [node, server.js]',
  ])
  t.same(errors(yaml(...ksvcHead, 'spec:', '  template:', '    spec:', '      containers: []')), [
    'hello.yaml:8:7 spec.template.spec.containers: must list at least one container',
  ])
  t.same(errors(yaml(...ksvcHead)), [
    'hello.yaml:1:1 spec: missing field; a Service needs spec.template.spec.containers',
  ])
  t.same(errors(yaml(...ksvcHead, ...containers.slice(0, 4), '        - name: c')), [
    'hello.yaml:9:11 spec.template.spec.containers[0]: needs an image (to run in Kubernetes) or a command (to run as a local process), or the revision needs annotation sluice.dev/upstream',
  ])
})

t.test('Service: revision spec bounds', async (t) => {
  t.same(errors(yaml(...ksvcHead, ...containers,
    '      containerConcurrency: 1001', // 10
    '      timeoutSeconds: -1', //         11
    '      idleTimeoutSeconds: "30"', //   12
  )), [
    'hello.yaml:10:29 spec.template.spec.containerConcurrency: must be an integer from 0 to 1000, got 1001',
    'hello.yaml:11:23 spec.template.spec.timeoutSeconds: must be an integer >= 0, got -1',
    'hello.yaml:12:27 spec.template.spec.idleTimeoutSeconds: must be an integer >= 0, got the string "30"; remove the quotes',
  ])
})

t.test('Service: container ports', async (t) => {
  t.same(errors(yaml(...ksvcHead, ...containers,
    '          ports:', //                    10
    '            - containerPort: 8012', //   11
    '              name: grpc', //            12
  )), [
    'hello.yaml:11:30 spec.template.spec.containers[0].ports[0].containerPort: port 8012 is reserved by Knative (8008, 8012, 8013, 8022, 8112, 9090, 9091); use another, e.g. 8080',
    'hello.yaml:12:21 spec.template.spec.containers[0].ports[0].name: must be http1 or h2c (it selects the protocol), got "grpc"',
  ])
})

t.test('Service: traffic percents', async (t) => {
  t.same(errors(yaml(...ksvcHead, ...containers,
    '  traffic:', //                          10
    '    - latestRevision: true', //          11
    '      percent: 150', //                  12
    '    - revisionName: hello-00001', //     13
    '      percent: 10.5', //                 14
  )), [
    'hello.yaml:12:16 spec.traffic[0].percent: must be an integer from 0 to 100, got 150',
    'hello.yaml:14:16 spec.traffic[1].percent: must be an integer from 0 to 100, got the number 10.5',
  ])
  t.same(errors(yaml(...ksvcHead, ...containers,
    '  traffic:', //                          10
    '    - latestRevision: true', //          11
    '      percent: 50', //                   12
    '    - revisionName: hello-00001', //     13
    '      percent: 40', //                   14
  )), [
    'hello.yaml:10:3 spec.traffic: percents sum to 90, they must sum to 100',
  ])
})

t.test('Service: tags', async (t) => {
  t.same(errors(yaml(...ksvcHead, ...containers,
    '  traffic:', //                          10
    '    - percent: 100', //                  11
    '      tag: current', //                  12
    '    - revisionName: hello-00001', //     13
    '      tag: current', //                  14
    '    - revisionName: hello-00002', //     15
    '      tag: 2nd', //                      16
  )), [
    'hello.yaml:14:12 spec.traffic[1].tag: tag "current" is already used by spec.traffic[0]; tags must be unique',
    `hello.yaml:16:12 spec.traffic[2].tag: "2nd" is not a valid DNS-1035 label: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`,
  ])
})

t.test('Service: revisionName, latestRevision, configurationName', async (t) => {
  t.same(errors(yaml(...ksvcHead, ...containers,
    '  traffic:', //                          10
    '    - revisionName: hello-00001', //     11
    '      latestRevision: true', //          12
    '      percent: 50', //                   13
    '    - latestRevision: false', //         14
    '      percent: 25', //                   15
    '    - configurationName: hello', //      16
    '      percent: 25', //                   17
  )), [
    'hello.yaml:12:23 spec.traffic[0].latestRevision: latestRevision: true cannot be combined with revisionName; remove one of them',
    'hello.yaml:14:23 spec.traffic[1].latestRevision: latestRevision: false needs a revisionName to pin; set revisionName or remove latestRevision',
    'hello.yaml:16:26 spec.traffic[2].configurationName: not allowed in a Service, which routes to its own configuration; remove it (use latestRevision or revisionName)',
  ])
})

t.test('Route: traffic rules', async (t) => {
  const head = ['apiVersion: serving.knative.dev/v1', 'kind: Route', 'metadata:', '  name: r', 'spec:']
  t.same(errors(yaml(...head,
    '  traffic:', //                           6
    '    - revisionName: r-1', //              7
    '      configurationName: c', //           8
    '      percent: 50', //                    9
    '    - percent: 50', //                    10
    '      url: http://x', //                  11
  )), [
    'hello.yaml:8:26 spec.traffic[0].configurationName: set either revisionName or configurationName, not both',
    "hello.yaml:10:7 spec.traffic[1]: a Route traffic target needs a revisionName or a configurationName",
    'hello.yaml:11:12 spec.traffic[1].url: is filled in by Sluice in status; remove it from spec (got the string "http://x")',
  ])
  t.same(errors(yaml(...head.slice(0, 4))), [
    'hello.yaml:1:1 spec.traffic: missing field; a Route needs at least one traffic target naming a configurationName or revisionName',
  ])
  const ok = load(yaml(...head, '  traffic:', '    - configurationName: c', '      percent: 100'))
  t.same(ok.errors, [])
  t.same(ok.resources.routes[0]!.spec.traffic, [{ configurationName: 'c', latestRevision: true, percent: 100 }])
})

t.test('template name rules', async (t) => {
  t.same(errors(yaml(...ksvcHead,
    'spec:', '  template:', '    metadata:', '      name: other-v2', //   8
    '    spec:', '      containers:', '        - image: x',
  )), [
    `hello.yaml:8:13 spec.template.metadata.name: must start with "hello-" (the parent's name and a dash), e.g. hello-v2`,
  ])
  t.same(errors(yaml('apiVersion: serving.knative.dev/v1', 'kind: Configuration', 'metadata:', '  generateName: cfg-',
    'spec:', '  template:', '    metadata:', '      name: cfg-v2', //   8
    '    spec:', '      containers:', '        - image: x',
  )), [
    'hello.yaml:8:13 spec.template.metadata.name: cannot be set when the parent uses metadata.generateName; remove it',
  ])
  t.same(load(yaml(...ksvcHead, 'spec:', '  template:', '    metadata:', '      name: hello-v2',
    '    spec:', '      containers:', '        - image: x')).errors, [])
})

t.test('sluice.dev/upstream annotation', async (t) => {
  t.same(errors(yaml(...ksvcHead,
    'spec:', '  template:', '    metadata:', '      annotations:',
    '        sluice.dev/upstream: "http://127.0.0.1:9000, https://x:1,nope"', // 9
    '    spec:', '      containers:', '        - {}',
  )), [
    'hello.yaml:9:30 spec.template.metadata.annotations[sluice.dev/upstream]: "https://x:1" must use http:// (h2c is chosen by the port name h2c); write a comma-separated list of origins like http://127.0.0.1:9000,http://127.0.0.1:9001',
    'hello.yaml:9:30 spec.template.metadata.annotations[sluice.dev/upstream]: "nope" is not a URL; write a comma-separated list of origins like http://127.0.0.1:9000,http://127.0.0.1:9001',
  ])
  // a Revision declared directly carries it in its own metadata; an upstream replaces image/command
  const rev = load(yaml('apiVersion: serving.knative.dev/v1', 'kind: Revision', 'metadata:', '  name: hello-00001',
    '  annotations:', '    sluice.dev/upstream: http://127.0.0.1:9000/path', 'spec:', '  containers:', '    - {}'))
  t.same(rev.errors.map((e) => `${e.line}:${e.column} ${e.path}`), ['6:26 metadata.annotations[sluice.dev/upstream]'])
  const good = load(yaml('apiVersion: serving.knative.dev/v1', 'kind: Revision', 'metadata:', '  name: hello-00001',
    '  annotations:', '    sluice.dev/upstream: http://127.0.0.1:9000,http://[::1]:9001', 'spec:', '  containers:', '    - {}'))
  t.same(good.errors, [])
  t.equal(good.resources.revisions.length, 1)
})

t.test('Service defaulting', async (t) => {
  const r = load(yaml(...ksvcHead, ...containers))
  t.same(r.errors, [])
  const svc = r.resources.services[0]!
  t.equal(svc.metadata.namespace, 'default')
  t.same(svc.metadata.labels, {})
  t.same(svc.metadata.annotations, {})
  t.same(svc.spec.traffic, [{ latestRevision: true, percent: 100 }])
  t.same(svc.spec.template.spec.containers, [{ image: 'ghcr.io/me/hello' }])
  t.same(svc.source?.file, 'hello.yaml')
  t.same(svc.source?.locate(['spec', 'template', 'spec', 'containers', 0, 'image']), { line: 9, column: 18 })

  const split = load(yaml(...ksvcHead, ...containers,
    '  traffic:', '    - percent: 100', '    - revisionName: hello-00001', '      tag: old', '      percent: null'))
  t.same(split.errors, [])
  t.same(split.resources.services[0]!.spec.traffic, [
    { latestRevision: true, percent: 100 },
    { tag: 'old', revisionName: 'hello-00001', latestRevision: false, percent: 0 },
  ])
})

t.test('metadata maps must hold strings', async (t) => {
  t.same(errors(yaml(...ksvcHead,
    '  labels:', //                  5
    '    tier: 1', //                6
    '  annotations:', //             7
    '    a: true', //                8
    '    b:', //                     9
    ...containers,
  )), [
    'hello.yaml:6:11 metadata.labels.tier: label values must be strings, got the number 1; quote it',
    'hello.yaml:8:8 metadata.annotations.a: annotation values must be strings, got the boolean true; quote it',
    'hello.yaml:9:5 metadata.annotations.b: annotation values must be strings, got nothing; write "" for an empty value',
  ])
})

t.test('ConfigMap data values must be strings', async (t) => {
  t.same(errors(yaml('apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-network', 'data:',
    '  ingress-class: kourier.ingress.networking.knative.dev',
    '  autocreate-cluster-domain-claims: false', // 7
    '  max-scale: 10', // 8
  )), [
    'hello.yaml:7:37 data.autocreate-cluster-domain-claims: ConfigMap data values must be strings; quote it (got the boolean false)',
    'hello.yaml:8:14 data.max-scale: ConfigMap data values must be strings; quote it (got the number 10)',
  ])
  const ok = load(yaml('apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-network'))
  t.same(ok.resources.configMaps[0]!.data, {})
})

t.test('Secret: base64 data, stringData merged', async (t) => {
  t.same(errors(yaml('apiVersion: v1', 'kind: Secret', 'metadata:', '  name: tls', 'data:', '  tls.key: not base64!')), [
    'hello.yaml:6:12 data[tls.key]: is not valid base64; encode it (base64 -w0 file) or move it to stringData',
  ])
  const r = load(yaml('apiVersion: v1', 'kind: Secret', 'metadata:', '  name: tls', 'type: kubernetes.io/tls',
    'data:', '  tls.crt: aGVsbG8=', 'stringData:', '  tls.key: world'))
  t.same(r.errors, [])
  t.same(r.resources.secrets[0]!.data, { 'tls.crt': 'aGVsbG8=', 'tls.key': 'd29ybGQ=' })
  t.equal(r.resources.secrets[0]!.type, 'kubernetes.io/tls')
})

t.test('core Service, Endpoints and EndpointSlice shapes', async (t) => {
  t.same(errors(yaml('apiVersion: v1', 'kind: Service', 'metadata:', '  name: backend', 'spec:',
    '  ports:', //                     6
    '    - name: http', //             7
    '      targetPort: 8080', //       8
  )), ['hello.yaml:7:7 spec.ports[0].port: missing field; each Service port needs a port number'])
  t.same(errors(yaml('apiVersion: v1', 'kind: Service', 'metadata:', '  name: ext', 'spec:', '  type: ExternalName')), [
    'hello.yaml:5:1 spec.externalName: missing field; an ExternalName Service needs the DNS name to forward to',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: Endpoints', 'metadata:', '  name: backend', 'subsets:',
    '  - addresses:', //                6
    '      - ip: localhost', //         7
    '    ports:', //                    8
    '      - port: "80"', //            9
  )), [
    'hello.yaml:7:13 subsets[0].addresses[0].ip: "localhost" is not an IP address; Endpoints need IPs (use an ExternalName Service for DNS names)',
    'hello.yaml:9:15 subsets[0].ports[0].port: must be an integer from 1 to 65535, got the string "80"; remove the quotes',
  ])
  t.same(errors(yaml('apiVersion: discovery.k8s.io/v1', 'kind: EndpointSlice', 'metadata:', '  name: backend-abc',
    'addressType: IPv4', 'endpoints:',
    '  - addresses: ["10.0.0.1", "::1"]', // 7
    'ports:', '  - port: 8080',
  )), ['hello.yaml:7:29 endpoints[0].addresses[1]: "::1" is not an IPv4 address'])
  const ok = load(yaml('apiVersion: v1', 'kind: Endpoints', 'metadata:', '  name: backend',
    'subsets:', '  - addresses: [{ip: 127.0.0.1}]', '    ports: [{port: 9000}]'))
  t.same(ok.errors, [])
  t.same(ok.resources.endpoints[0]!.subsets, [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 9000 }] }])
})

const ingHead = [
  'apiVersion: networking.internal.knative.dev/v1alpha1', // 1
  'kind: Ingress', //                                      2
  'metadata:', //                                          3
  '  name: hello', //                                      4
  '  namespace: apps', //                                  5
  'spec:', //                                              6
  '  rules:', //                                           7
  '    - hosts: [hello.apps.example.com]', //              8
  '      http:', //                                        9
  '        paths:', //                                     10
]

t.test('KIngress: defaults', async (t) => {
  const r = load(yaml(...ingHead, '          - splits:', '              - serviceName: hello', '                servicePort: 80'))
  t.same(r.errors, [])
  const ing = r.resources.ingresses[0]!
  t.equal(ing.spec.rules[0]!.visibility, 'ExternalIP')
  t.same(ing.spec.rules[0]!.http.paths[0]!.splits, [{ serviceName: 'hello', servicePort: 80, serviceNamespace: 'apps', percent: 100 }])
})

t.test('KIngress: split in another namespace, percents, paths, headers', async (t) => {
  t.same(errors(yaml(...ingHead,
    '          - path: api', //                        11
    '            headers:', //                         12
    '              x-user: alice', //                  13
    '            splits:', //                          14
    '              - serviceName: hello', //           15
    '                serviceNamespace: other', //      16
    '                servicePort: 80', //              17
    '                percent: 60', //                  18
    '              - serviceName: hello2', //          19
    '                percent: 30', //                  20
  )), [
    `hello.yaml:11:19 spec.rules[0].http.paths[0].path: must start with '/', got "api"`,
    'hello.yaml:13:23 spec.rules[0].http.paths[0].headers.x-user: header matches must be written {exact: "value"}, got the string "alice"',
    'hello.yaml:14:13 spec.rules[0].http.paths[0].splits: percents sum to 90, they must sum to 100',
    `hello.yaml:16:35 spec.rules[0].http.paths[0].splits[0].serviceNamespace: must be the Ingress's own namespace "apps", got "other"`,
    'hello.yaml:19:17 spec.rules[0].http.paths[0].splits[1].servicePort: missing field; give a port number or a port name',
  ])
})

t.test('KIngress: structure', async (t) => {
  t.same(errors(yaml(...ingHead.slice(0, 6), '  rules: []', '  httpOption: Sometimes', '  tls:', '    - hosts: [a]')), [
    'hello.yaml:7:3 spec.rules: missing field; an Ingress needs at least one rule',
    'hello.yaml:8:15 spec.httpOption: must be Enabled or Redirected, got "Sometimes"',
    'hello.yaml:10:7 spec.tls[0].secretName: missing field; TLS entries need secretName and secretNamespace',
    'hello.yaml:10:7 spec.tls[0].secretNamespace: missing field; TLS entries need secretName and secretNamespace',
  ])
  t.same(errors(yaml(...ingHead.slice(0, 7), '    - hosts: [x]', '      visibility: Public')), [
    'hello.yaml:8:7 spec.rules[0].http: missing field; each rule needs http.paths',
    'hello.yaml:9:19 spec.rules[0].visibility: must be ExternalIP or ClusterLocal, got "Public"',
  ])
})

t.test('KIngress: foreign classes are kept aside without validation', async (t) => {
  const r = load(yaml(...ingHead.slice(0, 5),
    '  annotations:', '    networking.knative.dev/ingress.class: istio.ingress.networking.knative.dev', 'spec: {}'))
  t.same(r.errors, [])
  t.equal(r.resources.ingresses.length, 0)
  t.equal(r.resources.others.length, 1)
  const kourier = load(yaml(...ingHead.slice(0, 5),
    '  annotations:', '    networking.knative.dev/ingress.class: kourier.ingress.networking.knative.dev', 'spec: {}'))
  t.equal(kourier.errors.length, 1, 'kourier class is ours, so it is validated')
})

t.test('eventing kinds get their own buckets; Plugin stays in others', async (t) => {
  const r = load(yaml('apiVersion: eventing.knative.dev/v1', 'kind: Broker', 'metadata:', '  name: default',
    '---', 'apiVersion: sluice.dev/v1alpha1', 'kind: Plugin', 'metadata:', '  name: auth', 'spec:', '  plugin: ./auth.ts', '  config: {a: 1}'))
  t.same(r.errors, [])
  t.same(r.resources.brokers.map((o) => `${o.kind}/${o.metadata.name}`), ['Broker/default'])
  t.same(r.resources.others.map((o) => `${o.kind}/${o.metadata.name}`), ['Plugin/auth'])
  t.same(r.resources.others[0]!.spec, { plugin: './auth.ts', config: { a: 1 } })
  // a Plugin's own fields are checked (its config is the plugin's business, checked when it resolves)
  t.same(errors(yaml('apiVersion: sluice.dev/v1alpha1', 'kind: Plugin', 'metadata:', '  name: auth', 'spec:', '  module: ./auth.ts', '  prority: 3', 'specs: {}')), [
    'hello.yaml:6:3 spec.module: unknown field "module"; expected one of: plugin, config, priority',
    'hello.yaml:7:3 spec.prority: unknown field "prority"; did you mean priority?',
    'hello.yaml:8:1 specs: unknown field "specs"; did you mean spec?',
  ])
})

t.test('validateDocument works on plain objects (Kubernetes source)', async (t) => {
  const v = validateDocument({ apiVersion: 'serving.knative.dev/v1', kind: 'Route', metadata: { name: 'r' }, spec: { traffic: [{ revisionName: 'r-1', percent: 90 }] } }, { file: 'k8s', doc: 0 })
  t.same(v.issues.map((i) => `${formatPath(i.path)}: ${i.message}`), ['spec.traffic: percents sum to 90, they must sum to 100'])
  t.equal(v.identity, 'serving.knative.dev/Route/default/r')
})

t.test('unknown fields are errors, with a suggestion for typos', async (t) => {
  t.same(errors(yaml(...ksvcHead,
    '  namspace: apps', //                    5
    ...containers, //                         6..10
    '  traffic:', //                          11
    '    - percentage: 100', //               12
    '  trafic: []', //                        13
  )), [
    'hello.yaml:5:3 metadata.namspace: unknown field "namspace"; did you mean namespace?',
    'hello.yaml:11:3 spec.traffic: percents sum to 0, they must sum to 100',
    'hello.yaml:12:7 spec.traffic[0].percentage: unknown field "percentage"; did you mean percent?',
    'hello.yaml:13:3 spec.trafic: unknown field "trafic"; did you mean traffic?',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: x', 'date:', '  a: b')), [
    'hello.yaml:5:1 date: unknown field "date"; did you mean data?',
  ])
  t.same(errors(yaml(...ingHead, '          - splits:', '              - serviceName: hello', '                port: 80')), [
    'hello.yaml:12:17 spec.rules[0].http.paths[0].splits[0].servicePort: missing field; give a port number or a port name',
    'hello.yaml:13:17 spec.rules[0].http.paths[0].splits[0].port: unknown field "port"; did you mean servicePort?',
  ])
})

t.test('revision spec: every field is checked against Knative\'s PodSpec subset', async (t) => {
  t.same(errors(yaml(...ksvcHead,
    'spec:', //                                 5
    '  template:', //                           6
    '    spec:', //                             7
    '      timeoutSecond: 30', //               8
    '      env:', //                            9
    '        - {name: A, value: b}', //         10
    '      containers:', //                     11
    '        - image: ghcr.io/me/hello', //     12
    '          comand: [node, app.js]', //      13
    '          envv:', //                       14
    '            - {name: A, value: b}', //     15
    '          containerConcurrency: 1', //     16
    '          readinessProbe:', //             17
    '            httpGet:', //                  18
    '              path: /ready', //            19
    '              prot: 8080', //              20
    '            periodSecond: 1', //           21
  )), [
    'hello.yaml:8:7 spec.template.spec.timeoutSecond: unknown field "timeoutSecond"; did you mean timeoutSeconds?',
    'hello.yaml:9:7 spec.template.spec.env: unknown field "env"; it belongs one level down, in each entry of spec.template.spec.containers; move it there',
    'hello.yaml:13:11 spec.template.spec.containers[0].comand: unknown field "comand"; did you mean command?',
    'hello.yaml:14:11 spec.template.spec.containers[0].envv: unknown field "envv"; did you mean env?',
    'hello.yaml:16:11 spec.template.spec.containers[0].containerConcurrency: unknown field "containerConcurrency"; it belongs one level up, in spec.template.spec; move it there',
    'hello.yaml:20:15 spec.template.spec.containers[0].readinessProbe.httpGet.prot: unknown field "prot"; did you mean port?',
    'hello.yaml:21:13 spec.template.spec.containers[0].readinessProbe.periodSecond: unknown field "periodSecond"; did you mean periodSeconds?',
  ])
  // one level too high again: a revision field in the template
  t.same(errors(yaml(...ksvcHead, 'spec:', '  template:', '    containerConcurrency: 1', '    spec:', '      containers:', '        - image: x')), [
    'hello.yaml:7:5 spec.template.containerConcurrency: unknown field "containerConcurrency"; it belongs one level down, in spec.template.spec; move it there',
  ])
  // nested types, each reported once even where a rule reads the same field
  t.same(errors(yaml(...ksvcHead, ...containers, //  5..9
    '          args: node', //                          10
    '          env:', //                                11
    '            - name: A', //                         12
    '              valueFrom: {secretKeyRef: {name: s, key: k, optional: "yes"}}', // 13
    '          ports: [{containerPort: "8080"}]', //    14
    '          resources: {limits: {cpu: [1]}}', //     15
    '          livenessProbe: {tcpSocket: {port: 8080}, initialDelaySeconds: -1}', // 16
  )), [
    "hello.yaml:10:17 spec.template.spec.containers[0].args: must be a list (lines starting with '- '), got the string \"node\"",
    'hello.yaml:13:69 spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.optional: must be true or false, got the string "yes"',
    'hello.yaml:14:35 spec.template.spec.containers[0].ports[0].containerPort: must be an integer from 1 to 65535, got the string "8080"; remove the quotes',
    'hello.yaml:15:32 spec.template.spec.containers[0].resources.limits.cpu: must be a quantity such as 500m, 128Mi or 2, got a list',
    'hello.yaml:16:73 spec.template.spec.containers[0].livenessProbe.initialDelaySeconds: must be an integer >= 0, got -1',
  ])
})

t.test('revision spec: fields Knative accepts but Sluice ignores stay valid', async (t) => {
  const r = load(yaml(...ksvcHead,
    'spec:',
    '  template:',
    '    spec:',
    '      serviceAccountName: runner',
    '      enableServiceLinks: false',
    '      imagePullSecrets: [{name: regcred}]',
    '      nodeSelector: {disk: ssd}',
    '      tolerations: [{key: k, operator: Exists}]',
    '      affinity: {nodeAffinity: {}}',
    '      runtimeClassName: gvisor',
    '      priorityClassName: high',
    '      schedulerName: default-scheduler',
    '      securityContext: {runAsNonRoot: true, fsGroup: 1000}',
    '      volumes: [{name: data, secret: {secretName: s}}]',
    '      containerConcurrency: 10',
    '      timeoutSeconds: 60',
    '      responseStartTimeoutSeconds: 30',
    '      idleTimeoutSeconds: 20',
    '      containers:',
    '        - name: app',
    '          image: ghcr.io/me/hello',
    '          imagePullPolicy: IfNotPresent',
    '          command: [node]',
    '          args: [app.js]',
    '          workingDir: /app',
    '          env:',
    '            - {name: A, value: b}',
    '            - name: B',
    '              valueFrom: {configMapKeyRef: {name: c, key: k, optional: true}}',
    '            - name: C',
    '              valueFrom: {fieldRef: {fieldPath: metadata.name}}',
    '          envFrom: [{prefix: X_, secretRef: {name: s, optional: true}}, {configMapRef: {name: c, optional: true}}]',
    '          ports: [{name: http1, containerPort: 8080, protocol: TCP}]',
    '          resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 1}}',
    '          readinessProbe:',
    '            httpGet: {path: /ready, port: 8080, scheme: HTTP, httpHeaders: [{name: x, value: y}]}',
    '            initialDelaySeconds: 1',
    '            periodSeconds: 2',
    '            timeoutSeconds: 1',
    '            successThreshold: 1',
    '            failureThreshold: 3',
    '          livenessProbe: {tcpSocket: {port: 8080}}',
    '          startupProbe: {exec: {command: [cat, /tmp/ready]}}',
    '          securityContext: {readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}, allowPrivilegeEscalation: false}',
    '          volumeMounts: [{name: data, mountPath: /data, readOnly: true}]',
    '          terminationMessagePath: /dev/termination-log',
    '          terminationMessagePolicy: File',
    '  traffic:',
    '    - latestRevision: true',
    '      percent: 100',
  ))
  t.same(r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`), [])
  t.equal(r.resources.services.length, 1)
})

t.test('core kinds: unknown fields are errors too', async (t) => {
  t.same(errors(yaml('apiVersion: v1', 'kind: Service', 'metadata:', '  name: backend', 'spec:',
    '  ports:', //                             6
    '    - port: 80', //                       7
    '      targetport: 8080', //               8
    '  selecter: {app: x}', //                 9
    '  sessionAffinity: None', //              10
  )), [
    'hello.yaml:8:7 spec.ports[0].targetport: unknown field "targetport"; did you mean targetPort?',
    'hello.yaml:9:3 spec.selecter: unknown field "selecter"; did you mean selector?',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: Endpoints', 'metadata:', '  name: backend', 'subsets:',
    '  - addresses: [{ip: 127.0.0.1, nodeName: n1}]', // 6
    '    port: [{port: 9000}]', //                       7
  )), ['hello.yaml:7:5 subsets[0].port: unknown field "port"; did you mean ports?'])
  t.same(errors(yaml('apiVersion: discovery.k8s.io/v1', 'kind: EndpointSlice', 'metadata:', '  name: backend-abc',
    'addressType: IPv4', 'endpoints:',
    '  - addresses: ["10.0.0.1"]', //          7
    '    condition: {ready: true}', //         8
    '    zone: a', //                          9
    'ports:', '  - port: 8080', '    protocl: TCP', // 12
  )), [
    'hello.yaml:8:5 endpoints[0].condition: unknown field "condition"; did you mean conditions?',
    'hello.yaml:12:5 ports[0].protocl: unknown field "protocl"; did you mean protocol?',
  ])
})

t.test('env: valueFrom names one source and excludes value; envFrom names one source', async (t) => {
  t.same(errors(yaml(...ksvcHead, ...containers, //                                  5..9
    '          env:', //                                                               10
    '            - name: A', //                                                        11
    '              value: x', //                                                       12
    '              valueFrom: {secretKeyRef: {name: s, key: k}}', //                   13
    '            - name: B', //                                                        14
    '              valueFrom: {}', //                                                  15
    '          envFrom:', //                                                           16
    '            - {secretRef: {name: s}, configMapRef: {name: c}}', //                17
    '            - {prefix: X_}', //                                                   18
  )), [
    'hello.yaml:12:22 spec.template.spec.containers[0].env[0].value: cannot be combined with valueFrom; remove one of them',
    'hello.yaml:15:15 spec.template.spec.containers[0].env[1].valueFrom: must name exactly one source (secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef), got none',
    'hello.yaml:17:15 spec.template.spec.containers[0].envFrom[0]: must name exactly one source (secretRef or configMapRef), got both',
    'hello.yaml:18:15 spec.template.spec.containers[0].envFrom[1]: must name exactly one source (secretRef or configMapRef), got none',
  ])
})

// Declared hosts that cannot serve yet, from YAML to the route table: reconcile says which hosts
// and why, compile puts them where the gateway looks on a miss (routing.ts), served hosts win.
import t from 'tap'
import { loadFiles } from '../../../control/sources/load.ts'
import { readSettings } from '../../../control/settings/read-settings.ts'
import { reconcile } from '../../../control/reconcile/index.ts'
import { emptyState } from '../../../control/state.ts'
import { compile } from '../../../control/compile/compile.ts'
import { RouteSlots } from '../../../gateway/metrics/route-slots.ts'
import { decide, ROUTED, RoutingDecision } from '../../../gateway/routing.ts'
import type { HostTable, RouteTable } from '../../../gateway/route-table.ts'

function build(yaml: string): RouteTable {
  const loaded = loadFiles([{ file: 'test.yaml', text: yaml }])
  if (loaded.errors.length > 0) throw new Error(JSON.stringify(loaded.errors))
  const { settings } = readSettings(loaded.resources.configMaps)
  const out = reconcile({ resources: loaded.resources, settings, state: emptyState(), now: new Date('2026-01-01T00:00:00Z') })
  return compile(out.model, new RouteSlots(), 1)
}

function ask(hosts: HostTable, host: string, internal = false): RoutingDecision {
  const d = new RoutingDecision()
  d.status = decide(d, hosts, { method: 'GET', url: '/', headers: { host }, rawHeaders: ['Host', host], httpVersionMajor: 1 }, internal, 'http') === ROUTED ? 200 : d.status
  return d
}

const svc = (name: string, container: string, extra = ''): string => `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: ${name}, namespace: default${extra}}
spec:
  template:
    spec:
      containers: [${container}]
`

const table = build([
  svc('helloworld', '{image: gcr.io/knative-samples/helloworld-nodejs}'),
  svc('quiet', '{image: x}', ', labels: {networking.knative.dev/visibility: cluster-local}'),
  `apiVersion: serving.knative.dev/v1
kind: Route
metadata: {name: pinned, namespace: default}
spec:
  traffic:
    - {revisionName: nowhere-00001, percent: 100}
    - {revisionName: nowhere-00001, percent: 0, tag: old}
`,
].join('---\n'))

t.test('an image-only Service: its public and cluster-local hosts answer 503 with the reason', async (t) => {
  const d = ask(table.external, 'helloworld.default.localhost:8080')
  t.equal(d.status, 503)
  t.equal(d.miss, false, 'not counted as an unmatched request')
  t.equal(d.body, 'revision helloworld-00001 has an image but no command: add command or sluice.dev/upstream\n')
  t.equal(d.unavailable?.reason, 'RevisionMissing')
  for (const h of ['helloworld.default', 'helloworld.default.svc', 'helloworld.default.svc.cluster.local']) {
    t.equal(ask(table.internal, h, true).status, 503, `internal ${h}`)
    t.equal(ask(table.external, h).status, 404, `not public: ${h}`)
  }
})

t.test('a cluster-local Service is unavailable on the internal listener only', async (t) => {
  t.equal(ask(table.internal, 'quiet.default.svc.cluster.local', true).status, 503)
  t.equal(ask(table.external, 'quiet.default.localhost').status, 404)
})

t.test('a Route naming a missing revision: its default and tag hosts, with the Route reason', async (t) => {
  for (const h of ['pinned.default.localhost', 'old-pinned.default.localhost']) {
    const d = ask(table.external, h)
    t.equal(d.status, 503, h)
    t.match(d.body, /^route default\/pinned is not ready: RevisionMissing: Revision "nowhere-00001" referenced in traffic not found\.\n$/)
  }
})

t.test('hosts nobody declared stay 404; a served host is never shadowed', async (t) => {
  const d = ask(table.external, 'nobody.default.localhost')
  t.equal(d.status, 404)
  t.equal(d.miss, true)
  const both = build([
    svc('helloworld', '{image: x}'),
    `apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: other, namespace: default}
spec:
  rules:
    - hosts: [helloworld.default.localhost]
      visibility: ExternalIP
      http:
        paths:
          - splits:
              - {serviceName: backend, serviceNamespace: default, servicePort: 80, percent: 100}
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  type: ExternalName
  externalName: example.com
  ports: [{port: 80}]
`,
  ].join('---\n'))
  t.equal(decide(new RoutingDecision(), both.external, { method: 'GET', url: '/', headers: { host: 'helloworld.default.localhost' }, rawHeaders: [], httpVersionMajor: 1 }, false, 'http'), ROUTED)
  t.equal(both.external.unavailable?.has('helloworld.default.localhost'), false, 'not listed where an ingress serves it')
})

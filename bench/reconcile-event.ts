// Reconcile's cost of one watch event at N KIngresses, in-process (no API server, no gateway):
// N KIngresses, each with its Service and EndpointSlice, reconciled once with a ReconcileCache;
// then EVENTS times one KIngress is replaced by a changed copy (the rest keep their identity, as
// the informer cache hands them over) and reconciled again. Prints the median and p90 per pass.
//
//   node bench/reconcile-event.ts [N (2000)] [EVENTS (300)]
import { loadFiles } from '../control/sources/load.ts'
import { readSettings } from '../control/settings/read-settings.ts'
import { reconcile } from '../control/reconcile/index.ts'
import { ReconcileCache } from '../control/reconcile/cache.ts'
import { emptyState } from '../control/state.ts'
import type { KIngress, ResourceSet } from '../control/resources/types.ts'

const N = Number(process.argv[2] ?? 2000)
const EVENTS = Number(process.argv[3] ?? 300)
const NOW = new Date('2026-01-01T00:00:00Z')

const ingress = (i: number, header: string): string => `---
apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata: {name: app-${i}, namespace: bench}
spec:
  rules:
    - hosts: [app-${i}.bench.example.com]
      visibility: ExternalIP
      http:
        paths:
          - splits:
              - serviceName: svc-${i}
                servicePort: 80
                appendHeaders: {bench-sentinel: '${header}'}
`
const objects = (i: number): string => `---
apiVersion: v1
kind: Service
metadata: {name: svc-${i}, namespace: bench}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-${i}-abc, namespace: bench, labels: {kubernetes.io/service-name: svc-${i}}}
addressType: IPv4
endpoints: [{addresses: [10.0.${i >> 8}.${i & 255}], conditions: {ready: true}}]
ports: [{name: http, port: 8080}]
`
const load = (yaml: string): ResourceSet => {
  const l = loadFiles([{ file: 'bench.yaml', text: yaml }])
  if (l.errors.length > 0) throw new Error(JSON.stringify(l.errors.slice(0, 3)))
  return l.resources
}
let rs = load(Array.from({ length: N }, (_, i) => ingress(i, '0') + objects(i)).join(''))
const { settings } = readSettings(rs.configMaps)
const cache = new ReconcileCache()
let previous = reconcile({ resources: rs, settings, state: emptyState(), now: NOW, cache })
const ms: number[] = []
for (let e = 0; e < EVENTS; e++) {
  const i = (e * 7919) % N
  const changed = load(ingress(i, `e${e}`)).ingresses[0]! as KIngress
  const ingresses = rs.ingresses.slice()
  ingresses[ingresses.findIndex((x) => x.metadata.name === changed.metadata.name)] = changed
  rs = { ...rs, ingresses }
  const t0 = performance.now()
  previous = reconcile({ resources: rs, settings, state: previous.state, now: NOW, cache, previous: previous.objects, lastServed: previous.served })
  ms.push(performance.now() - t0)
}
ms.sort((a, b) => a - b)
const at = (p: number): string => ms[Math.min(ms.length - 1, Math.floor(ms.length * p))]!.toFixed(2)
console.log(`reconcile of one changed KIngress at ${N}: median ${at(0.5)} ms, p90 ${at(0.9)} ms (${EVENTS} passes; routing memo ${cache.stats.hits} hits, ${cache.stats.misses} misses in the last)`)

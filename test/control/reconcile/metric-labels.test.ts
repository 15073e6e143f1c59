// The names backends carry for metrics labels (docs/metrics.md): a Revision's own Service and
// Configuration labels; for a KIngress from Serving, which names the Kubernetes Service Knative
// made for a revision, the revision labels on that Service; a plain Service is just its name.
import t from 'tap'
import type { IngressSplit, KIngress } from '../../../control/resources/types.ts'
import { coreService, endpointSlice, kingress, revision, run } from '../fixtures.ts'

function simple(name: string, splits: Partial<IngressSplit>[]): KIngress {
  return kingress(name, {
    rules: [{
      hosts: [`${name}.example.com`], visibility: 'ExternalIP',
      http: { paths: [{ splits: splits.map((s) => ({ serviceNamespace: 'default', serviceName: 'backend', servicePort: 80, ...s })) }] },
    }],
  })
}

const labels = (b: { service: string; configuration?: string; revision: string } | undefined) =>
  b === undefined ? undefined : { service: b.service, configuration: b.configuration, revision: b.revision }

t.test('a Kubernetes Service made for a Knative revision names the revision, Service and Configuration', async (t) => {
  const knativeLabels = { 'serving.knative.dev/revision': 'hello-00002', 'serving.knative.dev/configuration': 'hello', 'serving.knative.dev/service': 'hello', 'networking.internal.knative.dev/serviceType': 'Public' }
  const out = run({
    ingresses: [simple('hello', [{ serviceName: 'hello-00002', servicePort: 80 }]), simple('plain', [{ serviceName: 'backend', servicePort: 80 }])],
    coreServices: [
      coreService('hello-00002', { ports: [{ name: 'http', port: 80, targetPort: 8012 }] }, { labels: knativeLabels }),
      coreService('backend', { ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    ],
    endpointSlices: [
      endpointSlice('hello-00002-x', 'hello-00002', [{ name: 'http', port: 8012 }], [{ addresses: ['10.0.0.5'] }]),
      endpointSlice('backend-x', 'backend', [{ name: 'http', port: 8080 }], [{ addresses: ['10.0.0.6'] }]),
    ],
  })
  t.same(labels(out.model.backends.get('service/default/hello-00002/80')), { service: 'hello', configuration: 'hello', revision: 'hello-00002' })
  t.same(labels(out.model.backends.get('service/default/backend/80')), { service: 'backend', configuration: undefined, revision: 'backend' }, 'a plain Service: its name')
})

t.test('a Revision with no Service or Configuration labels has empty ones (Knative leaves them unset)', async (t) => {
  const out = run({
    ingresses: [simple('web', [{ serviceName: 'rev-a', servicePort: 80 }])],
    revisions: [revision('rev-a', { upstream: 'http://10.2.0.1:8080' })],
  })
  t.same(labels(out.model.backends.get('revision/default/rev-a')), { service: '', configuration: '', revision: 'rev-a' })
})

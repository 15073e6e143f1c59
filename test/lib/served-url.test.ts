// The one formatter of served URLs: the port only when it is not the scheme's default, cluster
// names and Kubernetes mode (no ports) left as Knative writes them.
import t from 'tap'
import { servedStatusUrl, servedUrl, withServedUrls } from '../../lib/served-url.ts'

const ports = { http: 8080, https: 8443 }

t.test('servedUrl names the port unless it is 80/443 or unknown', async (t) => {
  t.equal(servedUrl('http', 'hello.default.localhost', ports), 'http://hello.default.localhost:8080')
  t.equal(servedUrl('https', 'hello.default.localhost', ports), 'https://hello.default.localhost:8443')
  t.equal(servedUrl('http', 'hello.example.com', { http: 80, https: 443 }), 'http://hello.example.com')
  t.equal(servedUrl('https', 'hello.example.com', { http: 80, https: 443 }), 'https://hello.example.com')
  t.equal(servedUrl('http', 'hello.example.com', null), 'http://hello.example.com', 'Kubernetes mode: portless')
  t.equal(servedUrl('http', 'hello.example.com', { http: 0, https: 0 }), 'http://hello.example.com', 'not listening yet')
})

t.test('servedStatusUrl: public URLs get the port, cluster names and ported URLs do not', async (t) => {
  t.equal(servedStatusUrl('http://hello.default.localhost', ports, 'cluster.local'), 'http://hello.default.localhost:8080')
  t.equal(servedStatusUrl('https://hello.default.example.com/path?q', ports, 'cluster.local'), 'https://hello.default.example.com:8443/path?q')
  t.equal(servedStatusUrl('http://hello.default.svc.cluster.local', ports, 'cluster.local'), 'http://hello.default.svc.cluster.local')
  t.equal(servedStatusUrl('http://hello.default.svc.corp.internal', ports, 'corp.internal'), 'http://hello.default.svc.corp.internal')
  t.equal(servedStatusUrl('http://hello.default.svc.cluster.local', { ...ports, internal: 8081 }, 'cluster.local'), 'http://hello.default.svc.cluster.local:8081', 'the internal port when it is given')
  t.equal(servedStatusUrl('http://hello.default.localhost:9000', ports, 'cluster.local'), 'http://hello.default.localhost:9000')
  t.equal(servedStatusUrl('http://hello.default.localhost', null, 'cluster.local'), 'http://hello.default.localhost')
})

t.test('withServedUrls rewrites Service and Route URLs only, as new objects', async (t) => {
  const svc = {
    apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'hello', namespace: 'default' },
    status: {
      url: 'http://hello.default.localhost', address: { url: 'http://hello.default.svc.cluster.local' },
      traffic: [{ revisionName: 'hello-00001', percent: 100 }, { tag: 'next', revisionName: 'hello-00002', percent: 0, url: 'http://next-hello.default.localhost' }],
    },
  }
  const shown = withServedUrls(svc, ports, 'cluster.local')
  t.not(shown, svc)
  t.equal(svc.status.url, 'http://hello.default.localhost', 'the status itself is not changed')
  t.same(shown.status, {
    url: 'http://hello.default.localhost:8080', address: { url: 'http://hello.default.svc.cluster.local' },
    traffic: [{ revisionName: 'hello-00001', percent: 100 }, { tag: 'next', revisionName: 'hello-00002', percent: 0, url: 'http://next-hello.default.localhost:8080' }],
  })
  const ing = { apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress', status: { url: 'http://x' } }
  t.equal(withServedUrls(ing, ports, 'cluster.local'), ing, 'other kinds as they are')
  t.equal(withServedUrls(svc, null, 'cluster.local'), svc, 'Kubernetes mode: as Knative writes it')
})

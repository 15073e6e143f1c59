// What `sluice serve` writes to its terminal: the URLs it serves at start, and with
// SLUICE_LOG_FORMAT=json every line as one JSON object.
import t from 'tap'
import { servedUrls, urlWithPort } from '../../control/served-urls.ts'
import { serviceYaml, startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'

t.test('urlWithPort adds the listener port unless it is the default one or already there', async (t) => {
  t.equal(urlWithPort('http://hello.default.localhost', 8080), 'http://hello.default.localhost:8080')
  t.equal(urlWithPort('http://hello.default.localhost', 80), 'http://hello.default.localhost')
  t.equal(urlWithPort('https://hello.example.com', 443), 'https://hello.example.com')
  t.equal(urlWithPort('https://hello.example.com', 8443), 'https://hello.example.com:8443')
  t.equal(urlWithPort('http://hello.default.localhost:9000', 8080), 'http://hello.default.localhost:9000', 'a URL that names its port keeps it')
  t.equal(urlWithPort('http://hello.default.localhost', undefined), 'http://hello.default.localhost')
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

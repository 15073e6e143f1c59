// config-network cluster-local-domain-tls: the cluster-local TLS port (Kourier's 8444) serves
// every rule, as the internal plain listener does, with the certificate of config-kourier
// cluster-cert-secret for any name and the KIngress tls[] entries that cover a ClusterLocal rule
// by SNI. It stays closed until one of them exists.
import t from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { coreBackend, yamlDocs } from '../gateway/helpers.ts'
import { selfSigned, secretYaml } from '../tls/certs.ts'
import { httpsGet, tlsIngress } from './fixtures/routes.ts'
import { buildInternalCertTable } from '../../control/tls/internal-certificates.ts'
import { CertContextCache } from '../../control/tls/context-cache.ts'
import { emptyResourceSet } from '../../control/resources/types.ts'

const backend = await startBackend('local')
t.teardown(() => backend.close())

const cluster = selfSigned('cluster-local-cert', ['*.default.svc.cluster.local', '*.default.svc', '*.default'])
const tagged = selfSigned('tagged-cert', ['tagged.default.svc.cluster.local'])
const publicOnly = selfSigned('public-cert', ['hello.example.com'])

const LOCAL = 'hello.default.svc.cluster.local'
const files = {
  'config.yaml': yamlDocs(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-network', namespace: 'knative-serving' }, data: { 'cluster-local-domain-tls': 'Enabled' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-kourier', namespace: 'knative-serving' }, data: { 'cluster-cert-secret': 'cluster-local' } },
  ),
  'secrets.yaml': [
    secretYaml('cluster-local', cluster.cert, cluster.key, 'knative-serving'),
    secretYaml('tagged', tagged.cert, tagged.key),
    secretYaml('public', publicOnly.cert, publicOnly.key),
  ].join('---\n'),
  'backend.yaml': yamlDocs(...coreBackend('backend', backend.port)),
  'ingress.yaml': yamlDocs(
    tlsIngress('hello', [
      { hosts: [LOCAL], visibility: 'ClusterLocal', paths: [{ splits: [{ service: 'backend' }] }] },
      { hosts: ['hello.example.com'], visibility: 'ExternalIP', paths: [{ splits: [{ service: 'backend' }] }] },
    ], [{ hosts: ['hello.example.com'], secretName: 'public' }]),
    tlsIngress('tagged', [
      { hosts: ['tagged.default.svc.cluster.local'], visibility: 'ClusterLocal', paths: [{ splits: [{ service: 'backend' }] }] },
    ], [{ hosts: ['tagged.default.svc.cluster.local'], secretName: 'tagged' }]),
  ),
}
const s = await startSluice(files, { args: ['--internal-tls-port', '0'] })
t.teardown(() => s.stop())
const port = await waitFor(() => Number(/cluster-local TLS listening port=(\d+)/.exec(s.logs())?.[1] ?? 0), { what: 'the cluster-local TLS port to open', timeoutMs: 30_000 })

t.test('a cluster-local host over TLS: the cluster-cert-secret certificate, routed like the internal listener', async (t) => {
  const r = await httpsGet(port, LOCAL, { ca: [cluster.cert] })
  t.equal(r.status, 200, r.text)
  t.equal(r.cn, 'cluster-local-cert')
  const seen = JSON.parse(r.text) as { headers: Record<string, string> }
  t.equal(seen.headers['x-forwarded-proto'], 'https')
})

t.test('a tls[] entry covering a ClusterLocal rule is chosen by SNI', async (t) => {
  const r = await httpsGet(port, 'tagged.default.svc.cluster.local', { ca: [tagged.cert] })
  t.equal(r.status, 200, r.text)
  t.equal(r.cn, 'tagged-cert')
})

t.test('an entry for ExternalIP hosts only is not served here; those names get the cluster certificate', async (t) => {
  const r = await httpsGet(port, 'hello.example.com', { ca: [cluster.cert], checkServerIdentity: () => undefined })
  t.equal(r.cn, 'cluster-local-cert')
  t.equal(r.status, 200, 'every rule is routed on the internal side, as on the plain internal port')
})

t.test('the public TLS port keeps the public certificate', async (t) => {
  const pub = await waitFor(() => s.tlsPort(), { what: 'the public TLS port' })
  t.not(pub, port)
  const r = await httpsGet(pub, 'hello.example.com', { ca: [publicOnly.cert] })
  t.equal(r.status, 200, r.text)
  t.equal(r.cn, 'public-cert')
})

t.test('in process: a missing cluster-cert-secret is an error at the key; nothing to serve is a warning', async (t) => {
  const kourier = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config-kourier', namespace: 'knative-serving', labels: {}, annotations: {} }, spec: undefined, data })
  const missing = buildInternalCertTable({ ...emptyResourceSet(), configMaps: [kourier({ 'cluster-cert-secret': 'nope' })] }, { cache: new CertContextCache(), clusterLocalDomainTls: true })
  t.equal(missing.errors.length, 1)
  t.equal(missing.errors[0]!.path, 'data.cluster-cert-secret')
  t.match(missing.errors[0]!.message, /config-kourier: cluster-cert-secret: Secret knative-serving\/nope not found/)
  const none = buildInternalCertTable(emptyResourceSet(), { cache: new CertContextCache(), clusterLocalDomainTls: true })
  t.same(none.errors, [])
  t.match(none.warnings[0]?.message ?? '', /cluster-local-domain-tls is Enabled but no certificate serves cluster-local hosts/)
  t.same(buildInternalCertTable(emptyResourceSet(), { cache: new CertContextCache(), clusterLocalDomainTls: false }).warnings, [], 'off: no warning')
})

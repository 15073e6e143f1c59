// Knative's `tls` conformance scenario against `sluice serve --kubernetes`: a self-signed ECDSA
// P-256 certificate for the host in a kubernetes.io/tls Secret named by spec.tls serves https
// (SNI = host) next to plain http; and a Secret that appears only after its KIngress: http works
// at once, the status says which Secret is missing, and https starts once it exists.
import t from 'tap'
import { startFakeApiServer, type KObject } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { selfSigned, type TestCert } from '../tls/certs.ts'
import { conditionOf, getIngress, kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import { httpsRequest } from './fixtures/https.ts'

const NS = 'serving-tests'

function tlsSecret(name: string, c: TestCert): KObject {
  return {
    apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(c.cert).toString('base64'), 'tls.key': Buffer.from(c.key).toString('base64') },
  }
}

function tlsIngress(name: string, host: string, secretName: string): KObject {
  const o = kingress(NS, name, [host], [{ service: 'tls-backend' }])
  ;(o['spec'] as Record<string, unknown>)['tls'] = [{ hosts: [host], secretName, secretNamespace: NS }]
  return o
}

t.test('tls: https with the Secret named in spec.tls, http too; then a Secret that comes after its KIngress', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const backend = await knativeBackend('tls-backend')
  t.teardown(() => backend.close())
  for (const o of serviceFor(NS, 'tls-backend', [backend])) api.apply(o)

  const HOST = 'tls.example.com'
  const cert = selfSigned(HOST)
  api.apply(tlsSecret('tls-secret', cert))
  api.apply(tlsIngress('tls', HOST, 'tls-secret'))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'tls')

  t.equal((await request(sluice.port, HOST, '/')).status, 200, 'http → 200')
  const tlsPort = await waitFor(() => sluice.tlsPort(), { what: 'the TLS port open', timeoutMs: 30_000 })
  const r = await httpsRequest(tlsPort, HOST, cert.cert)
  t.equal(r.status, 200, 'https with SNI = host, trusting the self-signed cert → 200')
  t.equal((JSON.parse(r.body) as { backend: string }).backend, 'tls-backend', 'https reached the backend')

  // The Secret comes after the KIngress.
  const LATE = 'late.example.com'
  const lateCert = selfSigned(LATE)
  api.apply(tlsIngress('late', LATE, 'late-secret'))
  const waiting = await waitFor(() => {
    const o = getIngress(api, NS, 'late')
    return conditionOf(o, 'NetworkConfigured')?.status === 'False' ? o : undefined
  }, { what: () => `late reported without its Secret; now ${JSON.stringify(getIngress(api, NS, 'late')?.['status'])}`, timeoutMs: 30_000 })
  t.equal(conditionOf(waiting, 'NetworkConfigured')?.reason, 'ReconcileIngressFailed', 'NetworkConfigured False ReconcileIngressFailed')
  t.match(conditionOf(waiting, 'NetworkConfigured')?.message, /late-secret/, 'the message names the missing Secret')
  t.not(conditionOf(waiting, 'Ready')?.status, 'True', 'not Ready without its Secret')
  await waitFor(async () => (await request(sluice.port, LATE, '/')).status === 200, { what: 'late served over http without its Secret', timeoutMs: 30_000 })
  t.pass('http works before the Secret exists')
  t.equal((await httpsRequest(tlsPort, HOST, cert.cert)).status, 200, 'the other host keeps its https')

  api.apply(tlsSecret('late-secret', lateCert))
  await waitIngressReady(api, NS, 'late')
  const late = await waitFor(async () => {
    const res = await httpsRequest(tlsPort, LATE, lateCert.cert).catch(() => undefined)
    return res?.status === 200 ? res : undefined
  }, { what: 'https for late once its Secret exists', timeoutMs: 30_000 })
  t.equal(late.status, 200, 'https works once the Secret exists')
  t.equal(conditionOf(getIngress(api, NS, 'late'), 'NetworkConfigured')?.status, 'True', 'NetworkConfigured True once the Secret exists')
})

// knative/networking ingress conformance, ported (httpoption.go, alpha): two ingresses with TLS,
// one `Enabled` and one `Redirected`, at the same time. Both answer over HTTPS; over plain HTTP
// the first answers 200 and the second 301, so the option is per ingress, not global.
import t from 'tap'
import https from 'node:https'
import { startFakeApiServer } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { selfSigned, type TestCert } from '../tls/certs.ts'
import { startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'
import { kingressOf, runtimeJson, runtimeService, uniq } from './fixtures/conformance.ts'

const NS = 'serving-tests'
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

/** One HTTPS/1.1 GET to 127.0.0.1:port with SNI and Host = host; the client trusts only `cert`. */
function httpsGet(port: number, host: string, cert: TestCert): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', servername: host, headers: { host }, ca: cert.cert, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`https://${host} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

t.test('httpoption: Enabled serves plain HTTP, Redirected answers it 301; both serve HTTPS', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const cases = [{ option: 'Enabled' as const, code: 200 }, { option: 'Redirected' as const, code: 301 }].map((c) => ({ ...c, name: uniq(`opt-${c.option.toLowerCase()}`) }))
  const certs = new Map<string, TestCert>()
  for (const c of cases) {
    const host = `${c.name}.example.com`
    const b = await runtimeService(api, NS, c.name)
    t.teardown(() => b.close())
    const cert = selfSigned(host)
    certs.set(c.name, cert)
    api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${c.name}-tls`, namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(cert.cert), 'tls.key': b64(cert.key) } })
    api.apply(kingressOf(NS, c.name, [{ hosts: [host], paths: [{ splits: [{ service: c.name }] }] }], {
      httpOption: c.option, tls: [{ hosts: [host], secretName: `${c.name}-tls`, secretNamespace: NS }],
    }))
  }
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  for (const c of cases) await waitIngressReady(api, NS, c.name)
  const tlsPort = await waitFor(() => sluice.tlsPort() || undefined, { what: 'the TLS listener', timeoutMs: 30_000 })

  for (const c of cases) {
    const host = `${c.name}.example.com`
    t.equal(runtimeJson(await httpsGet(tlsPort, host, certs.get(c.name)!)).headers['host'], host, `${c.option}: https → 200`)
    const plain = await request(sluice.port, host, '/')
    t.equal(plain.status, c.code, `${c.option}: plain http → ${c.code}`)
    if (c.code === 301) t.equal(plain.headers.location, `https://${host}/`, 'the redirect points at the same host over https')
  }
})

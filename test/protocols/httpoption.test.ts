// Conformance httpoption (alpha): two ingresses with TLS, one `httpOption: Enabled` and one
// `Redirected`. HTTPS reaches both; plain HTTP (not following redirects) gets 200 from the first
// and a 301 to https://host/path from the second, from HTTP/1.1, h2c and curl alike. The option
// is per ingress, and only the public plain listener redirects.
import t from 'tap'
import { startBackend } from '../fixtures/backend.ts'
import { startSluice } from '../fixtures/sluice.ts'
import { coreBackend, send, yamlDocs, type Echo } from '../gateway/helpers.ts'
import { secretYaml, selfSigned } from '../tls/certs.ts'
import { closeSession, curl, h2Connect, h2Request, httpsGet, tlsIngress, tlsPortOf } from './fixtures/routes.ts'

const ENABLED = 'enabled.example.com'
const REDIRECTED = 'redirected.example.com'
const E = selfSigned(ENABLED)
const R = selfSigned(REDIRECTED)

const backend = await startBackend('web')
t.teardown(() => backend.close())

const ingress = (name: string, host: string, option: 'Enabled' | 'Redirected'): object =>
  tlsIngress(name, [{ hosts: [host], paths: [{ splits: [{ service: 'web' }] }] }], [{ hosts: [host], secretName: name }], option)

const s = await startSluice({
  'backend.yaml': yamlDocs(...coreBackend('web', backend.port)),
  'secrets.yaml': secretYaml('enabled', E.cert, E.key) + '---\n' + secretYaml('redirected', R.cert, R.key),
  'ingresses.yaml': yamlDocs(ingress('enabled', ENABLED, 'Enabled'), ingress('redirected', REDIRECTED, 'Redirected')),
})
t.teardown(() => s.stop())
const tlsPort = await tlsPortOf(s)

t.test('HTTPS reaches both', async (t) => {
  for (const [host, cert] of [[ENABLED, E], [REDIRECTED, R]] as const) {
    const r = await httpsGet(tlsPort, host, { ca: [cert.cert], path: '/secure' })
    t.equal(r.status, 200, `${host}: 200`)
    t.equal((JSON.parse(r.text) as Echo).headers['x-forwarded-proto'], 'https')
  }
})

t.test('plain HTTP/1.1: 200 for Enabled, 301 to https for Redirected', async (t) => {
  const enabled = await send(s.port, ENABLED, { path: '/some/path?q=1' })
  t.equal(enabled.status, 200)
  t.equal((JSON.parse(enabled.text) as Echo).url, '/some/path?q=1')

  const before = backend.requests.length
  const redirected = await send(s.port, REDIRECTED, { path: '/some/path?q=1' })
  t.equal(redirected.status, 301)
  t.equal(redirected.headers.location, `https://${REDIRECTED}/some/path?q=1`)
  const withPort = await send(s.port, `${REDIRECTED}:${s.port}`, { path: '/p', method: 'POST', body: 'x' })
  t.equal(withPort.status, 301, 'any method')
  t.equal(withPort.headers.location, `https://${REDIRECTED}/p`, 'the plain port is not carried over')
  t.equal(backend.requests.length, before, 'redirects never reach the backend')
})

t.test('plain h2c: the same answers', async (t) => {
  const session = await h2Connect(`http://127.0.0.1:${s.port}`)
  t.teardown(() => closeSession(session))
  const enabled = await h2Request(session, { ':path': '/h2', ':authority': ENABLED })
  t.equal(enabled.status, 200)
  const redirected = await h2Request(session, { ':path': '/h2?x=y', ':authority': REDIRECTED })
  t.equal(redirected.status, 301)
  t.equal(redirected.headers.location, `https://${REDIRECTED}/h2?x=y`)
})

t.test('curl without following redirects', async (t) => {
  const code = async (host: string): Promise<string> => {
    const r = await curl(['-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '-H', `Host: ${host}`, `http://127.0.0.1:${s.port}/c`])
    return r.stdout
  }
  t.equal(await code(ENABLED), '200 ')
  t.equal(await code(REDIRECTED), `301 https://${REDIRECTED}/c`)
})

t.test('the cluster-local listener does not redirect', async (t) => {
  const r = await send(s.internalPort, REDIRECTED, { path: '/inside' })
  t.equal(r.status, 200)
})

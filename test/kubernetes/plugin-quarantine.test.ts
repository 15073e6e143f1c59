// A bad cluster Plugin (a config its schema refuses, a secretKeyRef that does not resolve, a field
// the kind lacks, a module that does not load, create() throwing) is quarantined: Ready False with
// the field path on its status and in the log, and only the routes that use it are affected. They
// keep its last good config when one was served, else they fail closed with a 503 (an auth plugin
// that is broken never leaves its route open). Every other KIngress keeps updating, and fixing the
// Plugin lifts the quarantine at the next event. Real parts: the fake API server, `sluice serve
// --kubernetes` as a child process, real backends.
import t from 'tap'
import { startFakeApiServer, type FakeApiServer, type KObject } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { conditionOf, getIngress, kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'

const NS = 'quarantine-tests'
const PLUGIN = 'sluice.dev/v1alpha1'
const WAIT = { timeoutMs: 30_000 }

function plugin(name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: PLUGIN, kind: 'Plugin', metadata: { name, namespace: NS }, spec }
}

const uses = (names: string) => ({ annotations: { 'sluice.dev/plugins': names } })

function pluginCondition(api: FakeApiServer, name: string) {
  const o = api.get(PLUGIN, 'Plugin', NS, name)
  const st = o?.['status'] as { observedGeneration?: number } | undefined
  return st?.observedGeneration === o?.metadata?.generation ? conditionOf(o, 'Ready') : undefined
}

/** The Plugin's Ready condition once it has this status at its current generation. */
function pluginReady(api: FakeApiServer, name: string, status: 'True' | 'False') {
  return waitFor(() => { const c = pluginCondition(api, name); return c?.status === status ? c : undefined }, {
    ...WAIT, what: () => `Plugin ${NS}/${name} Ready ${status}; now ${JSON.stringify(api.get(PLUGIN, 'Plugin', NS, name)?.['status'])}`,
  })
}

/** Polls until `host` answers as `ok` says; returns that answer. */
async function served(port: number, host: string, ok: (r: Awaited<ReturnType<typeof request>>) => boolean, what: string, headers: Record<string, string> = {}) {
  let last: Awaited<ReturnType<typeof request>> | undefined
  await waitFor(async () => { last = await request(port, host, '/', { headers }); return ok(last) }, { ...WAIT, what: () => `${what}; last answer ${last?.status} ${JSON.stringify(last?.headers)} ${last?.body.slice(0, 200)}` })
  return last!
}

const backendOf = (r: { body: string }): string | undefined => { try { return (JSON.parse(r.body) as { backend?: string }).backend } catch { return undefined } }
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` })

t.test('a bad Plugin affects only the routes that use it; every other KIngress keeps updating', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  const green = await knativeBackend('green')
  t.teardown(() => Promise.all([blue.close(), green.close()]))
  for (const o of [...serviceFor(NS, 'blue', [blue]), ...serviceFor(NS, 'green', [green])]) api.apply(o)
  api.apply(plugin('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'one' } } } }))
  api.apply(kingress(NS, 'tagged', ['tagged.example.com'], [{ service: 'blue' }], uses('tag')))
  api.apply(kingress(NS, 'plain', ['plain.example.com'], [{ service: 'blue' }]))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'tagged')
  await waitIngressReady(api, NS, 'plain')
  t.equal((await request(sluice.port, 'tagged.example.com', '/')).headers['x-tag'], 'one')
  await pluginReady(api, 'tag', 'True')

  // A config the plugin refuses: quarantined. Its routes keep its last good config.
  api.apply(plugin('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'two' } }, bogus: true } }))
  const bad = await pluginReady(api, 'tag', 'False')
  t.equal(bad.reason, 'InvalidSpec')
  t.match(bad.message, /^spec\.config\.bogus: .*; routes that use it keep its last good config until it is fixed$/, 'the field path, then what its routes do')
  await waitFor(() => /plugin quarantined.*quarantine-tests\/tag/.test(sluice.logs()) && /kubernetes:Plugin\/quarantine-tests\/tag spec\.config\.bogus/.test(sluice.logs()), { ...WAIT, what: 'the log names the Plugin and the field' })

  // Every other ingress keeps updating, and so does the route itself (with the last good plugin config).
  api.apply(kingress(NS, 'plain', ['plain.example.com'], [{ service: 'green' }]))
  await served(sluice.port, 'plain.example.com', (r) => backendOf(r) === 'green', 'plain moved to green')
  await waitIngressReady(api, NS, 'plain')
  api.apply(kingress(NS, 'other', ['other.example.com'], [{ service: 'green' }]))
  await waitIngressReady(api, NS, 'other')
  api.apply(kingress(NS, 'tagged', ['tagged.example.com'], [{ service: 'green' }], uses('tag')))
  const moved = await served(sluice.port, 'tagged.example.com', (r) => backendOf(r) === 'green', 'tagged moved to green')
  t.equal(moved.headers['x-tag'], 'one', 'the route that uses the Plugin updates, with its last good config')
  const tagged = await waitFor(() => { const c = conditionOf(getIngress(api, NS, 'tagged'), 'NetworkConfigured'); return c?.status === 'False' ? c : undefined }, { ...WAIT, what: 'the KIngress says which Plugin holds it back' })
  t.match(tagged.message, /Plugin quarantine-tests\/tag is not ready \(see its status\); this route keeps its last good config/)

  // Fixed: out of quarantine at the next event.
  api.apply(plugin('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'three' } } } }))
  await pluginReady(api, 'tag', 'True')
  await served(sluice.port, 'tagged.example.com', (r) => r.headers['x-tag'] === 'three', 'the fixed config served')
  await waitIngressReady(api, NS, 'tagged')
  await waitFor(() => /plugin out of quarantine.*quarantine-tests\/tag/.test(sluice.logs()), { ...WAIT, what: 'the log says the quarantine ended' })
  const metrics = (await sluice.admin('/metrics')).body
  t.match(metrics, /^sluice_config_reloads_total\{result="error"\} 0$/m, 'no load was refused')
})

t.test('a Plugin that was never good fails its routes closed with a 503 until it is fixed', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  t.teardown(() => blue.close())
  for (const o of serviceFor(NS, 'blue', [blue])) api.apply(o)
  api.apply(kingress(NS, 'plain', ['plain.example.com'], [{ service: 'blue' }]))
  // An auth plugin whose password Secret does not exist yet.
  api.apply(plugin('auth', { plugin: 'basic-auth', config: { users: { bob: { secretKeyRef: { name: 'users', key: 'bob' } } } } }))
  api.apply(kingress(NS, 'private', ['private.example.com'], [{ service: 'blue' }], uses('auth')))
  // A field the kind does not have (rejected by the source), a module that does not load, a Plugin
  // that does not exist yet, and create() throwing (a key file that cannot be read).
  api.apply(plugin('typo', { plugin: 'headers', confg: {} }))
  api.apply(kingress(NS, 'typo', ['typo.example.com'], [{ service: 'blue' }], uses('typo')))
  api.apply(plugin('module', { plugin: './no-such-plugin.js', config: {} }))
  api.apply(kingress(NS, 'module', ['module.example.com'], [{ service: 'blue' }], uses('module')))
  api.apply(kingress(NS, 'later', ['later.example.com'], [{ service: 'blue' }], uses('later')))
  api.apply(plugin('jwt', { plugin: 'jwt', config: { keys: [{ file: '/no/such/key.pem' }] } }))
  api.apply(kingress(NS, 'jwt', ['jwt.example.com'], [{ service: 'blue' }], uses('jwt')))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())

  // Start-up is not blocked: the others are served and Ready.
  await waitIngressReady(api, NS, 'plain')
  t.equal((await request(sluice.port, 'plain.example.com', '/')).status, 200)

  for (const [host, key] of [['private', 'auth'], ['typo', 'typo'], ['module', 'module'], ['later', 'later'], ['jwt', 'jwt']] as const) {
    const r = await served(sluice.port, `${host}.example.com`, (x) => x.status === 503, `${host} fails closed`)
    t.equal(r.headers['x-sluice-plugin-not-ready'], `${NS}/${key}`, `${host}: 503 naming the Plugin`)
    t.match(r.body, new RegExp(`plugin ${NS}/${key} of this route is not ready`))
    t.notMatch(r.body, /Secret|users|no-such|key\.pem/, 'the body does not tell clients the Plugin\'s errors')
  }
  t.match((await pluginReady(api, 'auth', 'False')).message, /^spec\.config\.users\.bob\.secretKeyRef\.name: Secret quarantine-tests\/users not found.*; routes that use it answer 503 until it is fixed/)
  t.match((await pluginReady(api, 'typo', 'False')).message, /^spec\.confg: .*routes that use it answer 503/)
  t.match((await pluginReady(api, 'module', 'False')).message, /^spec\.plugin: cannot load plugin module \/.*\/no-such-plugin\.js/)
  t.match((await pluginReady(api, 'jwt', 'False')).message, /^spec\.config: plugin quarantine-tests\/jwt cannot start for route quarantine-tests\/jwt: keys\[0\]\.file: cannot read/)
  const later = await waitFor(() => { const c = conditionOf(getIngress(api, NS, 'later'), 'NetworkConfigured'); return c?.status === 'False' ? c : undefined }, { ...WAIT, what: 'the KIngress naming a missing Plugin says so' })
  t.match(later.message, /no Plugin named "quarantine-tests\/later"; this route answers 503 until it is created/)
  const priv = await waitFor(() => { const c = conditionOf(getIngress(api, NS, 'private'), 'NetworkConfigured'); return c?.status === 'False' ? c : undefined }, { ...WAIT, what: 'the KIngress of the broken auth Plugin says so' })
  t.match(priv.message, /Plugin quarantine-tests\/auth is not ready \(see its status\); this route answers 503 until it is fixed/)
  const jwt = await waitFor(() => { const c = conditionOf(getIngress(api, NS, 'jwt'), 'NetworkConfigured'); return c?.status === 'False' ? c : undefined }, { ...WAIT, what: 'the KIngress of the Plugin that cannot start says so' })
  t.match(jwt.message, /^plugins: Plugin quarantine-tests\/jwt cannot start for this route \(see its status\); this route answers 503/)
  t.match(sluice.logs(), /kubernetes:Plugin\/quarantine-tests\/auth spec\.config\.users\.bob\.secretKeyRef\.name/, 'the log names the object and the field')
  t.match((await sluice.admin('/metrics')).body, /^sluice_plugins_quarantined\{fallback="fail_closed"\} 5$/m, 'five Plugins fail closed')

  // Each fix lifts its own quarantine at the next event.
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'users', namespace: NS }, type: 'Opaque', data: { bob: Buffer.from('s3cret').toString('base64') } })
  await pluginReady(api, 'auth', 'True')
  await served(sluice.port, 'private.example.com', (r) => r.status === 401, 'the auth plugin runs: no credentials, 401')
  t.equal((await request(sluice.port, 'private.example.com', '/', { headers: basic('bob', 's3cret') })).status, 200, 'and the right ones pass')
  await waitIngressReady(api, NS, 'private')
  api.apply(plugin('later', { plugin: 'headers', config: { response: { set: { 'x-later': 'yes' } } } }))
  await served(sluice.port, 'later.example.com', (r) => r.headers['x-later'] === 'yes', 'the Plugin created after its KIngress is served')
  await waitIngressReady(api, NS, 'later')
  api.apply(plugin('typo', { plugin: 'headers', config: {} }))
  await served(sluice.port, 'typo.example.com', (r) => r.status === 200, 'the fixed typo is served')
  await pluginReady(api, 'typo', 'True')
  // Still broken ones stay closed.
  t.equal((await request(sluice.port, 'module.example.com', '/')).status, 503)
  t.equal((await request(sluice.port, 'jwt.example.com', '/')).status, 503)

  // A Plugin that breaks after it was good keeps the last good auth: never open, never 503.
  api.apply(plugin('auth', { plugin: 'basic-auth', config: { users: { bob: { secretKeyRef: { name: 'users', key: 'nobody' } } } } }))
  t.match((await pluginReady(api, 'auth', 'False')).message, /secretKeyRef\.key: Secret quarantine-tests\/users has no key "nobody".*keep its last good config/)
  t.equal((await request(sluice.port, 'private.example.com', '/')).status, 401, 'still authenticated')
  t.equal((await request(sluice.port, 'private.example.com', '/', { headers: basic('bob', 's3cret') })).status, 200)
  const metrics = (await sluice.admin('/metrics')).body
  t.match(metrics, /^sluice_config_reloads_total\{result="error"\} 0$/m, 'no load was refused')
  t.match(metrics, /^sluice_plugins_quarantined\{fallback="last_good"\} 1$/m)
  t.match(metrics, /^sluice_plugins_quarantined\{fallback="fail_closed"\} 2$/m, 'the module and the jwt Plugin')
})

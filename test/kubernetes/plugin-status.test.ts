// Plugin objects (sluice.dev/v1alpha1) in --kubernetes mode get a status, written by the leader
// through the status subresource: Ready True at their generation when Sluice uses them, Ready False
// with reason InvalidSpec and the field path when it cannot: a field the kind does not have
// (rejected by the source) or a config the plugin refuses. Either way the Plugin is quarantined
// and the rest keeps serving and updating (plugin-quarantine.test.ts covers what its routes do).
import t from 'tap'
import { startFakeApiServer, type FakeApiServer, type KObject } from '../fixtures/fake-apiserver.ts'
import { request } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'
import { conditionOf, kingress, knativeBackend, serviceFor, startClusterSluice, waitIngressReady } from './fixtures/cluster.ts'

const NS = 'plugin-tests'
const PLUGIN = 'sluice.dev/v1alpha1'

function plugin(name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: PLUGIN, kind: 'Plugin', metadata: { name, namespace: NS }, spec }
}

function getPlugin(api: FakeApiServer, name: string): KObject | undefined {
  return api.get(PLUGIN, 'Plugin', NS, name)
}

/** The Plugin once its Ready condition has this status at its current generation. */
function pluginReady(api: FakeApiServer, name: string, status: 'True' | 'False'): Promise<KObject> {
  return waitFor(() => {
    const o = getPlugin(api, name)
    const st = o?.['status'] as { observedGeneration?: number } | undefined
    return conditionOf(o, 'Ready')?.status === status && st?.observedGeneration === o?.metadata?.generation ? o : undefined
  }, { timeoutMs: 30_000, what: () => `Plugin ${NS}/${name} Ready ${status}; now ${JSON.stringify(getPlugin(api, name)?.['status'])}` })
}

t.test('a Plugin is Ready when used, and says what is wrong with its field path when not', async (t) => {
  const api = await startFakeApiServer()
  t.teardown(() => api.close())
  const blue = await knativeBackend('blue')
  t.teardown(() => blue.close())
  for (const o of serviceFor(NS, 'blue', [blue])) api.apply(o)
  api.apply(plugin('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'one' } } } }))
  // A field the kind does not have: rejected by the source, alone.
  api.apply(plugin('typo', { plugin: 'headers', confg: {} }))
  api.apply(kingress(NS, 'app', ['app.example.com'], [{ service: 'blue' }], { annotations: { 'sluice.dev/plugins': 'tag' } }))
  const sluice = await startClusterSluice(api)
  t.teardown(() => sluice.stop())
  await waitIngressReady(api, NS, 'app')
  t.equal((await request(sluice.port, 'app.example.com', '/')).headers['x-tag'], 'one', 'the good Plugin runs')

  const tag = await pluginReady(api, 'tag', 'True')
  t.equal((tag['status'] as { observedGeneration?: number }).observedGeneration, 1)
  const typo = await pluginReady(api, 'typo', 'False')
  t.equal(conditionOf(typo, 'Ready')?.reason, 'InvalidSpec')
  t.match(conditionOf(typo, 'Ready')?.message, /^spec\.confg: /, 'the message starts with the field path')
  t.match(sluice.logs(), /kubernetes:Plugin\/plugin-tests\/typo spec\.confg/, 'and the log says the same')
  t.ok(api.requests.some((q) => q.group === 'sluice.dev' && q.resource === 'plugins' && q.subresource === 'status' && q.verb === 'update'), 'through the status subresource')

  // A config the plugin refuses: quarantined, its route keeps the last good config, the Plugin says why.
  api.apply(plugin('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'two' } }, bogus: true } }))
  const refused = await pluginReady(api, 'tag', 'False')
  t.equal((refused['status'] as { observedGeneration?: number }).observedGeneration, 2)
  t.match(conditionOf(refused, 'Ready')?.message, /spec\.config\.bogus/)
  t.equal((await request(sluice.port, 'app.example.com', '/')).headers['x-tag'], 'one', 'the last good config keeps serving')

  // Fixed: Ready again, and served.
  api.apply(plugin('tag', { plugin: 'headers', config: { response: { set: { 'x-tag': 'three' } } } }))
  await pluginReady(api, 'tag', 'True')
  await waitFor(async () => (await request(sluice.port, 'app.example.com', '/')).headers['x-tag'] === 'three', { what: 'the fixed Plugin served', timeoutMs: 30_000 })
  api.apply(plugin('typo', { plugin: 'headers', config: {} }))
  await pluginReady(api, 'typo', 'True')

  // The leader's own status writes do not rebuild the table: one load per spec change, not per write.
  const loads = (sluice.logs().match(/configuration applied/g) ?? []).length
  const written = api.statusWrites.filter((w) => w.name === 'tag' || w.name === 'typo').length
  t.ok(written >= 4, `Plugin statuses written (${written})`)
  t.ok(loads <= 4, `loads applied: ${loads} (start, the quarantined edit, the fix, the typo fix)`)
})

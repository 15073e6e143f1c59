// Plugins can never crash the gateway: whatever garbage a plugin hands back (a status Node cannot
// write, CR/LF in a header, a throwing getter, a wrong type, a rejection after the response) costs
// only its own request a 500 and a count in sluice_plugin_errors_total, through one real
// `sluice serve` whose other routes keep answering.
import t from 'tap'
import path from 'node:path'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, metric, request, startSluice } from '../fixtures/sluice.ts'
import { docs, expectReady, hostOf, service } from './fixtures/e2e.ts'
import { MODES } from './fixtures/garbage.ts'

const GARBAGE = path.resolve(import.meta.dirname, 'fixtures/garbage.ts')
const backend = await startBackend('app')
t.teardown(() => backend.close())

const name = (mode: string): string => `g-${mode}`
const yaml = docs(
  service('healthy', backend.origin),
  ...MODES.flatMap((mode) => [
    service(name(mode), backend.origin, name(mode)),
    `apiVersion: sluice.dev/v1alpha1\nkind: Plugin\nmetadata: {name: ${name(mode)}}\nspec:\n  plugin: ${GARBAGE}\n  config: {mode: ${mode}}\n`,
  ]),
)
const s = await startSluice({ 'garbage.yaml': yaml })
t.teardown(() => s.stop())
await expectReady(s)

async function errorsOf(mode: string): Promise<number> {
  return metric((await s.admin('/metrics')).body, 'sluice_plugin_errors_total', { plugin: `default/${name(mode)}` }) ?? 0
}

/** Garbage handed over before any response byte: the request gets a 500 naming the plugin. */
const FAILS_WITH_500 = MODES.filter((m) => !['complete-rejects', 'late-rejection', 'throwing-then'].includes(m))

for (const mode of FAILS_WITH_500) {
  t.test(`${mode}: 500 for this request only, counted`, async (t) => {
    if (mode === 'data-not-buffer') {
      // The head went out before the body showed the garbage: the response is cut instead.
      const r = await request(s.port, hostOf(name(mode)), '/').then((r) => `status ${r.status} ${r.body}`, (err: Error) => err.message)
      t.notMatch(r, /not a buffer/, `the garbage never reaches the client (${r})`)
    } else {
      const r = await request(s.port, hostOf(name(mode)), '/')
      t.equal(r.status, 500, r.body)
      t.match(r.body, `plugin default/${name(mode)} failed`)
      t.notMatch(JSON.stringify(r.headers), /x-injected/, 'nothing injected reaches the client')
    }
    t.ok(await eventually(async () => (await errorsOf(mode)) >= 1, 5000, 25), 'counted in sluice_plugin_errors_total')
    t.equal((await request(s.port, hostOf('healthy'), '/')).status, 200, 'other routes still answer')
  })
}

t.test('header edits with CR/LF never reach the upstream', async (t) => {
  backend.requests.length = 0
  await request(s.port, hostOf(name('edit-crlf')), '/')
  await request(s.port, hostOf(name('edit-bad-name')), '/')
  t.equal(backend.requests.length, 0, 'the upstream was never asked')
})

t.test('a rejecting onComplete and a forgotten rejection are logged, not fatal', async (t) => {
  t.equal((await request(s.port, hostOf(name('complete-rejects')), '/')).status, 200)
  t.ok(await eventually(() => /plugin onComplete failed/.test(s.logs()), 5000, 25), 'the rejection is reported')
  t.equal((await request(s.port, hostOf(name('late-rejection')), '/')).status, 200)
  t.ok(await eventually(async () => (metric((await s.admin('/metrics')).body, 'sluice_unhandled_errors_total', { kind: 'rejection' }) ?? 0) >= 1, 5000, 25),
    'the forgotten rejection is counted by the process guard')
  t.equal((await request(s.port, hostOf(name('throwing-then')), '/')).status, 200, 'a throwing then-getter is not a promise')
  t.equal((await request(s.port, hostOf('healthy'), '/')).status, 200, 'the gateway is still up')
  t.equal(s.child.exitCode, null)
})

// The live dashboard in a real browser (Debian's chromium through playwright-core) against a real
// `sluice serve`: the page draws the configuration, then a traffic split edited in the YAML and a
// revision scaled from zero show up on it within 2 s of Sluice applying them, without a reload.
// Screenshots are kept in test/artifacts/ (dashboard.png, dashboard-phone.png).
import t from 'tap'
import type { Page } from 'playwright-core'
import { startSluice, type SluiceProcess } from '../fixtures/sluice.ts'
import { startBackend } from '../fixtures/backend.ts'
import { waitFor } from '../fixtures/wait.ts'
import { appServiceYaml, attempt, configMapYaml } from '../activator/fixtures/helpers.ts'
import { artifact, launchChromium } from './dashboard-browser.ts'

const TAG = `dashboard-${process.pid}`
const LIVE_MS = 2_000

/** Service `split`: revision split-v1 (declared directly) and split-v2, both on a fixed upstream. */
function splitYaml(origin: string, v1Percent: number): string {
  return `apiVersion: serving.knative.dev/v1
kind: Revision
metadata:
  name: split-v1
  labels:
    serving.knative.dev/configuration: split
    serving.knative.dev/service: split
  annotations:
    sluice.dev/upstream: ${origin}
spec:
  containers:
    - image: example.dev/hello
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: split
spec:
  template:
    metadata:
      name: split-v2
      annotations:
        sluice.dev/upstream: ${origin}
    spec:
      containers:
        - image: example.dev/hello
  traffic:
    - revisionName: split-v1
      percent: ${v1Percent}
      tag: stable
    - latestRevision: true
      percent: ${100 - v1Percent}
`
}

/** When the sluice process logged a line matching `re` (its own timestamp), at or after `since`. */
function loggedAt(s: SluiceProcess, re: RegExp, since: number): number | undefined {
  for (const line of s.logs().split('\n')) {
    const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) /.exec(line)
    if (m === null || !re.test(line)) continue
    const at = Date.parse(m[1]!)
    if (at >= since) return at
  }
  return undefined
}

// the browser first: without chromium the test fails before it starts anything
const browser = await launchChromium()
t.teardown(() => browser.close())
const backend = await startBackend('split')
const s = await startSluice({
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true' }),
  'split.yaml': splitYaml(backend.origin, 80),
  'lazy.yaml': appServiceYaml(TAG, { name: 'lazy', annotations: { 'autoscaling.knative.dev/initial-scale': '0', 'autoscaling.knative.dev/window': '6s' } }),
})
t.teardown(async () => {
  await s.stop()
  await backend.close()
})

const page: Page = await browser.newPage({ viewport: { width: 1100, height: 1300 } })
const pageErrors: string[] = []
page.on('pageerror', (e) => pageErrors.push(String(e)))
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()) })

const segment = (revision: string): string => `[data-route="default/split"] .seg[data-revision="${revision}"]`
const instancesCell = (revision: string): string => `tr[data-revision="default/${revision}"] [data-field="instances"]`
const attr = (sel: string, name: string): Promise<string | null> => page.getAttribute(sel, name, { timeout: 1_000 }).catch(() => null)

t.test('the page draws services, the split and the revisions', async (t) => {
  const res = await page.goto(`http://127.0.0.1:${s.adminPort}/`)
  t.equal(res?.status(), 200)
  t.match(res?.headers()['content-security-policy'], /default-src 'none'/, 'nothing loads from elsewhere')
  await waitFor(async () => (await attr(segment('split-v1'), 'data-percent')) === '80', { what: 'the split bar at 80%', timeoutMs: 30_000, everyMs: 50 })
  t.equal(await attr(segment('split-v2'), 'data-percent'), '20')
  t.equal(await page.textContent('#conn'), 'live', 'the event stream is open')
  t.ok(await page.$('tr[data-service="default/split"]'), 'service split listed')
  t.ok(await page.$('tr[data-service="default/lazy"]'), 'service lazy listed')
  await waitFor(async () => (await attr(instancesCell('lazy-00001'), 'data-ready')) === '0', { what: 'lazy-00001 at zero instances', timeoutMs: 30_000 })
  t.equal(await attr(instancesCell('split-v1'), 'data-ready'), '', 'a fixed upstream has no instance count')
})

t.test('a traffic split edited in the YAML shows within 2 s', async (t) => {
  const written = Date.now()
  s.write('split.yaml', splitYaml(backend.origin, 30))
  await waitFor(async () => (await attr(segment('split-v1'), 'data-percent')) === '30', { what: 'the split bar at 30%', timeoutMs: 30_000, everyMs: 25 })
  const seen = Date.now()
  const applied = await waitFor(() => loggedAt(s, /configuration applied version=/, written), { what: 'the reload in the log' })
  t.equal(await attr(segment('split-v2'), 'data-percent'), '70')
  t.ok(seen - written <= LIVE_MS, `shown ${seen - written} ms after the file was written (${seen - applied} ms after Sluice applied it)`)
  t.match(await attr(segment('split-v1'), 'style'), /width: 30%/, 'the bar itself is 30% wide')
})

t.test('a configuration error shows with its file:line:col, and goes when fixed', async (t) => {
  s.write('broken.yaml', `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: broken
spec:
  template:
    spec:
      containers:
        - image: example.dev/hello
  traffic:
    - latestRevision: true
      percent: 150
`)
  const text = await waitFor(async () => page.isVisible('#errors').then((v) => v ? page.textContent('#error-list li', { timeout: 1_000 }) : null),
    { what: 'the error listed', timeoutMs: 30_000, everyMs: 25 })
  t.match(text, /broken\.yaml:\d+:\d+ /, `listed: ${text}`)
  t.match(await attr(segment('split-v1'), 'data-percent'), '30', 'the last good configuration is still drawn')
  s.remove('broken.yaml')
  await waitFor(async () => !(await page.isVisible('#errors')), { what: 'the error gone', timeoutMs: 30_000, everyMs: 25 })
})

t.test('a request to a revision at zero shows its instance within 2 s', async (t) => {
  const sent = Date.now()
  const r = await attempt(s.port, 'lazy', '/hello', 'first', { timeoutMs: 30_000 })
  t.equal(r.status, 200, `served (${r.error ?? r.body.trim()})`)
  const responded = Date.now()
  await waitFor(async () => Number(await attr(instancesCell('lazy-00001'), 'data-ready')) >= 1, { what: 'lazy-00001 with a ready instance', timeoutMs: 30_000, everyMs: 25 })
  const seen = Date.now()
  const ready = await waitFor(() => loggedAt(s, /instance ready revision=default\/lazy-00001/, sent), { what: 'the instance ready line in the log' })
  t.ok(seen - ready <= LIVE_MS, `shown ${seen - ready} ms after the instance was ready (${seen - sent} ms after the request was sent, ${seen - responded} ms after its response)`)
  // the cold start and the chart follow at the next one-second sample
  const cold = await waitFor(() => page.textContent('#cold-starts li[data-revision="default/lazy-00001"]', { timeout: 1_000 }).catch(() => null),
    { what: 'the cold start listed', timeoutMs: 30_000, everyMs: 50 })
  t.match(cold, /lazy-00001\s+\d+(ms| ms|\.\d+ s)/, `cold start listed with its duration: ${cold}`)
  await waitFor(async () => ((await attr('#chart polyline[data-revision="default/lazy-00001"]', 'points')) ?? '').trim() !== '', { what: 'lazy-00001 on the chart', timeoutMs: 30_000 })
  await waitFor(async () => (await page.textContent(`tr[data-revision="default/lazy-00001"] [data-field="rps"]`)) !== '—', { what: 'a request rate for lazy-00001', timeoutMs: 30_000 })
  t.notMatch(await page.textContent(`tr[data-revision="default/lazy-00001"] [data-field="p50"]`), /—/, 'p50 shown')
})

t.test('screenshots are kept, wide and phone-sized', async (t) => {
  const wide = artifact('dashboard.png')
  await page.screenshot({ path: wide, fullPage: true })
  await page.setViewportSize({ width: 390, height: 844 })
  // phone-sized: nothing wider than the screen but the scrolling tables
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')
  t.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow} px too wide)`)
  const phone = artifact('dashboard-phone.png')
  await page.screenshot({ path: phone, fullPage: true })
  t.comment(`screenshots: ${wide}, ${phone}`)
  t.same(pageErrors, [], 'no error in the page')
})

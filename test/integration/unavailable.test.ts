// Hosts of Services that exist but cannot serve answer 503 with Retry-After and one line saying
// why (starting, failed, an image without a command, a ready revision whose instances stopped
// coming up); hosts nobody declared stay 404. Through a real `sluice serve`.
import t, { type Test } from 'tap'
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { eventually, request, startSluice, tempDir, type HttpResult } from '../fixtures/sluice.ts'

const APP = fileURLToPath(new URL('./fixtures/moody-app.ts', import.meta.url))
const dir = tempDir('sluice-unavailable-')
const broken = path.join(dir, 'broken')
writeFileSync(broken, '')
const mark = path.join(dir, 'phoenix-started')

const q = (s: string): string => JSON.stringify(s)
function service(name: string, o: { env?: Record<string, string>; command?: boolean; readiness?: string; annotations?: Record<string, string> } = {}): string {
  const lines = ['apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  template:']
  if (o.annotations !== undefined) {
    lines.push('    metadata:', '      annotations:')
    for (const [k, v] of Object.entries(o.annotations)) lines.push(`        ${k}: ${q(v)}`)
  }
  lines.push('    spec:', '      containers:', '        - image: gcr.io/knative-samples/helloworld-nodejs')
  if (o.command !== false) {
    lines.push(`          command: [${q(process.execPath)}, ${q(APP)}]`)
    lines.push('          env:')
    for (const [k, v] of Object.entries({ NODE_OPTIONS: '', ...o.env })) lines.push(`            - name: ${k}`, `              value: ${q(v)}`)
  }
  if (o.readiness !== undefined) lines.push('          readinessProbe:', '            httpGet:', `              path: ${o.readiness}`)
  return lines.join('\n') + '\n'
}

const s = await startSluice({
  'autoscaler.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-autoscaler\n  namespace: knative-serving\ndata:\n  allow-zero-initial-scale: "true"\n',
  'helloworld.yaml': service('helloworld', { command: false }),
  'greeter.yaml': service('greeter', { env: { APP_NEVER_READY: '1' }, readiness: '/ready' }),
  'hello.yaml': service('hello', { env: { APP_FAIL_IF: broken } }),
  'phoenix.yaml': service('phoenix', { env: { APP_FAIL_IF: mark, APP_MARK: mark } }),
  'lazy.yaml': service('lazy', { env: { APP_FAIL_IF: broken }, annotations: { 'autoscaling.knative.dev/initial-scale': '0' } }),
})
t.teardown(async () => { await s.stop(); rmSync(dir, { recursive: true, force: true }) })

const get = (host: string, p = '/', port = s.port): Promise<HttpResult> => request(port, host, p, { timeoutMs: 30_000 })

/** Polls until `host` answers 503 with a body matching `body`; returns the last answer. */
async function until503(host: string, body: RegExp, port = s.port): Promise<HttpResult> {
  let last: HttpResult | undefined
  await eventually(async () => {
    last = await get(host, '/', port)
    return last.status === 503 && body.test(last.body)
  }, 60_000, 100)
  return last!
}

function unavailable(t: Test, r: HttpResult, line: RegExp): void {
  t.equal(r.status, 503, `503 (${r.body.trim()})`)
  t.equal(r.headers['retry-after'], '1', 'Retry-After')
  t.match(r.body, line)
  t.equal(r.body.split('\n').length, 2, 'one line')
}

t.test('a host nobody declared is 404', async (t) => {
  const r = await get('nobody.default.localhost')
  t.equal(r.status, 404)
  t.match(r.body, /no route for host "nobody.default.localhost"/)
})

t.test('an image without a command says what to add', async (t) => {
  const r = await until503('helloworld.default.localhost:8080', /has an image/)
  unavailable(t, r, /^revision helloworld-00001 has an image but no command: add command or sluice\.dev\/upstream\n$/)
  // the same on the internal listener, by its cluster-local names
  const local = await until503('helloworld.default.svc.cluster.local', /has an image/, s.internalPort)
  unavailable(t, local, /^revision helloworld-00001 has an image but no command/)
})

t.test('a revision that is not ready yet is starting', async (t) => {
  const r = await until503('greeter.default.localhost', /starting/)
  unavailable(t, r, /^revision greeter-00001 is starting\n$/)
})

t.test('a revision that cannot start says why it failed', async (t) => {
  const r = await until503('hello.default.localhost', /failed/)
  unavailable(t, r, /^revision hello-00001 failed: ExitCode1: .*Cannot find module '\.\/index\.js'/)
})

t.test('a ready revision whose instances stop coming up answers why, not a timeout', async (t) => {
  t.ok(await eventually(async () => (await get('phoenix.default.localhost')).status === 200, 60_000, 100), 'served first')
  t.equal((await get('phoenix.default.localhost', '/crash')).status, 200, 'crash requested')
  // Its replacements now fail at start (the mark exists): after the crash loop, 503 with the reason.
  const r = await until503('phoenix.default.localhost', /failed/)
  unavailable(t, r, /^revision phoenix-00001 failed: ExitCode1: .*Cannot find module/)
  // Fixed: the runtime's next attempt starts, and the host serves again by itself.
  rmSync(mark)
  t.ok(await eventually(async () => (await get('phoenix.default.localhost')).status === 200, 60_000, 200), 'recovers without a config change')
})

t.test('a revision scaled from zero that fails to start answers why', async (t) => {
  // initial-scale 0: Ready with no instance; the first request starts one, which crashes.
  const first = await get('lazy.default.localhost')
  t.equal(first.status, 503, `the first request gets the failure, not a 504 (${first.body.trim()})`)
  t.match(first.body, /^revision lazy-00001 failed: ExitCode1: .*Cannot find module/)
  unavailable(t, await get('lazy.default.localhost'), /^revision lazy-00001 failed: ExitCode1/)
})

t.test('/debug/routes lists the unavailable hosts with their reason', async (t) => {
  const routes = JSON.parse((await s.admin('/debug/routes')).body) as { external: { host: string; unavailable?: { reason: string; message: string } }[] }
  const h = routes.external.find((e) => e.host === 'helloworld.default.localhost')
  t.match(h?.unavailable, { reason: 'RevisionMissing', message: /^revision helloworld-00001 has an image/ })
})

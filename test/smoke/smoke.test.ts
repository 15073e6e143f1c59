// `npm start` serves the example, as the README's quickstart promises: package.json's start
// command, run as npm would (node_modules/.bin first on PATH, from the project root), answers on
// the example's hosts with processes it starts on the first request. Only the ports (0: free ones,
// so a running `npm start` does not collide) and the state directory (a temporary one) differ.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { ROOT, request, tempDir } from '../fixtures/sluice.ts'
import { waitFor } from '../fixtures/wait.ts'

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
const [node, ...args] = pkg.scripts.start.split(/\s+/)
t.equal(node, 'node', 'npm start runs node (Node 24 from node_modules/.bin under npm)')

const state = tempDir('sluice-smoke-state-')
const child = spawn(process.execPath, [...args, '--port', '0', '--internal-port', '0', '--tls-port', '0', '--admin-port', '0', '--host', '127.0.0.1', '--state', state], {
  cwd: ROOT,
  // npm puts node_modules/.bin first, so the example's `command: [node, …]` runs on Node 24 too.
  env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules/.bin')}${path.delimiter}${process.env.PATH ?? ''}`, NODE_OPTIONS: '' },
  stdio: ['ignore', 'pipe', 'pipe'],
})
let log = ''
child.stdout.setEncoding('utf8').on('data', (d: string) => { log += d })
child.stderr.setEncoding('utf8').on('data', (d: string) => { log += d })
const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
t.teardown(async () => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  await exited
  rmSync(state, { recursive: true, force: true })
})

const port = await waitFor(() => {
  if (child.exitCode !== null) throw new Error(`npm start's command exited with ${child.exitCode}; output:\n${log.slice(-2000)}`)
  const m = /sluice listening public=(\d+)/.exec(log)
  return m === null ? undefined : Number(m[1])
}, { what: () => `sluice to listen; output:\n${log.slice(-2000)}`, timeoutMs: 60_000 })

t.test('the example answers on its hosts', async (t) => {
  t.ok(port > 0, `listening on ${port}`)
  // The route is published once its revisions are Ready (their first instances pass readiness):
  // until then its hosts answer 503 with the reason (`revision hello-v1 is starting`).
  const stable = await waitFor(async () => {
    const r = await request(port, 'stable-hello.default.localhost', '/', { timeoutMs: 60_000 })
    if (r.status === 503) t.match(r.body, /^revision hello-v[12] is starting\n$|^route default\/hello is not ready/, `503 says why: ${r.body.trim()}`)
    return r.status !== 503 && r
  }, { what: () => `the example's route to be published; output:\n${log.slice(-2000)}`, timeoutMs: 60_000, everyMs: 100 })
  t.equal(stable.status, 200)
  t.equal(stable.body, 'Hello v1 from hello-v1 (GET /)\n', 'the stable tag reaches hello-v1')
  // `latestRevision: true` is the latest *ready* revision: hello-v1 until hello-v2 first passes readiness.
  const candidate = await waitFor(async () => {
    const r = await request(port, 'candidate-hello.default.localhost', '/', { timeoutMs: 60_000 })
    return r.body.includes('hello-v2') && r
  }, { what: () => `the candidate tag to reach hello-v2; output:\n${log.slice(-2000)}`, timeoutMs: 60_000, everyMs: 100 })
  t.equal(candidate.body, 'Hello v2 from hello-v2 (GET /)\n', 'the candidate tag reaches hello-v2')
  t.equal(candidate.headers['x-served-by'], 'hello-v2', 'the example user plugin (served-by) ran')
  const split = await request(port, 'hello.default.localhost', '/x', { timeoutMs: 60_000 })
  t.match(split.body, /^Hello v[12] from hello-v[12] \(GET \/x\)\n$/, 'the 80/20 route answers from one of them')
  const tagged = await request(port, 'hello.default.localhost', '/', { headers: { 'knative-serving-tag': 'stable' }, timeoutMs: 60_000 })
  t.equal(tagged.body, 'Hello v1 from hello-v1 (GET /)\n', 'tag-header routing (config-features)')
})

t.test('SIGTERM stops it cleanly', async (t) => {
  child.kill('SIGTERM')
  t.equal(await exited, 0, `exit code 0; output:\n${log.slice(-1000)}`)
})

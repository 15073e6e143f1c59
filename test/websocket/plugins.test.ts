// Plugins on WebSocket upgrades: onRequest/onUpstream run as for any request, so basic-auth keeps
// unauthenticated WebSockets out (401 before any upstream is touched), header edits reach the
// upstream's upgrade request, a throwing plugin answers 500, and onComplete runs once the
// WebSocket is over (101) or refused (401).
import t from 'tap'
import { WebSocket } from 'ws'
import http from 'node:http'
import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSluice, eventually } from '../fixtures/sluice.ts'
import { upstreamService, wsUpstream } from './fixtures/helpers.ts'
import bcrypt from 'bcryptjs'

const API = fileURLToPath(new URL('../../plugins/api.ts', import.meta.url))

// The upstream answers each message with the x-added header it saw on the upgrade request.
let upgrades = 0
const up = await wsUpstream((ws, req) => {
  upgrades++
  ws.on('message', (m) => ws.send(`${m} x-added=${String(req.headers['x-added'] ?? '')}`))
})
t.teardown(() => up.close())

const service = (name: string, plugins: string) =>
  upstreamService(name, `http://127.0.0.1:${up.port}`, { annotations: { 'sluice.dev/plugins': plugins } })
const plugin = (name: string, kind: string, config: string) => `---
apiVersion: sluice.dev/v1alpha1
kind: Plugin
metadata: {name: ${name}}
spec:
  plugin: ${kind}
  config: ${config}
`

const s = await startSluice({
  'ws.yaml': service('guarded', 'auth, add, record') + service('broken', 'throws') +
    plugin('auth', 'basic-auth', `{users: {ada: ${JSON.stringify(bcrypt.hashSync('lovelace', 5))}}}`) +
    plugin('add', 'headers', '{request: {set: {x-added: "yes"}}}') +
    plugin('record', './record.ts', '{}') +
    plugin('throws', './throws.ts', '{}'),
  // Writes "<status>" to complete.log from onComplete.
  'record.ts': `import { appendFileSync } from 'node:fs'
import path from 'node:path'
import { definePlugin } from ${JSON.stringify(API)}
export default definePlugin({
  name: 'record', priority: 1, validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create(_config, ctx) {
    const file = path.join(ctx.baseDir, 'complete.log')
    return { onComplete(req) { appendFileSync(file, req.status + '\\n') } }
  },
})
`,
  'throws.ts': `import { definePlugin } from ${JSON.stringify(API)}
export default definePlugin({
  name: 'throws', priority: 1, validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create() { return { onRequest() { throw new Error('boom') } } },
})
`,
})
t.teardown(() => s.stop())
const completeLog = path.join(s.configDir, 'complete.log')
const completed = (): string[] => (existsSync(completeLog) ? readFileSync(completeLog, 'utf8').split('\n').filter((l) => l !== '') : [])

function open(host: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number; res?: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`, { headers: { host, ...headers } })
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => { res.resume(); resolve({ status: res.statusCode, res }) })
    ws.once('error', reject)
  })
}

t.test('the route answers once its config is live', async (t) => {
  t.ok(await eventually(async () => (await open('guarded.default.localhost')).status === 401, 10_000, 50))
})

t.test('without credentials: 401 with WWW-Authenticate, the upstream never sees it', async (t) => {
  const before = upgrades
  const r = await open('guarded.default.localhost')
  t.equal(r.status, 401)
  t.match(String(r.res?.headers['www-authenticate']), /^Basic /)
  t.equal(upgrades, before, 'no upgrade reached the upstream')
  t.ok(await eventually(() => completed().at(-1) === '401', 3_000, 20), `onComplete saw 401 (${completed().join(',')})`)
})

t.test('with credentials: the WebSocket opens and carries the header a plugin set', async (t) => {
  const r = await open('guarded.default.localhost', { authorization: `Basic ${Buffer.from('ada:lovelace').toString('base64')}` })
  t.ok(r.ws, `opened (status ${r.status})`)
  const ws = r.ws!
  const reply = await new Promise<string>((resolve) => { ws.once('message', (d) => resolve(String(d))); ws.send('hi') })
  t.equal(reply, 'hi x-added=yes')
  const n = completed().length
  t.equal(completed().includes('101'), false, 'onComplete waits for the WebSocket to end')
  ws.close()
  t.ok(await eventually(() => completed().length === n + 1 && completed().at(-1) === '101', 3_000, 20), `onComplete saw 101 after the close (${completed().join(',')})`)
})

t.test('a plugin that throws on an upgrade answers 500', async (t) => {
  const before = upgrades
  const r = await open('broken.default.localhost')
  t.equal(r.status, 500)
  t.equal(upgrades, before)
  t.ok(await eventually(() => /plugin failed; answering 500/.test(s.logs()), 3_000, 20), 'logged')
})

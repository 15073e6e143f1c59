// Plugin configuration through the real `sluice serve`: bad plugin configs are reported with the
// exact `file:line:column spec.config.<path>: message` that `sluice validate` prints (on /readyz,
// pointing at the offending YAML token), the last good table keeps serving, and fixing the file
// recovers; then the attachment rules: Service, Route and KIngress annotations, `namespace/name`
// references, config-sluice's global list, de-duplication and spec.priority. One sluice process.
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, request, startSluice, validateErrors, type HttpResult } from '../fixtures/sluice.ts'
import { docs, echo, expectReady, hostOf, plugin, service } from './fixtures/e2e.ts'

const backend = await startBackend('app')
t.teardown(() => backend.close())
const up = backend.origin

/** The good configuration: `web` stamps every response with `x-gen: good-<gen>`. */
const baseline = (gen: number): string => docs(
  service('web', up, 'web-gen'),
  plugin('web-gen', 'headers', { response: { set: { 'x-gen': `good-${gen}` } } }),
)

let gen = 0
const s = await startSluice({ 'svc.yaml': baseline(gen) })
t.teardown(() => s.stop())
await expectReady(s)

const web = (p: string): Promise<HttpResult> => request(s.port, hostOf('web'), p)

/** Wait until a clean load with `x-gen: good-<gen>` on web is live. */
async function recovered(t: Test, g: number, what = 'recovers'): Promise<void> {
  const ok = await eventually(async () => (await s.admin('/readyz')).body === 'ready\n' && (await web('/probe')).headers['x-gen'] === `good-${g}`, 30_000, 25)
  t.ok(ok, what)
  if (!ok) t.comment(`/readyz: ${(await s.admin('/readyz')).body}`)
}

/** web's own plugin, stamping the current generation */
const webGen = (): string => plugin('web-gen', 'headers', { response: { set: { 'x-gen': `good-${gen}` } } })

/** `svc.yaml`: web with `annotation`, its web-gen plugin, and more documents */
const svcWith = (annotation: string, ...more: string[]): string => docs(service('web', up, annotation), webGen(), ...more)

/** A Plugin object written as block YAML, so positions point at readable tokens. */
const badPlugin = (name: string, specLines: string): string => `apiVersion: sluice.dev/v1alpha1
kind: Plugin
metadata:
  name: ${name}
spec:
${specLines}`

/** One bad load: several mistakes at once, each reported on its own line. */
interface Group {
  name: string
  /** svc.yaml, made when the group runs (it embeds the current generation) */
  yaml: () => string
  /** the error lines in order: their `path: message` part, and the text at their line:column (if checked) */
  errors: { at: string; token?: string }[]
  /** how to repair it (default: the baseline for the next generation) */
  fix?: () => void
}

const BUILTINS = 'access-log, basic-auth, cache, cors, ext-authz, headers, ip-filter, jwt, rate-limit'
const MODULE = './plugins/stamp.mjs'
const NO_PLUGIN = 'declare a kind: Plugin (apiVersion sluice.dev/v1alpha1) with that name'

const groups: Group[] = [
  {
    name: 'cors, rate-limit and ip-filter configs',
    yaml: () => svcWith('web-gen, bad-cors, bad-star, bad-requests, bad-key, bad-period, bad-cidr',
      badPlugin('bad-cors', `  plugin: cors
  config:
    origins: [42, "ftp:/nowhere"]
    credentials: "yes"
`),
      badPlugin('bad-star', `  plugin: cors
  config:
    origins: ["*", "https://app.example.com"]
`),
      badPlugin('bad-requests', `  plugin: rate-limit
  config:
    requests: 0
`),
      // field errors come first: the whole-seconds check on period waits until there are none
      badPlugin('bad-key', `  plugin: rate-limit
  config:
    requests: 10
    period: 1500ms
    key: cookie:sid
`),
      badPlugin('bad-period', `  plugin: rate-limit
  config:
    requests: 10
    period: 1500ms
`),
      badPlugin('bad-cidr', `  plugin: ip-filter
  config:
    allow: ["10.0.0.300/8"]
`)),
    errors: [
      { at: 'spec.config.origins[0]: must be a string, got number 42', token: '42' },
      { at: 'spec.config.origins[1]: "ftp:/nowhere" is not an origin: use "*", scheme://host[:port] or https://*.example.com', token: '"ftp:/nowhere"' },
      { at: 'spec.config.credentials: must be true or false, got string "yes"', token: '"yes"' },
      // a problem with a whole list or map points at its key
      { at: 'spec.config.origins: "*" allows every origin; list it alone', token: 'origins' },
      { at: 'spec.config.requests: must be a whole number from 1 to 1000000, got number 0', token: '0' },
      { at: 'spec.config.key: must be "ip", "route" or "header:<name>", got "cookie:sid"', token: 'cookie:sid' },
      { at: 'spec.config.period: must be a whole number of seconds (at least 1s), got 1500ms', token: '1500ms' },
      { at: 'spec.config.allow[0]: "10.0.0.300/8" is not a CIDR range', token: '"10.0.0.300/8"' },
    ],
  },
  {
    name: 'jwt, basic-auth, headers, ext-authz and cache configs, and a misspelt field',
    yaml: () => svcWith('web-gen, bad-jwt, bad-alg, bad-users, bad-header, bad-authz, bad-cache, bad-field',
      badPlugin('bad-jwt', `  plugin: jwt
  config:
    issuers: [https://issuer.example]
`),
      badPlugin('bad-alg', `  plugin: jwt
  config:
    keys:
      - secret: a-shared-secret-long-enough-for-hs256
        alg: ES256
`),
      badPlugin('bad-users', `  plugin: basic-auth
  config:
    users: {}
`),
      badPlugin('bad-header', `  plugin: headers
  config:
    request:
      set:
        content-length: "10"
`),
      badPlugin('bad-authz', `  plugin: ext-authz
  config:
    url: ftp://authz.example
`),
      badPlugin('bad-cache', `  plugin: cache
  config:
    maxSize: 1Mi
    maxEntrySize: 2Mi
`),
      badPlugin('bad-field', `  plugin: cors
  config:
    origin: [https://app.example.com]
`)),
    errors: [
      // keys is absent: the position is the config that lacks it
      { at: 'spec.config.keys: needs at least one key, or jwks.url or jwks.file', token: 'config' },
      { at: 'spec.config.keys[0].alg: alg ES256 does not fit this shared secret key (fits HS256, HS384, HS512)', token: 'ES256' },
      { at: 'spec.config.users: needs at least one user', token: 'users' },
      { at: 'spec.config.request.set.content-length: "content-length" is managed by the gateway and cannot be changed', token: '"10"' },
      { at: 'spec.config.url: must be an http://, https:// or grpc:// URL such as http://authz.example:8080, got "ftp://authz.example"', token: 'ftp://authz.example' },
      { at: 'spec.config.maxEntrySize: must not exceed maxSize (1048576 bytes)', token: '2Mi' },
      { at: 'spec.config.origin: unknown field; known fields: origins, methods, allowHeaders, exposeHeaders, credentials, maxAge', token: 'origin' },
    ],
  },
  {
    name: 'plugin names and attachments: an unknown spec.plugin, none, a bad priority, missing Plugins',
    yaml: () => svcWith('web-gen, nope',
      badPlugin('bad-name', `  plugin: corz
  config: {}
`),
      badPlugin('bad-none', `  config: {}
`),
      badPlugin('bad-priority', `  plugin: cors
  priority: high
`),
      // a bare name only finds Plugins in the annotated object's own namespace
      service('web', up, 'web-gen', { namespace: 'team' })),
    errors: [
      { at: `spec.plugin: unknown plugin "corz"; built-in plugins are ${BUILTINS}, or give a module path starting with ./`, token: 'corz' },
      // spec.plugin is absent: the position is the spec that lacks it
      { at: 'spec.plugin: required: a built-in plugin name or a module path starting with ./', token: 'spec' },
      { at: 'spec.priority: must be a number (higher runs first), got "high"', token: 'high' },
      { at: `metadata.annotations["sluice.dev/plugins"]: no Plugin named "default/nope"; ${NO_PLUGIN}`, token: '"web-gen, nope"' },
      { at: `metadata.annotations["sluice.dev/plugins"]: no Plugin named "team/web-gen"; ${NO_PLUGIN}`, token: '"web-gen"' },
    ],
  },
  {
    name: 'a module plugin path that does not exist (fixed by creating the module)',
    yaml: () => svcWith('web-gen, bad-module', badPlugin('bad-module', `  plugin: ${MODULE}
  config: {header: x-stamp}
`)),
    errors: [{
      at: `spec.plugin: cannot load plugin module ${path.join(s.configDir, MODULE)}: Cannot find module '${path.join(s.configDir, MODULE)}' imported from ${path.resolve(import.meta.dirname, '../../control/plugins/registry.ts')}`,
      token: MODULE,
    }],
    // the YAML stays as it is: the module appears where it says
    fix: () => s.write('plugins/stamp.mjs', `// a plugin as a plain object: definePlugin only adds types
export default {
  name: 'stamp',
  priority: 10,
  validate: (raw) => ({ ok: true, config: raw ?? {} }),
  create: (config) => ({ onResponseHeaders(ctx) { ctx.responseHeaders.set(config.header, 'from-module') } }),
}
`),
  },
]

/** `path: message` and the position of a `file:line:column path: message` line */
function parse(line: string): { file: string; line: number; column: number; rest: string } {
  const m = /^(\/[^:]+):(\d+):(\d+) (.+)$/.exec(line)
  if (m === null) throw new Error(`not a located error: ${line}`)
  return { file: m[1]!, line: Number(m[2]), column: Number(m[3]), rest: m[4]! }
}

t.test('bad plugin configs: the exact errors on /readyz, the last good table serves, a fix recovers', async (t) => {
  for (const g of groups) {
    await t.test(g.name, async (t) => {
      s.write('svc.yaml', g.yaml())
      // the truth: what `sluice validate` says about the very same directory
      const expected = await validateErrors(s.configDir)
      t.same(expected.map((l) => parse(l).rest), g.errors.map((e) => e.at), 'validate reports exactly these errors, in this order')
      const lines = readFileSync(path.join(s.configDir, 'svc.yaml'), 'utf8').split('\n')
      for (const [i, e] of g.errors.entries()) {
        if (e.token === undefined || expected[i] === undefined) continue
        const p = parse(expected[i]!)
        t.equal(p.file, path.join(s.configDir, 'svc.yaml'))
        const text = lines[p.line - 1] ?? ''
        t.equal(text.slice(p.column - 1, p.column - 1 + e.token.length), e.token, `${p.line}:${p.column} points at ${e.token} in: ${text.trim()}`)
      }

      const body = `ready: serving the last good configuration; the latest load has errors:\n${expected.join('\n')}\n`
      t.ok(await eventually(async () => (await s.admin('/readyz')).body === body, 30_000, 25), 'the same lines on /readyz')
      const ready = await s.admin('/readyz')
      t.equal(ready.status, 200)
      t.equal(ready.body, body)
      const old = await web('/old')
      t.equal(old.status, 200, 'the last good table serves')
      t.equal(old.headers['x-gen'], `good-${gen}`, 'with its plugins')

      if (g.fix !== undefined) g.fix()
      else s.write('svc.yaml', baseline(++gen))
      await recovered(t, gen)
    })
  }
  // the module group left `bad-module` (the module plugin) attached to web
  t.equal((await web('/module')).headers['x-stamp'], 'from-module', 'the module plugin runs once it exists')
})

t.test('a plugin whose create() fails (a missing key file) is reported at its spec.config', async (t) => {
  s.write('svc.yaml', svcWith('web-gen, bad', badPlugin('bad', `  plugin: jwt
  config:
    keys:
      - file: keys/missing.pem
`)))
  const file = path.join(s.configDir, 'svc.yaml')
  const missing = path.join(s.configDir, 'keys/missing.pem')
  const want = new RegExp(`^ready: serving the last good configuration; the latest load has errors:\\n${esc(file)}:\\d+:\\d+ spec\\.config: plugin default/bad cannot start for route default/web: keys\\[0\\]\\.file: cannot read ${esc(missing)}: ENOENT\\n$`)
  let body = ''
  t.ok(await eventually(async () => want.test(body = (await s.admin('/readyz')).body), 30_000, 25), `reported: ${body}`)
  const line = body.split('\n')[1]
  t.same(await validateErrors(s.configDir), [line], '`sluice validate` creates the instances too and prints the same error')
  t.equal((await web('/old')).headers['x-gen'], `good-${gen}`, 'the last good table serves')
  s.write('svc.yaml', baseline(++gen))
  await recovered(t, gen)
})

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

// --- attachment rules -----------------------------------------------------------------------

const tag = (name: string, value: string, opts: { namespace?: string; priority?: number } = {}): string =>
  plugin(name, 'headers', { request: { add: { [`x-${name.replace(/^tag-/, '')}`]: value } } }, opts)

const order = (aPriority: number): string => docs(
  service('order', up, 'order-a, order-b'),
  plugin('order-a', 'headers', { request: { set: { 'x-order': 'a' } }, response: { set: { 'x-order': 'a' } } }, { priority: aPriority }),
  plugin('order-b', 'headers', { request: { set: { 'x-order': 'b' } }, response: { set: { 'x-order': 'b' } } }, { priority: 20 }),
)

const attach = (svcPlugins: string | undefined): string => docs(
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-sluice
  namespace: knative-serving
data:
  plugins: default/tag-global
`,
  tag('tag-global', 'yes'),
  tag('tag-svc', 'service'),
  tag('tag-route', 'route'),
  tag('tag-ingress', 'ingress'),
  // a Service with the global plugin named again: it runs once
  service('svc', up, svcPlugins),
  // a Service in another namespace referring to a Plugin by namespace/name
  service('team-svc', up, 'default/tag-svc', { namespace: 'team' }),
  // a Configuration with a separate Route carrying the annotation
  `apiVersion: serving.knative.dev/v1
kind: Configuration
metadata:
  name: cfg
spec:
  template:
    metadata:
      annotations: {sluice.dev/upstream: ${JSON.stringify(up)}}
    spec:
      containers: [{image: example.dev/app}]
`,
  `apiVersion: serving.knative.dev/v1
kind: Route
metadata:
  name: pub
  annotations: {sluice.dev/plugins: tag-route}
spec:
  traffic:
    - configurationName: cfg
      percent: 100
`,
  // a KIngress on a core Service and its Endpoints
  `apiVersion: v1
kind: Service
metadata:
  name: core
spec:
  ports:
    - port: 80
`,
  `apiVersion: v1
kind: Endpoints
metadata:
  name: core
subsets:
  - addresses: [{ip: 127.0.0.1}]
    ports: [{port: ${backend.port}}]
`,
  `apiVersion: networking.internal.knative.dev/v1alpha1
kind: Ingress
metadata:
  name: static
  annotations: {sluice.dev/plugins: tag-ingress}
spec:
  rules:
    - hosts: [static.example.com]
      visibility: ExternalIP
      http:
        paths:
          - splits:
              - serviceName: core
                servicePort: 80
                percent: 100
`,
)

t.test('attachment rules', async (t) => {
  s.write('attach.yaml', attach('tag-svc, tag-global'))
  s.write('order.yaml', order(10))
  t.ok(await eventually(async () => (await request(s.port, 'static.example.com', '/').catch(() => null))?.status === 200, 30_000), 'loaded')
  await expectReady(s)

  const seen = async (host: string, p: string): Promise<Record<string, string | undefined>> => {
    const r = await request(s.port, host, p)
    t.equal(r.status, 200, `${host}${p}`)
    return echo(r).headers
  }

  t.test('Service, Route and KIngress annotations; namespace/name; config-sluice on every route, once', async (t) => {
    const svc = await seen(hostOf('svc'), '/a/svc')
    t.equal(svc['x-svc'], 'service', 'the Service annotation applies to its route')
    t.equal(svc['x-global'], 'yes', 'the global plugin, named again on the Service, runs once')
    const team = await seen(hostOf('team-svc', 'team'), '/a/team')
    t.equal(team['x-svc'], 'service', 'namespace/name finds a Plugin in another namespace')
    t.equal(team['x-global'], 'yes')
    const route = await seen(hostOf('pub'), '/a/route')
    t.equal(route['x-route'], 'route', 'a Route annotation')
    t.equal(route['x-global'], 'yes')
    t.equal(route['x-svc'], undefined)
    const ing = await seen('static.example.com', '/a/ingress')
    t.equal(ing['x-ingress'], 'ingress', 'a KIngress annotation')
    t.equal(ing['x-global'], 'yes')
    const webh = await seen(hostOf('web'), '/a/web')
    t.equal(webh['x-global'], 'yes', 'routes with no annotation of their own get the global plugin')
  })

  t.test('spec.priority orders plugins: request phases high→low, response phases low→high', async (t) => {
    let r = await request(s.port, hostOf('order'), '/a/order')
    t.equal(echo(r).headers['x-order'], 'a', 'b (20) then a (10) on the request: a is set last')
    t.equal(r.headers['x-order'], 'b', 'a then b on the response: b is set last')
    s.write('order.yaml', order(30))
    t.ok(await eventually(async () => (await request(s.port, hostOf('order'), '/a/order2')).headers['x-order'] === 'a', 30_000), 'the new priority is live')
    r = await request(s.port, hostOf('order'), '/a/order3')
    t.equal(echo(r).headers['x-order'], 'b', 'now a (30) runs first on the request')
    t.equal(r.headers['x-order'], 'a')
  })

  t.test('dropping an annotation or the global list detaches the plugins', async (t) => {
    s.write('attach.yaml', attach(undefined))
    t.ok(await eventually(async () => echo(await request(s.port, hostOf('svc'), '/a/probe')).headers['x-svc'] === undefined, 30_000), 'detached')
    t.equal((await seen(hostOf('svc'), '/a/svc2'))['x-global'], 'yes', 'the global plugin stays')
    s.write('attach.yaml', attach(undefined).replace('  plugins: default/tag-global\n', '  drain-timeout: 5s\n'))
    t.ok(await eventually(async () => echo(await request(s.port, hostOf('svc'), '/a/probe2')).headers['x-global'] === undefined, 30_000), 'the global list is gone')
    t.equal((await seen('static.example.com', '/a/ingress2'))['x-global'], undefined)
    t.equal((await seen('static.example.com', '/a/ingress3'))['x-ingress'], 'ingress', 'annotations stay')
    await expectReady(s)
  })
})

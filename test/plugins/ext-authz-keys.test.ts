// config-sluice's extauthz-* keys: Kourier's defaults and formats, located errors, and the synthetic
// global ext-authz plugin resolvePlugins derives from them (per owner, with the owner's labels).
import t from 'tap'
import { readSettings } from '../../control/settings/read-settings.ts'
import { extAuthzPluginConfig } from '../../control/settings/extauthz-keys.ts'
import { resolvePlugins, PluginCreateError } from '../../control/plugins/resolve.ts'
import { PluginRegistry } from '../../control/plugins/registry.ts'
import { configMap, resources } from '../control/fixtures.ts'
import type { KObject, SourceRef } from '../../control/resources/types.ts'

function located(file: string, keys: string[]): SourceRef {
  return { file, doc: 0, line: 1, column: 1, locate: (p) => ({ line: 10 + keys.indexOf(String(p[1])), column: 3 }) }
}

function read(data: Record<string, string>) {
  const cm = configMap('config-sluice', data)
  ;(cm as { source?: SourceRef }).source = located('cs.yaml', Object.keys(data))
  return readSettings([cm])
}

t.test('off unless extauthz-host is set', async (t) => {
  t.equal(read({}).settings.sluice.extAuthz, null)
  t.equal(read({ 'extauthz-host': '' }).settings.sluice.extAuthz, null)
  t.equal(read({ 'extauthz-host': '', 'extauthz-protocol': 'bogus' }).errors.length, 0, 'the other keys are not read, as Kourier')
})

t.test('Kourier defaults', async (t) => {
  const { settings, errors } = read({ 'extauthz-host': 'authz.auth.svc.cluster.local:9001' })
  t.same(errors, [])
  t.same(settings.sluice.extAuthz, {
    host: 'authz.auth.svc.cluster.local:9001', protocol: 'grpc', failureModeAllow: false, maxRequestBodyBytes: 8192,
    timeoutMs: 2000, pathPrefix: '', packAsBytes: false,
  })
})

t.test('every key', async (t) => {
  const { settings, errors } = read({
    'extauthz-host': '[::1]:8080', 'extauthz-protocol': 'https', 'extauthz-failure-mode-allow': 'True',
    'extauthz-max-request-body-bytes': '0', 'extauthz-timeout': '750', 'extauthz-path-prefix': '/auth',
    'extauthz-pack-as-bytes': 'false',
  })
  t.same(errors, [])
  t.same(settings.sluice.extAuthz, {
    host: '[::1]:8080', protocol: 'https', failureModeAllow: true, maxRequestBodyBytes: 0, timeoutMs: 750, pathPrefix: '/auth', packAsBytes: false,
  })
  t.equal(read({ 'extauthz-host': 'a:1', 'extauthz-path-prefix': '/ignored' }).settings.sluice.extAuthz?.pathPrefix, '', 'grpc ignores the path prefix, as Kourier')
})

t.test('bad values: one located error per key, and ext-authz keeps its last good settings', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ 'extauthz-host': 'authz' }, 'cs.yaml:10:3 data.extauthz-host: config-sluice: extauthz-host must be host:port, such as "authz.auth.svc.cluster.local:9001" or "[::1]:9001", got "authz"'],
    [{ 'extauthz-host': 'authz:70000' }, 'cs.yaml:10:3 data.extauthz-host: config-sluice: extauthz-host must be host:port, such as "authz.auth.svc.cluster.local:9001" or "[::1]:9001", got "authz:70000"'],
    [{ 'extauthz-host': 'http://authz:80' }, 'cs.yaml:10:3 data.extauthz-host: config-sluice: extauthz-host must be host:port, such as "authz.auth.svc.cluster.local:9001" or "[::1]:9001", got "http://authz:80"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-protocol': 'GRPC' }, 'cs.yaml:11:3 data.extauthz-protocol: config-sluice: extauthz-protocol must be one of grpc, http, https, got "GRPC"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-failure-mode-allow': 'yes' }, 'cs.yaml:11:3 data.extauthz-failure-mode-allow: config-sluice: extauthz-failure-mode-allow must be true or false, got "yes"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-max-request-body-bytes': '-1' }, 'cs.yaml:11:3 data.extauthz-max-request-body-bytes: config-sluice: extauthz-max-request-body-bytes must be a whole number of bytes from 0 to 67108864 (0 sends no body), got "-1"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-timeout': '2s' }, 'cs.yaml:11:3 data.extauthz-timeout: config-sluice: extauthz-timeout must be a whole number of milliseconds from 1 to 3600000, such as "2000", got "2s"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-timeout': '0' }, 'cs.yaml:11:3 data.extauthz-timeout: config-sluice: extauthz-timeout must be a whole number of milliseconds from 1 to 3600000, such as "2000", got "0"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-protocol': 'http', 'extauthz-path-prefix': 'auth' }, 'cs.yaml:12:3 data.extauthz-path-prefix: config-sluice: extauthz-path-prefix must be a URL path starting with /, such as "/auth", got "auth"'],
    [{ 'extauthz-host': 'a:1', 'extauthz-protocol': 'http', 'extauthz-pack-as-bytes': 'true' }, 'cs.yaml:12:3 data.extauthz-pack-as-bytes: config-sluice: extauthz-pack-as-bytes applies to extauthz-protocol grpc only (an HTTP check carries the body as its body); remove it or set it to false'],
  ]
  for (const [data, want] of cases) {
    const { settings, errors } = read(data)
    t.same(errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}: ${e.message}`), [want], JSON.stringify(data))
    t.equal(settings.sluice.extAuthz, null, 'not half-applied')
  }
})

t.test('the plugin config a Kourier user gets', async (t) => {
  const base = { host: 'authz:9001', failureModeAllow: true, maxRequestBodyBytes: 100, timeoutMs: 1500, pathPrefix: '', packAsBytes: true } as const
  t.same(extAuthzPluginConfig({ ...base, protocol: 'grpc' }, { app: 'x' }), {
    url: 'grpc://authz:9001', timeout: '1500ms', failureModeAllow: true, maxRequestBodyBytes: 100, extraHeaders: { client: 'kourier' },
    skipProbes: true, packAsBytes: true, contextExtensions: { client: 'kourier', app: 'x' }, visibility: true,
  })
  t.same(extAuthzPluginConfig({ ...base, protocol: 'grpc' }, { visibility: 'mine' }).visibility, false, 'a visibility label wins, as kmeta.UnionMaps')
  t.same(extAuthzPluginConfig({ ...base, protocol: 'http', packAsBytes: false, pathPrefix: '/p' }, { app: 'x' }), {
    url: 'http://authz:9001', timeout: '1500ms', failureModeAllow: true, maxRequestBodyBytes: 100, extraHeaders: { client: 'kourier' },
    skipProbes: true, pathPrefix: '/p', allowedRequestHeaders: ['authorization'],
  })
})

t.test('resolvePlugins: a global ext-authz per owner, with its labels', async (t) => {
  const cm = configMap('config-sluice', { 'extauthz-host': '127.0.0.1:9001' })
  ;(cm as { source?: SourceRef }).source = located('cs.yaml', ['extauthz-host'])
  const ing = { apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress', metadata: { name: 'ing', namespace: 'ns', labels: { 'serving.knative.dev/route': 'r' } }, spec: {} } as unknown as KObject
  const rs = resources({ configMaps: [cm], ingresses: [ing] as never })
  const r = resolvePlugins(rs, new PluginRegistry())
  t.same(r.errors, [])
  const [p] = r.forOwner('Ingress', 'ns', 'ing')
  t.equal(p?.plugin.name, 'ext-authz')
  t.match(p?.config, { url: 'grpc://127.0.0.1:9001', contextExtensions: { client: 'kourier', 'serving.knative.dev/route': 'r' }, skipProbes: true })
  const [q] = r.forOwner('Route', 'default', 'web')
  t.match(q?.config, { contextExtensions: { client: 'kourier', 'serving.knative.dev/route': 'web', 'serving.knative.dev/routeNamespace': 'default' } })
  t.not(p?.configJson, q?.configJson, 'one config per owner')
  const err = new PluginCreateError(p!, 'ns/ing', new Error('boom'))
  t.match(err.error, { file: 'cs.yaml', line: 10, path: 'data.extauthz-host' }, 'create errors point at extauthz-host')
  t.same(resolvePlugins(rs, new PluginRegistry(), null).forOwner('Ingress', 'ns', 'ing'), [], 'the caller\'s settings win (null: off)')
})

import t from 'tap'
import { readSettings, defaultSettings, parseDuration, checkDomainTemplate, checkTagTemplate } from '../../../control/settings/read-settings.ts'
import { parseTemplate, renderTemplate } from '../../../control/templates.ts'
import { configMap, src } from '../fixtures.ts'
import type { SourceRef } from '../../../control/resources/types.ts'

/** A source whose locate() reports the line of the key in a fake file. */
function located(file: string, keys: string[]): SourceRef {
  return { file, doc: 0, line: 1, column: 1, locate: (path) => ({ line: 10 + keys.indexOf(String(path[1])), column: 3 }) }
}

t.test('defaults with no ConfigMaps', async (t) => {
  const { settings, errors } = readSettings([])
  t.same(errors, [])
  t.same(settings, defaultSettings)
  t.same(settings.domains, [{ domain: 'localhost', selector: {} }])
  t.equal(settings.domainTemplate, '{{.Name}}.{{.Namespace}}.{{.Domain}}')
  t.equal(settings.tagTemplate, '{{.Tag}}-{{.Name}}')
  t.equal(settings.revisionTimeoutSeconds, 300)
  t.equal(settings.maxRevisionTimeoutSeconds, 600)
  t.equal(settings.revisionIdleTimeoutSeconds, 0)
  t.equal(settings.containerConcurrency, 0)
  t.equal(settings.tagHeaderBasedRouting, false)
  t.equal(settings.sluice.drainTimeoutSeconds, 30)
})

t.test('every key read', async (t) => {
  const { settings, errors } = readSettings([
    configMap('config-domain', {
      'example.com': '',
      'prod.example.com': 'selector:\n  app: prod\n',
      'svc.cluster.local': 'selector:\n  app: secret\n',
      _example: 'ignored docs',
    }),
    configMap('config-network', {
      'domain-template': '{{.Name}}-{{.Namespace}}.{{.Domain}}',
      'tag-template': '{{.Name}}-{{.Tag}}',
      'default-external-scheme': 'https',
      httpProtocol: 'redirected',
      'ingress-class': 'kourier.ingress.networking.knative.dev',
    }),
    configMap('config-features', { 'tag-header-based-routing': 'Enabled' }),
    configMap('config-defaults', {
      'revision-timeout-seconds': '120', 'max-revision-timeout-seconds': '900',
      'revision-response-start-timeout-seconds': '30', 'revision-idle-timeout-seconds': '20', 'container-concurrency': '10',
    }),
    configMap('config-sluice', { 'drain-timeout': '1m30s' }),
    configMap('unrelated', { x: 'y' }),
  ])
  t.same(errors, [])
  t.same(settings.domains, [
    { domain: 'example.com', selector: {} },
    { domain: 'prod.example.com', selector: { app: 'prod' } },
    { domain: 'svc.cluster.local', selector: { app: 'secret' } },
  ])
  t.match(settings, {
    domainTemplate: '{{.Name}}-{{.Namespace}}.{{.Domain}}', tagTemplate: '{{.Name}}-{{.Tag}}',
    defaultExternalScheme: 'https', httpProtocol: 'Redirected', tagHeaderBasedRouting: true,
    revisionTimeoutSeconds: 120, maxRevisionTimeoutSeconds: 900, revisionResponseStartTimeoutSeconds: 30,
    revisionIdleTimeoutSeconds: 20, containerConcurrency: 10, sluice: { drainTimeoutSeconds: 90, activatorQueueDepth: 10_000 },
  })
})

t.test('config-domain without an empty selector keeps the default domain (Knative hasDefault)', async (t) => {
  const { settings } = readSettings([configMap('config-domain', { 'prod.example.com': 'selector:\n  app: prod' })])
  t.same(settings.domains, [{ domain: 'prod.example.com', selector: { app: 'prod' } }, { domain: 'localhost', selector: {} }])
})

t.test('bad values are located, reported and fall back to defaults', async (t) => {
  const keys = ['domain-template', 'tag-template', 'default-external-scheme', 'http-protocol']
  const { settings, errors } = readSettings([
    configMap('config-network', {
      'domain-template': '{{.Namespace}}.{{.Domain}}',
      'tag-template': '{{.Tag}}-{{.Namespace}}',
      'default-external-scheme': 'ftp',
      'http-protocol': 'Disabled',
    }, { source: located('config/network.yaml', keys) }),
    configMap('config-defaults', { 'revision-timeout-seconds': 'soon', 'container-concurrency': '-1' }),
    configMap('config-features', { 'tag-header-based-routing': 'yes' }),
    configMap('config-sluice', { 'drain-timeout': 'forever' }),
    configMap('config-domain', { 'Bad_Domain': '', 'ok.example.com': 'selector: [1, 2]', 'broken.example.com': 'selector: {a: b' }),
  ])
  t.same(settings, defaultSettings)
  t.same(errors.slice(0, 4).map((e) => [e.file, e.line, e.column, e.path]), [
    ['config/network.yaml', 10, 3, 'data.domain-template'],
    ['config/network.yaml', 11, 3, 'data.tag-template'],
    ['config/network.yaml', 12, 3, 'data.default-external-scheme'],
    ['config/network.yaml', 13, 3, 'data.http-protocol'],
  ])
  t.match(errors[0]!.message, /config-network: domain-template .* must use \{\{\.Name\}\}/)
  t.match(errors[1]!.message, /\{\{\.Namespace\}\} is not available here/)
  t.match(errors[2]!.message, /http, https/)
  t.match(errors[3]!.message, /Disabled is not supported/)
  // ConfigMaps without a source: file '' line 0
  t.same(errors.slice(4).map((e) => [e.file, e.line, e.path]), [
    ['', 0, 'data.revision-timeout-seconds'], ['', 0, 'data.container-concurrency'],
    ['', 0, 'data.tag-header-based-routing'], ['', 0, 'data.drain-timeout'],
    ['', 0, 'data.Bad_Domain'], ['', 0, 'data["broken.example.com"]'], ['', 0, 'data["ok.example.com"]'],
  ])
  t.match(errors[4]!.message, /whole number/)
  t.match(errors[9]!.message, /not valid YAML/)
  t.match(errors[10]!.message, /must be empty or "selector:"/)
})

t.test('max timeout below the default timeout', async (t) => {
  const { settings, errors } = readSettings([configMap('config-defaults', { 'max-revision-timeout-seconds': '100' })])
  t.equal(errors.length, 1)
  t.match(errors[0]!, { path: 'data.max-revision-timeout-seconds', message: /must be at least/ })
  t.equal(settings.maxRevisionTimeoutSeconds, 600)
})

t.test('a ConfigMap declared twice', async (t) => {
  const { settings, errors } = readSettings([
    configMap('config-features', { 'tag-header-based-routing': 'enabled' }, { source: src('a.yaml', 0, 4) }),
    configMap('config-features', { 'tag-header-based-routing': 'Disabled' }, { ns: 'default', source: src('b.yaml', 0, 7) }),
  ])
  t.equal(settings.tagHeaderBasedRouting, true)
  t.match(errors, [{ file: 'b.yaml', line: 7, message: /declared twice \(first at a\.yaml:4\)/ }])
})

t.test('template validation mirrors Knative', async (t) => {
  t.equal(checkDomainTemplate('{{.Name}}.{{.Namespace}}.{{.Domain}}'), undefined)
  t.equal(checkDomainTemplate('{{.Name}}.{{.Labels.team}}.{{index .Annotations "example.com/zone"}}.{{.Domain}}'), undefined)
  t.match(checkDomainTemplate('{{.Name}}.{{.Domain}}/path'), /not a bare DNS host/)
  t.match(checkDomainTemplate('http://{{.Name}}.{{.Domain}}'), /not a bare DNS host/)
  t.match(checkDomainTemplate('{{.Name}}.{{.Domain}}:8080'), /not a bare DNS host/)
  t.match(checkDomainTemplate('{{.Name}'), /unclosed action/)
  t.match(checkDomainTemplate('{{.Name | printf "%s"}}'), /unsupported template action/)
  t.match(checkDomainTemplate('{{.Tag}}.{{.Name}}'), /not available here/)
  t.equal(checkTagTemplate('{{.Tag}}-{{.Name}}'), undefined)
  t.match(checkTagTemplate('{{.Name}}'), /must use \{\{\.Tag\}\}/)
  t.match(checkTagTemplate('{{.Tag}}_{{.Name}}'), /not a valid host name part/)
})

t.test('template evaluator', async (t) => {
  const tpl = parseTemplate('{{ .Name }}.{{index .Labels "app.kubernetes.io/part-of"}}.{{.Annotations.zone}}.{{index .Labels `missing`}}x', ['Name', 'Labels', 'Annotations'])
  t.same([...tpl.fields].sort(), ['Annotations', 'Labels', 'Name'])
  t.equal(renderTemplate(tpl, { Name: 'n', Labels: { 'app.kubernetes.io/part-of': 'shop' }, Annotations: { zone: 'eu' } }), 'n.shop.eu.x')
  t.throws(() => renderTemplate(tpl, { Name: 'n', Labels: {} }), /annotation "zone"/)
})

t.test('durations', async (t) => {
  t.equal(parseDuration('30'), 30)
  t.equal(parseDuration('30s'), 30)
  t.equal(parseDuration('1m30s'), 90)
  t.equal(parseDuration('1h'), 3600)
  t.equal(parseDuration('1500ms'), 1.5)
  t.equal(parseDuration('2.5s'), 2.5)
  t.equal(parseDuration('-1s'), undefined)
  t.equal(parseDuration('1d'), undefined)
})

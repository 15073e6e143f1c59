import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadDirectory, loadFiles } from '../../../control/sources/load.ts'
import { formatError } from '../../../control/sources/format-error.ts'
import { errors, ksvcHead, load, yaml } from './fixtures/load-helpers.ts'
import { knownKindsText } from '../../../control/sources/validate.ts'

const svc = (name: string): string => yaml(
  'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`,
  'spec:', '  template:', '    spec:', '      containers:', '        - image: x',
)

t.test('formatError', async (t) => {
  t.equal(formatError({ file: 'a.yaml', line: 3, column: 7, path: 'spec.traffic', message: 'bad' }), 'a.yaml:3:7 spec.traffic: bad')
  t.equal(formatError({ file: 'a.yaml', line: 1, column: 1, path: '', message: 'bad' }), 'a.yaml:1:1: bad')
})

t.test('YAML syntax errors keep their own position', async (t) => {
  t.same(errors(yaml(...ksvcHead, 'spec:', '  template: a: b')), [
    'hello.yaml:6:13: invalid YAML: Nested mappings are not allowed in compact mappings',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: ConfigMap', 'kind: Secret')), [
    'hello.yaml:3:1: invalid YAML: Map keys must be unique',
  ])
  // a broken document does not hide the good ones around it
  const r = load(svc('one') + '---\nfoo: [1, 2\n---\n' + svc('two'))
  t.same(r.errors.map(formatError), [
    'hello.yaml:12:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ])
  t.same(r.resources.services.map((s) => s.metadata.name), ['one', 'two'])
})

t.test('multi-document files, empty documents, positions', async (t) => {
  const text = '---\n# just a comment\n---\n' + svc('one') + '---\n~\n---\n' + svc('two') + '...\n'
  const r = load(text)
  t.same(r.errors, [])
  t.same(r.resources.services.map((s) => [s.metadata.name, s.source?.doc, s.source?.line, s.source?.column]), [
    ['one', 1, 4, 1],
    ['two', 3, 16, 1],
  ])
  t.same(r.resources.services[1]!.source!.locate(['metadata', 'name']), { line: 19, column: 9 })
  t.same(r.resources.services[1]!.source!.locate(['metadata', 'labels', 'x']), { line: 18, column: 1 }, 'absent field: the parent key')
  t.equal(JSON.stringify(r.resources.services[0]!.source), '"hello.yaml:4:1"')
  t.same(load('').errors, [])
  t.same(load('\n\n# nothing\n').resources.services, [])
})

t.test('duplicate objects across files', async (t) => {
  const r = loadFiles([
    { file: 'config/a.yaml', text: svc('hello') },
    { file: 'config/b.yaml', text: '# second\n' + svc('hello') },
  ])
  t.same(r.errors.map(formatError), [
    'config/b.yaml:5:9 metadata.name: duplicate Service default/hello, first declared at config/a.yaml:1; rename one of them',
  ])
  t.same(r.resources.services.map((s) => s.source?.file), ['config/a.yaml'])
  t.same(r.files, ['config/a.yaml', 'config/b.yaml'])
  // same name, other namespace or other group: not a duplicate
  const ok = loadFiles([
    { file: 'a.yaml', text: svc('hello') },
    { file: 'b.yaml', text: yaml('apiVersion: v1', 'kind: Service', 'metadata:', '  name: hello', 'spec:', '  ports: [{port: 80}]') },
    { file: 'c.yaml', text: svc('hello').replace('  name: hello', '  name: hello\n  namespace: other') },
  ])
  t.same(ok.errors, [])
  t.equal(ok.resources.services.length, 2)
  t.equal(ok.resources.coreServices.length, 1)
})

t.test('generateName gives stable, distinct names', async (t) => {
  const gen = yaml('apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', '  generateName: hello-',
    'spec:', '  template:', '    spec:', '      containers:', '        - image: x')
  const a = load(gen + '---\n' + gen)
  t.same(a.errors, [])
  const names = a.resources.services.map((s) => s.metadata.name)
  t.equal(names.length, 2)
  for (const n of names) t.match(n, /^hello-[a-z0-9]{5}$/)
  t.not(names[0], names[1], 'two documents, two names')
  t.same(load(gen + '---\n' + gen).resources.services.map((s) => s.metadata.name), names, 'same on reload')
  t.not(load(gen, 'other.yaml').resources.services[0]!.metadata.name, names[0], 'file is part of the seed')
  t.equal(a.resources.services[0]!.metadata.generateName, 'hello-')
  // an explicit name wins over generateName, as in Kubernetes
  t.equal(load(gen.replace('  generateName: hello-', '  generateName: hello-\n  name: fixed')).resources.services[0]!.metadata.name, 'fixed')
})

t.test('declaration order follows the file order', async (t) => {
  const r = loadFiles([{ file: 'b.yaml', text: svc('b1') + '---\n' + svc('b2') }, { file: 'a.yaml', text: svc('a1') }])
  t.same(r.resources.services.map((s) => s.metadata.name), ['b1', 'b2', 'a1'])
})

t.test('loadDirectory: recursive, sorted, skips hidden and editor files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-load-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'sub'))
  mkdirSync(join(dir, '.git'))
  writeFileSync(join(dir, 'b.yaml'), svc('b'))
  writeFileSync(join(dir, 'a.yml'), svc('a'))
  writeFileSync(join(dir, 'sub', 'c.yaml'), svc('c'))
  writeFileSync(join(dir, '.git', 'x.yaml'), svc('git'))
  writeFileSync(join(dir, '.hidden.yaml'), svc('hidden'))
  writeFileSync(join(dir, 'b.yaml~'), svc('backup'))
  writeFileSync(join(dir, '.#b.yaml'), svc('lock'))
  writeFileSync(join(dir, '.b.yaml.swp'), 'binary junk')
  writeFileSync(join(dir, 'README.md'), '# not config')
  const r = loadDirectory(dir)
  t.same(r.errors, [])
  t.same(r.files, [join(dir, 'a.yml'), join(dir, 'b.yaml'), join(dir, 'sub', 'c.yaml')])
  t.same(r.resources.services.map((s) => s.metadata.name), ['a', 'b', 'c'])

  writeFileSync(join(dir, 'sub', 'bad.yaml'), yaml('apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: x', 'data:', '  n: 1'))
  t.same(loadDirectory(dir).errors.map(formatError), [
    `${join(dir, 'sub', 'bad.yaml')}:6:6 data.n: ConfigMap data values must be strings; quote it (got the number 1)`,
  ])
  t.same(loadDirectory(join(dir, 'a.yml')).resources.services.map((s) => s.metadata.name), ['a'], 'a single file works too')
})

t.test('loadDirectory: missing directory is one error', async (t) => {
  const dir = join(tmpdir(), 'sluice-does-not-exist-' + process.pid)
  const r = loadDirectory(dir)
  t.same(r.errors.map(formatError), [`${dir}:1:1: config directory does not exist; create it or point --config at another directory`])
  t.same(r.files, [])
})

t.test('kind: List (kubectl get -o yaml) loads each item as its own document', async (t) => {
  const text = yaml(
    'apiVersion: v1', //                                   1
    'kind: List', //                                       2
    'metadata:', //                                        3
    '  resourceVersion: ""', //                            4
    'items:', //                                           5
    '  - apiVersion: serving.knative.dev/v1', //           6
    '    kind: Service', //                                7
    '    metadata:', //                                    8
    '      name: one', //                                  9
    '    spec:', //                                        10
    '      template:', //                                  11
    '        spec:', //                                    12
    '          containers:', //                            13
    '            - image: x', //                           14
    '  - apiVersion: v1', //                               15
    '    kind: ConfigMap', //                              16
    '    metadata:', //                                    17
    '      name: config-sluice', //                        18
    '      namespace: knative-serving', //                 19
    '    data: {}', //                                     20
  )
  const r = load(text)
  t.same(r.errors, [])
  t.same(r.resources.services.map((s) => [s.metadata.name, s.source?.doc, s.source?.line, s.source?.column]), [['one', 0, 6, 5]])
  t.same(r.resources.configMaps.map((c) => [c.metadata.name, c.source?.line]), [['config-sluice', 15]])
  t.same(r.resources.services[0]!.source!.locate(['metadata', 'name']), { line: 9, column: 13 }, 'locate works inside the item')

  // errors point into the item, with the object's own field path
  t.same(errors(yaml(
    'apiVersion: v1', 'kind: List', 'items:',
    '  - apiVersion: serving.knative.dev/v1', //  4
    '    kind: Servce', //                        5
    '    metadata: {name: a}',
    '  - apiVersion: v1', //                      7
    '    kind: ConfigMap',
    '    metadata: {name: b}',
    '    dta: {}', //                             10
  )), [
    'hello.yaml:5:11 kind: unknown kind Servce (apiVersion serving.knative.dev/v1); expected one of: ' + knownKindsText(),
    'hello.yaml:10:5 dta: unknown field "dta"; did you mean data?',
  ])

  // duplicates across items and documents, generated names distinct per item
  const dup = load(yaml('apiVersion: v1', 'kind: List', 'items:',
    '  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}',
    '  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}',
    '  - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: g-}}',
    '  - {apiVersion: v1, kind: ConfigMap, metadata: {generateName: g-}}'))
  t.match(dup.errors.map(formatError), [/^hello\.yaml:5:56 metadata\.name: duplicate ConfigMap default\/a, first declared at hello\.yaml:4;/])
  const generated = dup.resources.configMaps.map((c) => c.metadata.name).filter((n) => n.startsWith('g-'))
  t.equal(new Set(generated).size, 2, 'two distinct generated names')

  // the envelope itself
  t.same(errors(yaml('apiVersion: v1', 'kind: List', 'itms: []')), [
    'hello.yaml:1:1 items: missing field; a List holds its objects in items: [...]',
    'hello.yaml:3:1 itms: unknown field "itms"; did you mean items?',
  ])
  t.same(errors(yaml('apiVersion: v1', 'kind: List', 'items: {a: 1}')), [
    "hello.yaml:3:1 items: must be a list (lines starting with '- '), got a mapping",
  ])
  t.same(load(yaml('apiVersion: v1', 'kind: List', 'items: []')).errors, [], 'an empty List is fine')
})

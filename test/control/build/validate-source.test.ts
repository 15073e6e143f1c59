// sluice.dev/source is checked at load time: a missing folder is a located error; with a folder,
// the template needs no container command (the build finds the start command).
import t from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runSluice, tempDir, validateErrors } from '../../fixtures/sluice.ts'

const yaml = (source: string, spec = ''): string => [
  'apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', '  name: web', 'spec:', '  template:', '    metadata:', '      annotations:',
  `        sluice.dev/source: ${source}`, ...(spec !== '' ? [spec] : []),
].join('\n') + '\n'

t.test('a folder that does not exist is an error at the annotation', async (t) => {
  const dir = tempDir()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'web.yaml'), yaml('./nope'))
  const errors = await validateErrors(dir)
  t.equal(errors.length, 1, errors.join('\n'))
  t.match(errors[0], /web\.yaml:9:\d+ spec\.template\.metadata\.annotations\[sluice\.dev\/source\]: folder "\.\/nope" \(.*\/nope\) does not exist; create it or fix the path \(it is relative to .*web\.yaml\)/)
})

t.test('an existing folder needs no containers and no command; an image beside it is not warned about', async (t) => {
  const dir = tempDir()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(path.join(dir, 'app'))
  writeFileSync(path.join(dir, 'app', 'main.py'), '')
  writeFileSync(path.join(dir, 'web.yaml'), yaml('./app'))
  writeFileSync(path.join(dir, 'web2.yaml'), yaml('app', '    spec:\n      containers:\n        - image: ghcr.io/me/web').replace('name: web', 'name: web2'))
  const state = tempDir()
  t.teardown(() => rmSync(state, { recursive: true, force: true }))
  const r = await runSluice(['validate', dir, '--state', state])
  t.equal(r.code, 0, r.stderr)
  t.notMatch(r.stdout, 'warning:', 'the image is for a cluster, the source for here')
})

t.test('a declared Revision cannot name a source (only templates are built)', async (t) => {
  const dir = tempDir()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(path.join(dir, 'app'))
  writeFileSync(path.join(dir, 'rev.yaml'), [
    'apiVersion: serving.knative.dev/v1', 'kind: Revision', 'metadata:', '  name: web-1', '  annotations:', '    sluice.dev/source: ./app',
    'spec:', '  containers:', '    - command: [node, server.js]',
  ].join('\n') + '\n')
  const errors = await validateErrors(dir)
  t.equal(errors.length, 1, errors.join('\n'))
  t.match(errors[0], /rev\.yaml:6:\d+ metadata\.annotations\[sluice\.dev\/source\]: is read on a Service or Configuration template only/)
})

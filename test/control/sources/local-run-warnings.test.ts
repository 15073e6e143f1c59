// Warnings for what will not run locally as on Knative: `sluice validate` prints them located and
// exits 0, and `serve` logs each once.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { BIN, eventually, startSluice } from '../../fixtures/sluice.ts'

const HELLOWORLD = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: helloworld, namespace: default}
spec:
  template:
    spec:
      serviceAccountName: builder
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          resources: {limits: {cpu: "1"}}
          livenessProbe: {httpGet: {path: /healthz}}
`

t.test('validate warns, located, and still exits 0', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-warn-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'hello.yaml'), HELLOWORLD)
  const r = spawnSync(process.execPath, [BIN, 'validate', dir, '--state', path.join(dir, '.state')], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const warnings = r.stdout.split('\n').filter((l) => l.startsWith('warning: ')).map((l) => l.slice(dir.length + 10))
  t.same(warnings, [
    'hello.yaml:7:27 spec.template.spec.serviceAccountName: ignored by Sluice: there is no Kubernetes identity locally',
    'hello.yaml:10:11 spec.template.spec.containers[0].resources: ignored by Sluice: no CPU or memory limits are applied to local processes',
    'hello.yaml:11:11 spec.template.spec.containers[0].livenessProbe: ignored by Sluice: a process is restarted when it exits, not by a liveness probe',
    'hello.yaml:9:18 spec.template.spec.containers[0].image: Service default/helloworld has an image but no command: Sluice pulls no images; add command (what the image would run), the annotation sluice.dev/source: ./folder (built locally) or sluice.dev/upstream: http://host:port',
  ])
  t.match(r.stdout, /4 warnings: valid, but not everything above runs as it would on Knative/)
})

t.test('the shipped examples validate without warnings', async (t) => {
  const r = spawnSync(process.execPath, [BIN, 'validate', 'config/examples', '--state', mkdtempSync(path.join(tmpdir(), 'sluice-warn-state-'))], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.notMatch(r.stdout, 'warning:')
})

t.test('serve logs each warning once, at WARN', async (t) => {
  const s = await startSluice({ 'hello.yaml': HELLOWORLD })
  t.teardown(() => s.stop())
  t.ok(await eventually(() => s.logs().includes('has an image but no command')))
  s.write('hello.yaml', HELLOWORLD + '# an edit that reloads\n')
  s.write('other.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default}\ndata: {}\n')
  t.ok(await eventually(() => (s.logs().match(/configuration applied/g) ?? []).length >= 2), 'reloaded')
  t.equal((s.logs().match(/has an image but no command/g) ?? []).length, 1, 'said once')
  t.match(s.logs(), /WARN\s+will not run as on Knative revision=default\/helloworld/)
})

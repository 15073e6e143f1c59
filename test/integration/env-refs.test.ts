// env[].valueFrom and envFrom reach a local process: values come from the Secrets and ConfigMaps
// of the config directory when the revision is reconciled, never show on /debug/resources, and
// a later Secret change reaches the instances started after it (running ones keep theirs).
import t from 'tap'
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { eventually, request, startSluice, tempDir } from '../fixtures/sluice.ts'
import { cond, resource, revisionInstances } from '../activator/fixtures/helpers.ts'

const HOST = 'env.default.localhost'
// a one-line app that answers with the variables it was started with
// (/hold answers only once the file named by the request's x-release header exists, keeping the
// instance busy so that the next request needs a new one)
const app = [
  `const fs = require('fs')`,
  `const answer = (s) => s.end(JSON.stringify({ p: process.env.PASSWORD, l: process.env.LEVEL, c: process.env.CFG_color, u: process.env.DB_user ?? null, o: process.env.OPT ?? null }))`,
  `require('http').createServer((q, s) => {`,
  `  if (q.url !== '/hold') return answer(s)`,
  `  const t = setInterval(() => { if (fs.existsSync(q.headers['x-release'])) { clearInterval(t); answer(s) } }, 20)`,
  `}).listen(process.env.PORT)`,
].join('\n')

const service = `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: env
spec:
  template:
    spec:
      containerConcurrency: 1
      containers:
        - command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(app)}]
          envFrom:
            - configMapRef: {name: app}
              prefix: CFG_
          env:
            - {name: NODE_OPTIONS, value: ""}
            - name: PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
            - name: LEVEL
              valueFrom: {configMapKeyRef: {name: app, key: level}}
            - name: OPT
              valueFrom: {secretKeyRef: {name: absent, key: x, optional: true}}
`
const secret = (password: string, generation = 1): string => `apiVersion: v1
kind: Secret
metadata: {name: db, labels: {generation: g${generation}}}
stringData: {password: ${password}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app}
data: {level: debug, color: blue}
`

t.test('a local process gets Secret and ConfigMap values in its environment', async (t) => {
  const s = await startSluice({ 'svc.yaml': service, 'objects.yaml': secret('s3cret') })
  t.teardown(() => s.stop())
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'env-00001'), 'Ready')?.status === 'True', 20_000, 50), 'revision ready')
  const r = await request(s.port, HOST)
  t.equal(r.status, 200, r.body)
  t.same(JSON.parse(r.body), { p: 's3cret', l: 'debug', c: 'blue', u: null, o: null })

  const rev = await resource(s, 'Revision', 'env-00001') as unknown as { spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } }
  t.notOk(JSON.stringify(rev).includes('s3cret'), 'the resolved value is not shown on the revision')
  t.ok(rev.spec.containers[0]!.env.find((e) => e.name === 'PASSWORD')?.valueFrom !== undefined, '/debug/resources keeps the reference')
  t.equal(rev.spec.containers[0]!.env.find((e) => e.name === 'PASSWORD')?.value, undefined)

  // a new Secret value: same revision (the template did not change); instances started from now on get it
  s.write('objects.yaml', secret('rotated', 2))
  t.ok(await eventually(async () => (await s.admin('/readyz')).body === 'ready\n', 5000))
  t.ok(await eventually(async () => JSON.stringify(await resource(s, 'Secret', 'db')).includes('"generation":"g2"'), 5000), 'the new Secret is loaded (its label shows; its data is redacted)')
  t.equal((await resource(s, 'Revision', 'env-00002')), undefined, 'no new revision')

  // the running instance keeps what it started with; keep it busy so the next request starts another
  const release = path.join(tempDir('sluice-env-release-'), 'go')
  t.teardown(() => rmSync(path.dirname(release), { recursive: true, force: true }))
  const held = request(s.port, HOST, '/hold', { headers: { 'x-release': release }, timeoutMs: 30_000 })
  t.ok(await eventually(async () => ((await revisionInstances(s, 'env-00001'))?.instances.some((i) => i.inflight > 0)) === true, 10_000), 'the first instance is busy')
  const fresh = await request(s.port, HOST, '/', { timeoutMs: 30_000 })
  t.equal(JSON.parse(fresh.body).p, 'rotated', 'a new instance gets the new value')
  writeFileSync(release, '')
  t.equal(JSON.parse((await held).body).p, 's3cret', 'the instance started before the change kept the old one')
})

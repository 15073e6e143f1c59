// The admin views' redaction, object by object: Secrets, env from secretKeyRef, Plugin configs
// by their schema (all of it without one), kubectl's last-applied copy, and the scrub of copies
// of secret values and URL passwords from any other string.
import t from 'tap'
import { REDACTED, Redactor, type PluginSchemas } from '../../../control/admin/redact.ts'
import { object, string } from '../../../plugins/schema.ts'

const schemas: PluginSchemas = (ns, name) => (`${ns}/${name}` === 'default/known' ? object({ user: string(), password: string({ secret: true }) }) : undefined)
const b64 = (s: string): string => Buffer.from(s).toString('base64')

const objects = [
  {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"k":"…"}}' } },
    data: { k: b64('decoded-secret-1'), short: b64('tiny') }, stringData: { plain: 'string-secret-2' },
  },
  { apiVersion: 'sluice.dev/v1alpha1', kind: 'Plugin', metadata: { name: 'known', namespace: 'default' }, spec: { plugin: 'x', config: { user: 'alice', password: 'plugin-secret-3' } } },
  { apiVersion: 'sluice.dev/v1alpha1', kind: 'Plugin', metadata: { name: 'unknown', namespace: 'default' }, spec: { plugin: './mine.ts', config: { mode: 'fast', nested: ['module-secret-4'] } } },
  {
    apiVersion: 'serving.knative.dev/v1', kind: 'Revision', metadata: { name: 'r', namespace: 'default' },
    spec: { containers: [{ env: [
      { name: 'FROM_SECRET', value: 'resolved-elsewhere', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      { name: 'COPY', value: 'prefix-decoded-secret-1' },
      { name: 'LITERAL', value: 'visible' },
    ] }] },
    status: { conditions: [{ type: 'Ready', message: 'upstream http://bob:hunter22@10.0.0.1:80 failed, key string-secret-2' }] },
  },
]

const r = new Redactor(objects, schemas)
const [secret, known, unknown, revision] = r.resources(objects) as Record<string, any>[]

t.test('Secret values are redacted, keys kept, and the last-applied copy hidden', async (t) => {
  t.same(secret.data, { k: REDACTED, short: REDACTED })
  t.same(secret.stringData, { plain: REDACTED })
  t.equal(secret.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], REDACTED)
})

t.test('Plugin configs: the secret fields of a known schema, everything without one', async (t) => {
  t.same(known.spec.config, { user: 'alice', password: REDACTED })
  t.same(unknown.spec.config, { mode: REDACTED, nested: [REDACTED] })
  t.equal(unknown.spec.plugin, './mine.ts')
})

t.test('env from a Secret, copies of secret values and URL passwords', async (t) => {
  const env = revision.spec.containers[0].env
  t.same(env[0], { name: 'FROM_SECRET', value: REDACTED, valueFrom: { secretKeyRef: { name: 's', key: 'k' } } })
  t.equal(env[1].value, `prefix-${REDACTED}`, 'a copy of a decoded Secret value')
  t.equal(env[2].value, 'visible')
  t.equal(revision.status.conditions[0].message, `upstream http://bob:${REDACTED}@10.0.0.1:80 failed, key ${REDACTED}`)
})

t.test('scrub works on any view and leaves short values alone', async (t) => {
  t.same(r.scrub({ a: ['plugin-secret-3 and module-secret-4'], b: 'tiny things' }), { a: [`${REDACTED} and ${REDACTED}`], b: 'tiny things' })
  t.equal(r.scrubText('see https://u:p@h/x and http://h/y'), `see https://u:${REDACTED}@h/x and http://h/y`)
  t.equal(objects[0].stringData!.plain, 'string-secret-2', 'the loaded objects are not changed')
})

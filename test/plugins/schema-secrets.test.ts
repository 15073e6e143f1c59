// The secret marker of the plugin schema helpers: secretPaths() finds marked fields inside
// objects, lists and maps; redactSecrets() hides exactly those values; a secret never shows in
// a validation problem; and the built-in plugins mark their credentials.
import t from 'tap'
import { REDACTED, array, number, object, record, redactAll, redactSecrets, schemaOf, secret, secretPaths, string, validator, type Field } from '../../plugins/schema.ts'
import { builtinPlugins } from '../../plugins/builtin/index.ts'

const nested = object({
  name: string(),
  token: string({ secret: true }),
  keys: array(object({ kid: string({ default: '' }), secret: string({ default: '', secret: true }) }), { default: [] }),
  headers: record(string({ secret: true }), { default: {} }),
  users: secret(record(string())),
  plain: record(string(), { default: {} }),
  limits: object({ rate: number({ default: 1 }), apiKey: string({ default: '', secret: true }) }, { optional: true }),
})

t.test('secretPaths finds marked fields at every depth', async (t) => {
  t.same(secretPaths(nested), ['token', 'keys[*].secret', 'headers.*', 'users', 'limits.apiKey'])
  t.same(secretPaths(string({ secret: true })), [''], 'a secret root')
  t.same(secretPaths(array(array(string({ secret: true })))), ['[*][*]'])
  t.same(secretPaths(object({ a: string(), b: number() })), [], 'nothing marked')
})

t.test('a hand-written field that spreads a helper keeps its structure and mark', async (t) => {
  const base = record(string({ secret: true }))
  const wrapped: Field<Record<string, string>> = { ...base, description: 'users', parse: (raw, p, is) => base.parse(raw, p, is) }
  t.same(secretPaths(object({ users: wrapped })), ['users.*'])
  const bare: Field<string> = { description: 'opaque', parse: () => '' }
  t.same(secretPaths(object({ x: secret(bare) })), ['x'], 'secret() marks a field with no structure')
})

t.test('redactSecrets replaces exactly the secret values and keeps keys and shape', async (t) => {
  const raw = {
    name: 'svc',
    token: 'tok-123456',
    keys: [{ kid: 'a', secret: 'hs-secret-one' }, { kid: 'b' }],
    headers: { 'x-api-key': 'k-999999' },
    users: { alice: 'wonderland', bob: 'sha256:abc' },
    plain: { keep: 'visible' },
    limits: { rate: 5, apiKey: 'ak-777777' },
  }
  t.same(redactSecrets(nested, raw), {
    name: 'svc',
    token: REDACTED,
    keys: [{ kid: 'a', secret: REDACTED }, { kid: 'b' }],
    headers: { 'x-api-key': REDACTED },
    users: { alice: REDACTED, bob: REDACTED },
    plain: { keep: 'visible' },
    limits: { rate: 5, apiKey: REDACTED },
  })
  t.equal(raw.token, 'tok-123456', 'the input is not changed')
  t.same(redactSecrets(nested, { keys: 'not a list', token: 7 }), { keys: 'not a list', token: REDACTED }, 'values of the wrong shape: a secret is still hidden')
})

t.test('redactAll hides every value and keeps keys', async (t) => {
  t.same(redactAll({ a: 'x', b: [1, { c: true }], d: null }), { a: REDACTED, b: [REDACTED, { c: REDACTED }], d: null })
})

t.test('problems with a secret field never quote its value', async (t) => {
  const v = validator(object({
    key: string({ secret: true, pattern: /^k-/ }),
    mode: string({ secret: true, enum: ['a', 'b'] }),
    n: string({ secret: true }),
    wrapped: secret({ description: 'x', parse: (raw, path, issues) => { issues.push({ path, message: `bad value ${JSON.stringify(raw)} (${String(raw)})` }); return '' } }),
  }))
  const r = v({ key: 'hunter2-pattern', mode: 'hunter2-enum', n: 1234567, wrapped: 'hunter2-wrapped' })
  t.equal(r.ok, false)
  const text = r.ok ? '' : r.issues.map((i) => `${i.path}: ${i.message}`).join('\n')
  t.notMatch(text, /hunter2|1234567/)
  t.match(text, /key: the value does not match/)
  t.match(text, /n: must be a string, got a number/)
  t.match(text, /wrapped: bad value the value \(<redacted>\)/)
})

t.test('validator() carries its schema; schemaOf reads it', async (t) => {
  const schema = object({ a: string({ secret: true }) })
  t.equal(schemaOf({ validate: validator(schema) }), schema)
  t.equal(schemaOf({ validate: () => ({ ok: true, config: {} }) }), undefined, 'a hand-written validate has none')
})

t.test('the built-in plugins mark their credentials', async (t) => {
  const paths = (name: string): string[] => secretPaths(schemaOf(builtinPlugins.get(name)!)!)
  t.same(paths('basic-auth'), ['users'])
  t.same(paths('jwt'), ['keys[*].secret', 'keys[*].pem'])
  t.same(paths('ext-authz'), ['extraHeaders.*'])
  for (const name of builtinPlugins.keys()) t.ok(schemaOf(builtinPlugins.get(name)!), `${name} exposes its schema`)
})

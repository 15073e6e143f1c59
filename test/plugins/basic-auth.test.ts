// basic-auth: bcrypt ($2y$/$2a$/$2b$), scrypt (PHC-style, passlib's vector) and argon2 hashes; plain
// passwords only from a Secret; refused forms (sha256, inline plaintext, weak htpasswd forms) with
// their messages; the 401 challenge, malformed headers, hideCredentials; the verification cache and
// the bound on concurrent slow verifications (429 past it); Secret references resolved for
// spec.config.
import { createHash, randomBytes, scryptSync } from 'node:crypto'
import t from 'tap'
import bcrypt from 'bcryptjs'
import argon2 from 'argon2'
import plugin from '../../plugins/builtin/basic-auth.ts'
import { MAX_SLOW_VERIFICATIONS, slowVerifications } from '../../plugins/builtin/basic-auth-limit.ts'
import type { LocalResponse, PluginInstance } from '../../plugins/api.ts'
import { SecretValue } from '../../plugins/secret-value.ts'
import { fakePluginContext, fakeRequest, isLocalResponse } from '../../plugins/testing.ts'
import { resolveSecretRefs } from '../../control/plugins/secret-refs.ts'
import { emptyResourceSet, type Secret } from '../../control/resources/types.ts'
import { resolvePlugins } from '../../control/plugins/resolve.ts'
import { PluginRegistry } from '../../control/plugins/registry.ts'

function make(raw: unknown): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(JSON.stringify(v.issues))
  return plugin.create(v.config, fakePluginContext())
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
const unpadded = (b: Buffer): string => b.toString('base64').replace(/=+$/, '')

// cheap parameters: these tests check formats, not strength
const bcryptHash = (pw: string, prefix = '$2b$'): string => prefix + bcrypt.hashSync(pw, 5).slice(4)
function scryptHash(pw: string, ln = 10): string {
  const salt = randomBytes(16)
  return `$scrypt$ln=${ln},r=8,p=1$${unpadded(salt)}$${unpadded(scryptSync(pw, salt, 32, { N: 2 ** ln, r: 8, p: 1 }))}`
}
const argonHash = (pw: string): Promise<string> => argon2.hash(pw, { type: argon2.argon2id, memoryCost: 1024, timeCost: 2, parallelism: 1 })
// passlib's documented example: scrypt.hash("password"), with '.' for '+'
const PASSLIB = '$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD.iCs5E'

const users = {
  alice: bcryptHash('wonderland', '$2y$'), // what htpasswd -B writes
  ann: bcryptHash('a', '$2a$'),
  bob: scryptHash('s3cret é'),
  carol: await argonHash('pa:ss:word'),
  dave: new SecretValue('plain from a secret', 'default/users#dave'),
  erin: new SecretValue(bcryptHash('hashed in a secret'), 'default/users#erin'),
  pat: PASSLIB,
}
const p = make({ users, realm: 'staging' })

async function answer(auth: string | undefined, inst = p): Promise<LocalResponse | undefined> {
  const ctx = fakeRequest(auth === undefined ? {} : { headers: { authorization: auth } })
  const r = await inst.onRequest!(ctx)
  return isLocalResponse(r) ? r : undefined
}

async function status(auth: string | undefined, inst = p): Promise<number> {
  const r = await answer(auth, inst)
  if (r === undefined) return 200
  if (r.status === 401 && r.headers?.['www-authenticate'] !== 'Basic realm="staging"') throw new Error('no challenge')
  return r.status
}

t.test('name, priority, defaults', async (t) => {
  t.equal(plugin.name, 'basic-auth')
  t.equal(plugin.priority, 1001)
  const v = plugin.validate({ users: { a: users.alice } })
  t.ok(v.ok)
  if (v.ok) t.same(v.config, { users: { a: users.alice }, realm: 'sluice', hideCredentials: true, cacheTtl: 60_000 })
})

t.test('right credentials pass: bcrypt, scrypt, argon2, and plain or hashed from a Secret', async (t) => {
  t.equal(await status(basic('alice', 'wonderland')), 200, 'bcrypt $2y$')
  t.equal(await status(basic('ann', 'a')), 200, 'bcrypt $2a$')
  t.equal(await status(basic('bob', 's3cret é')), 200, 'scrypt, UTF-8 password')
  t.equal(await status(basic('carol', 'pa:ss:word')), 200, 'argon2id; a password may hold colons')
  t.equal(await status(basic('dave', 'plain from a secret')), 200, 'plain password from a Secret')
  t.equal(await status(basic('erin', 'hashed in a secret')), 200, 'a hash kept in a Secret')
  t.equal(await status(basic('pat', 'password')), 200, "passlib's scrypt string")
  t.equal(await status(`basic   ${Buffer.from('alice:wonderland').toString('base64')}`), 200, 'scheme is case-insensitive')
  const b = make({ users: { b: bcryptHash('x', '$2b$') }, cacheTtl: 0 })
  t.equal(await status(basic('b', 'x'), b), 200, 'bcrypt $2b$')
})

t.test('missing or wrong credentials get 401 with the challenge', async (t) => {
  const r = await answer(undefined)
  t.same(r, { status: 401, headers: { 'www-authenticate': 'Basic realm="staging"', 'content-type': 'text/plain' }, body: 'Unauthorized\n' })
  for (const user of ['alice', 'ann', 'bob', 'carol', 'dave', 'erin']) { // pat is scrypt like bob, and slow
    t.equal(await status(basic(user, 'wrong')), 401, `${user}: wrong password`)
    t.equal(await status(basic(user, '')), 401, `${user}: empty password`)
  }
  t.equal(await status(basic('mallory', 'wonderland')), 401, 'unknown user with a real password')
  t.equal(await status(basic('alice', users.alice)), 401, 'the stored hash is not the password')
  t.equal(await status(basic('dave', 'plain from a secreT')), 401)
  t.equal(await status('Bearer abc.def'), 401)
  t.equal(await status('Basic '), 401)
  t.equal(await status(`Basic ${Buffer.from('alicewonderland').toString('base64')}`), 401, 'no colon')
  t.equal(await status(`Basic ${Buffer.from(':wonderland').toString('base64')}`), 401, 'empty user')
  t.equal(await status('Basic !!!not-base64!!!'), 401)
})

t.test('hideCredentials removes Authorization upstream (default), or keeps it', async (t) => {
  const ctx = fakeRequest({ headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(await p.onRequest!(ctx), undefined)
  t.equal(ctx.requestHeaders.get('authorization'), undefined)
  t.equal(ctx.state.get('basic-auth'), 'alice', 'the user is left for later plugins')

  const keep = make({ users: { alice: users.alice }, hideCredentials: false })
  const ctx2 = fakeRequest({ headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(await keep.onRequest!(ctx2), undefined)
  t.equal(ctx2.requestHeaders.get('authorization'), basic('alice', 'wonderland'))
})

t.test('the default realm', async (t) => {
  const r = await make({ users: { a: users.alice } }).onRequest!(fakeRequest())
  t.same(isLocalResponse(r) && r.headers?.['www-authenticate'], 'Basic realm="sluice"')
})

t.test('verified credentials are cached: the next request answers at once, without a slot', async (t) => {
  const inst = make({ users: { alice: users.alice } })
  const auth = basic('alice', 'wonderland')
  const first = inst.onRequest!(fakeRequest({ headers: { authorization: auth } }))
  t.ok(first instanceof Promise, 'the first request verifies the bcrypt hash asynchronously')
  t.equal(await first, undefined)
  t.equal(inst.onRequest!(fakeRequest({ headers: { authorization: auth } })), undefined, 'then it is answered synchronously from the cache')
  t.ok(inst.onRequest!(fakeRequest({ headers: { authorization: basic('alice', 'nope') } })) instanceof Promise, 'failures are not cached')

  const uncached = make({ users: { alice: users.alice }, cacheTtl: 0 })
  t.equal(await uncached.onRequest!(fakeRequest({ headers: { authorization: auth } })), undefined)
  t.ok(uncached.onRequest!(fakeRequest({ headers: { authorization: auth } })) instanceof Promise, 'cacheTtl: 0 verifies every time')
})

t.test(`at most ${MAX_SLOW_VERIFICATIONS} slow verifications at once; past that 429, while cached users still pass`, async (t) => {
  const inst = make({ users: { alice: users.alice, carol: users.carol } })
  const good = basic('alice', 'wonderland')
  t.equal(await inst.onRequest!(fakeRequest({ headers: { authorization: good } })), undefined)
  t.equal(slowVerifications.active, 0)

  // a flood of distinct wrong passwords takes every slot...
  const flood = Array.from({ length: MAX_SLOW_VERIFICATIONS + 3 }, (_, i) => inst.onRequest!(fakeRequest({ headers: { authorization: basic('carol', `guess-${i}`) } })))
  t.equal(slowVerifications.active, MAX_SLOW_VERIFICATIONS)
  const busy = flood.filter((r) => !(r instanceof Promise))
  t.equal(busy.length, 3, 'the ones past the bound are answered at once')
  for (const r of busy) t.same(r, { status: 429, headers: { 'retry-after': '1', 'content-type': 'text/plain' }, body: 'Too Many Requests\n' })
  // ...but a cached user is not affected
  t.equal(inst.onRequest!(fakeRequest({ headers: { authorization: good } })), undefined)
  for (const r of await Promise.all(flood.filter((r) => r instanceof Promise))) t.equal((r as LocalResponse).status, 401)
  t.equal(slowVerifications.active, 0, 'every slot is released')
  t.equal(await status(basic('carol', 'pa:ss:word'), inst), 200, 'and verification works again')

  // parallel first requests with the same credentials share one verification
  const fresh = make({ users: { carol: users.carol } })
  const same = Array.from({ length: 10 }, () => fresh.onRequest!(fakeRequest({ headers: { authorization: basic('carol', 'pa:ss:word') } })))
  t.equal(slowVerifications.active, 1)
  t.same(await Promise.all(same), Array(10).fill(undefined))
})

t.test('config errors: inline plaintext, unsalted or weak hashes, malformed hashes', async (t) => {
  t.same(problems({}), ['users: required: a map of a password hash (bcrypt, scrypt or argon2) or {secretKeyRef: {name, key}}'])
  t.same(problems({ users: {} }), ['users: needs at least one user'])
  t.same(problems({ users: ['alice'] }), ['users: must be a map of a password hash (bcrypt, scrypt or argon2) or {secretKeyRef: {name, key}}, got a list'])
  const how = "make a bcrypt hash with `htpasswd -nbB USER 'PASSWORD'` and write what follows \"USER:\", or keep the password in a Secret and write {secretKeyRef: {name: SECRET, key: KEY}}"
  t.same(problems({ users: { alice: 'wonderland' } }), [
    'users.alice: a plain password cannot be written in the config (whoever reads the file or the admin API would see it): ' +
    "write a hash (`htpasswd -nbB USER 'PASSWORD'` prints a bcrypt one after \"USER:\") or keep the password in a Secret and write {secretKeyRef: {name: SECRET, key: KEY}}",
  ])
  t.same(problems({ users: { bob: `sha256:${createHash('sha256').update('builder').digest('hex')}` } }), [
    `users.bob: unsalted SHA-256 digests are no longer accepted (they are fast to brute-force); ${how}`,
  ])
  t.same(problems({ users: { a: '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', b: '$apr1$abc$def', c: '$6$salt$hash' } }), [
    `users.a: this htpasswd form (SHA-1, MD5 or crypt) is too weak to accept; ${how}`,
    `users.b: this htpasswd form (SHA-1, MD5 or crypt) is too weak to accept; ${how}`,
    `users.c: this htpasswd form (SHA-1, MD5 or crypt) is too weak to accept; ${how}`,
  ])
  t.same(problems({ users: { a: '$2y$10$tooshort', b: '$2x$10$' + 'a'.repeat(53), c: '$2y$03$' + 'a'.repeat(53) } }), [
    'users.a: not a valid bcrypt hash: expected $2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters',
    'users.b: not a valid bcrypt hash: expected $2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters',
    'users.c: not a valid bcrypt hash: expected $2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters',
  ])
  const scryptForm = 'not a valid scrypt hash: expected $scrypt$ln=<1-20>,r=<1-32>,p=<1-16>$<salt>$<hash> (base64 without padding)'
  t.same(problems({ users: { a: '$scrypt$ln=16,r=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g', b: '$scrypt$ln=21,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g', c: '$scrypt$ln=20,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g' } }), [
    `users.a: ${scryptForm}`,
    `users.b: ${scryptForm}`,
    'users.c: scrypt ln=20,r=8 needs 1024 MiB per verification; at most 256 MiB are allowed',
  ])
  const argonForm = 'not a valid argon2 hash: expected $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (base64 without padding)'
  t.same(problems({ users: { a: '$argon2id$v=19$m=65536,t=3$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', b: '$argon2id$v=19$m=65536,m=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', c: '$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA' } }), [
    `users.a: ${argonForm}`,
    `users.b: ${argonForm}`,
    'users.c: argon2 m=4194304 KiB is more than the 1048576 KiB allowed per verification',
  ])
  t.same(problems({ users: { alice: users.alice, bob: 42, 'c:d': users.alice } }), [
    'users.bob: must be a password hash (bcrypt, scrypt or argon2) or {secretKeyRef: {name, key}}',
    'users.c:d: "c:d" is not a user name (empty or has a colon)',
  ])
  t.same(problems({ users: { a: users.alice }, realm: 'say "hi"' }), ['realm: cannot hold quotes, backslashes or control characters'])
  t.same(problems({ users: { a: users.alice }, hideCredentials: 'no' }), ['hideCredentials: must be true or false, got string "no"'])
  t.same(problems({ users: { a: users.alice }, password: 'x' }), ['password: unknown field; known fields: users, realm, hideCredentials, cacheTtl'])
})

t.test('secretKeyRef values are looked up in the Plugin namespace before validation', async (t) => {
  const secret = (name: string, namespace: string, data: Record<string, string>, stringData?: Record<string, string>): Secret =>
    ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data, ...(stringData ? { stringData } : {}) }) as Secret
  const secrets = [
    secret('users', 'default', { dave: Buffer.from('from data').toString('base64'), erin: Buffer.from('old').toString('base64') }, { erin: 'from stringData' }),
    secret('users', 'other', { dave: Buffer.from('elsewhere').toString('base64') }),
    secret('empty', 'default', {}),
  ]
  const raw = { users: { dave: { secretKeyRef: { name: 'users', key: 'dave' } }, erin: { secretKeyRef: { name: 'users', key: 'erin' } }, alice: users.alice } }
  const r = resolveSecretRefs(raw, 'default', secrets)
  t.same(r.issues, [])
  const out = r.config as { users: Record<string, unknown> }
  t.ok(out.users.dave instanceof SecretValue)
  t.equal((out.users.dave as SecretValue).reveal(), 'from data')
  t.equal((out.users.erin as SecretValue).reveal(), 'from stringData', 'stringData wins, as in the API server')
  t.equal(out.users.alice, users.alice)
  t.same((raw.users.dave as unknown as { secretKeyRef: unknown }).secretKeyRef, { name: 'users', key: 'dave' }, 'the input is not changed')
  t.equal(String(out.users.dave), '[secret default/users#dave]', 'a SecretValue never prints its value')
  t.notMatch(JSON.stringify(out), /from data/, 'nor serializes it')
  t.not(JSON.stringify(resolveSecretRefs(raw, 'default', [secret('users', 'default', { dave: Buffer.from('changed').toString('base64'), erin: '' })]).config), JSON.stringify(out),
    'a changed Secret changes the serialized config, so the plugin instance is rebuilt')

  const inst = make(out)
  const ok = await answer(basic('dave', 'from data'), inst)
  t.equal(ok, undefined, 'a plain password from a Secret logs in')

  const bad = resolveSecretRefs({ users: {
    a: { secretKeyRef: { name: 'nope', key: 'a' } },
    b: { secretKeyRef: { name: 'users', key: 'nope' } },
    c: { secretKeyRef: { name: 'users' } },
    d: { secretKeyRef: { name: 'users', key: 'dave', optional: true } },
    e: { secretKeyRef: { name: 'empty', key: 'x' } },
  } }, 'default', secrets)
  t.same(bad.issues.map((i) => `${i.path.join('.')}: ${i.message}`), [
    "users.a.secretKeyRef.name: Secret default/nope not found; create it in the Plugin's namespace (kubectl create secret generic nope --from-literal=a=…) or fix the name",
    'users.b.secretKeyRef.key: Secret default/users has no key "nope" (it has erin, dave)',
    'users.c.secretKeyRef.key: required: the key inside the Secret (a string)',
    'users.d.secretKeyRef.optional: unknown field; a secretKeyRef has name and key',
    'users.e.secretKeyRef.key: Secret default/empty has no key "x" (it is empty)',
  ])
})

t.test('a missing Secret is a located config error of the Plugin object', async (t) => {
  const rs = emptyResourceSet()
  const located: string[] = []
  const source = { file: 'auth.yaml', doc: 0, line: 1, column: 1, locate: (p: readonly (string | number)[]) => { located.push(p.join('.')); return { line: 9, column: 7 } } }
  rs.others.push({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Plugin', metadata: { name: 'auth', namespace: 'default' }, source,
    spec: { plugin: 'basic-auth', config: { users: { bob: { secretKeyRef: { name: 'users', key: 'bob' } } } } } } as never)
  const r = resolvePlugins(rs, new PluginRegistry())
  t.same(r.errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}: ${e.message}`), [
    "auth.yaml:9:7 spec.config.users.bob.secretKeyRef.name: Secret default/users not found; create it in the Plugin's namespace (kubectl create secret generic users --from-literal=bob=…) or fix the name",
  ])
  t.same(located, ['spec.config.users.bob.secretKeyRef.name'])
})

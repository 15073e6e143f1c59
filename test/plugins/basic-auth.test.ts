// basic-auth: plain and sha256 passwords, the 401 challenge, malformed headers, hideCredentials,
// and config errors.
import { createHash } from 'node:crypto'
import t from 'tap'
import plugin from '../../plugins/builtin/basic-auth.ts'
import type { PluginInstance } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest, isLocalResponse } from '../../plugins/testing.ts'

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
const hashed = `sha256:${createHash('sha256').update('s3cret é').digest('hex')}`

const p = make({ users: { alice: 'wonderland', bob: hashed, carol: 'pa:ss:word' }, realm: 'staging' })

function status(auth: string | undefined, inst = p): number {
  const ctx = fakeRequest(auth === undefined ? {} : { headers: { authorization: auth } })
  const r = inst.onRequest!(ctx)
  if (!isLocalResponse(r)) return 200
  if (r.headers?.['www-authenticate'] !== 'Basic realm="staging"') throw new Error('no challenge')
  return r.status
}

t.test('name, priority, defaults', async (t) => {
  t.equal(plugin.name, 'basic-auth')
  t.equal(plugin.priority, 1001)
  const v = plugin.validate({ users: { a: 'b' } })
  t.ok(v.ok)
  if (v.ok) t.same(v.config, { users: { a: 'b' }, realm: 'sluice', hideCredentials: true })
})

t.test('right credentials pass, plain or hashed', async (t) => {
  t.equal(status(basic('alice', 'wonderland')), 200)
  t.equal(status(basic('bob', 's3cret é')), 200, 'UTF-8 password against a sha256 digest')
  t.equal(status(basic('carol', 'pa:ss:word')), 200, 'a password may hold colons')
  t.equal(status(`basic   ${Buffer.from('alice:wonderland').toString('base64')}`), 200, 'scheme is case-insensitive')
})

t.test('missing or wrong credentials get 401 with the challenge', async (t) => {
  const r = p.onRequest!(fakeRequest())
  t.same(r, { status: 401, headers: { 'www-authenticate': 'Basic realm="staging"', 'content-type': 'text/plain' }, body: 'Unauthorized\n' })
  t.equal(status(basic('alice', 'wrong')), 401)
  t.equal(status(basic('alice', '')), 401)
  t.equal(status(basic('mallory', 'wonderland')), 401, 'unknown user')
  t.equal(status(basic('bob', hashed)), 401, 'the stored hash is not the password')
  t.equal(status('Bearer abc.def'), 401)
  t.equal(status('Basic '), 401)
  t.equal(status(`Basic ${Buffer.from('alicewonderland').toString('base64')}`), 401, 'no colon')
  t.equal(status(`Basic ${Buffer.from(':wonderland').toString('base64')}`), 401, 'empty user')
  t.equal(status('Basic !!!not-base64!!!'), 401)
})

t.test('hideCredentials removes Authorization upstream (default), or keeps it', async (t) => {
  const ctx = fakeRequest({ headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(p.onRequest!(ctx), undefined)
  t.equal(ctx.requestHeaders.get('authorization'), undefined)
  t.equal(ctx.state.get('basic-auth'), 'alice', 'the user is left for later plugins')

  const keep = make({ users: { alice: 'wonderland' }, hideCredentials: false })
  const ctx2 = fakeRequest({ headers: { authorization: basic('alice', 'wonderland') } })
  t.equal(keep.onRequest!(ctx2), undefined)
  t.equal(ctx2.requestHeaders.get('authorization'), basic('alice', 'wonderland'))
})

t.test('the default realm', async (t) => {
  const r = make({ users: { a: 'b' } }).onRequest!(fakeRequest())
  t.same(isLocalResponse(r) && r.headers?.['www-authenticate'], 'Basic realm="sluice"')
})

t.test('config errors', async (t) => {
  t.same(problems({}), ['users: required: a map of a password or "sha256:<hex>"'])
  t.same(problems({ users: {} }), ['users: needs at least one user'])
  t.same(problems({ users: ['alice'] }), ['users: must be a map of a password or "sha256:<hex>", got a list'])
  t.same(problems({ users: { alice: 'sha256:abc', bob: 42, 'c:d': 'x' } }), [
    'users.alice: a hashed password must be "sha256:" and 64 hex digits',
    'users.bob: must be a string, got number 42',
    'users.c:d: "c:d" is not a user name (empty or has a colon)',
  ])
  t.same(problems({ users: { a: 'b' }, realm: 'say "hi"' }), ['realm: cannot hold quotes, backslashes or control characters'])
  t.same(problems({ users: { a: 'b' }, hideCredentials: 'no' }), ['hideCredentials: must be true or false, got string "no"'])
  t.same(problems({ users: { a: 'b' }, password: 'x' }), ['password: unknown field; known fields: users, realm, hideCredentials'])
})

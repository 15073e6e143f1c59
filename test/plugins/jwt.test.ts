// jwt plugin: config validation, HS/RS/PS/ES/EdDSA verification, claims, token sources, and JWKS
// from a file and from a real local HTTPS server with a self-signed certificate (shared fetches,
// kid rotation, cooldown and TTL on an injected clock, slow and failing key servers, http refused).
import t from 'tap'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import plugin, { jwtPlugin } from '../../plugins/builtin/jwt.ts'
import type { JwtConfig } from '../../plugins/builtin/jwt.ts'
import type { LocalResponse, RequestContext } from '../../plugins/api.ts'
import { fakePluginContext, fakeRequest } from '../../plugins/testing.ts'
import { eventually } from '../fixtures/sluice.ts'
import { selfSigned } from '../tls/certs.ts'

const SECRET = 'a-very-long-shared-secret-for-hs256-tests'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
const ed = generateKeyPairSync('ed25519')
const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string
const HASH: Record<string, string> = { 256: 'sha256', 384: 'sha384', 512: 'sha512' }
const now = (): number => Math.floor(Date.now() / 1000)

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url')
}

function token(alg: string, key: KeyObject | string, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const data = `${b64({ alg, typ: 'JWT', ...header })}.${b64(payload)}`
  const hash = HASH[alg.slice(2)]
  let sig: Buffer
  if (alg.startsWith('HS')) sig = createHmac(hash, key).update(data).digest()
  else if (alg === 'EdDSA') sig = sign(null, Buffer.from(data), key as KeyObject)
  else if (alg.startsWith('RS')) sig = sign(hash, Buffer.from(data), key as KeyObject)
  else if (alg.startsWith('PS')) sig = sign(hash, Buffer.from(data), { key: key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
  else sig = sign(hash, Buffer.from(data), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
  return `${data}.${sig.toString('base64url')}`
}

function config(raw: unknown): JwtConfig {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(v.issues.map((i) => `${i.path}: ${i.message}`).join('; '))
  return v.config
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

function make(raw: unknown, baseDir?: string, p = plugin) {
  const inst = p.create(config(raw), fakePluginContext(undefined, baseDir))
  t.teardown(() => inst.close?.())
  return inst
}

async function run(inst: ReturnType<typeof make>, ctx: RequestContext): Promise<LocalResponse | undefined> {
  return (await inst.onRequest!(ctx)) ?? undefined
}

const bearer = (tok: string, extra: Record<string, string> = {}): RequestContext =>
  fakeRequest({ headers: { authorization: `Bearer ${tok}`, ...extra } })

const challenge = (r: LocalResponse | undefined): string | undefined => r?.headers?.['www-authenticate'] as string | undefined
const desc = (d: string): string => `Bearer realm="sluice", error="invalid_token", error_description="${d}"`

t.test('config validation', async (t) => {
  t.same(problems({}), ['keys: needs at least one key, or jwks.url or jwks.file'])
  t.same(problems({ keys: [{ pem: 'nope' }] }), ['keys[0].pem: not a PEM public key'])
  t.same(problems({ keys: [{ pem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }] }), ['keys[0].pem: not a PEM public key'])
  t.same(problems({ keys: [{ pem: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) }] }), ['keys[0].pem: is a private key; configure the public key'])
  t.same(problems({ keys: [{ secret: 'x', pem: pem(rsa.publicKey) }] }), ['keys[0]: needs exactly one of secret, pem or file'])
  t.same(problems({ keys: [{}] }), ['keys[0]: needs exactly one of secret, pem or file'])
  t.same(problems({ keys: [{ secret: 'x', alg: 'RS256' }] }), ['keys[0].alg: alg RS256 does not fit this shared secret key (fits HS256, HS384, HS512)'])
  t.same(problems({ keys: [{ pem: pem(ec.publicKey), alg: 'ES384' }] }), ['keys[0].alg: alg ES384 does not fit this EC prime256v1 key (fits ES256)'])
  t.same(problems({ keys: [{ secret: 'x', alg: 'none' }] }), [
    'keys[0].alg: must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, got "none"',
  ])
  t.same(problems({ keys: [{ secret: '!!!', secretEncoding: 'base64' }] }), ['keys[0].secret: not valid base64'])
  t.same(problems({ jwks: { url: 'ftp://keys.example.com/jwks.json' } }), ['jwks.url: must be an https:// URL, got "ftp://keys.example.com/jwks.json"'])
  t.same(problems({ jwks: { url: 'https://' } }), ['jwks.url: must be an https:// URL, got "https://"'])
  t.same(problems({ jwks: { url: 'http://keys.example.com/jwks.json' } }), [
    'jwks.url: http:// sends the signing keys unauthenticated, so anyone on the path can replace them and forge tokens; ' +
    'use https:// (jwks.caFile trusts a private CA), or set allowInsecureJwks: true for a key server on loopback or a trusted network',
  ])
  t.same(problems({ jwks: { url: 'http://127.0.0.1:8000/jwks.json' }, allowInsecureJwks: true }), [])
  t.same(problems({ jwks: { url: 'https://keys.example.com/jwks.json' } }), [])
  t.same(problems({ keys: [{ secret: 'x' }], jwks: { caFile: 'ca.pem' } }), ['jwks.caFile: only used with jwks.url; remove it or set jwks.url'])
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
  t.same(problems({ keys: [{ pem: pem(small) }] }), ['keys[0].pem: is an RSA key of 1024 bits; at least 2048 are required'])
  t.same(problems({ keys: [{ pem: pem(generateKeyPairSync('ed448').publicKey) }] }), ['keys[0].pem: is an ed448 key; supported are RSA, EC P-256/P-384/P-521 and Ed25519'])
  t.same(problems({ jwks: { url: 'http://a/j', file: 'j.json' } }), ['jwks: set url or file, not both'])
  t.same(problems({ keys: [{ secret: 'x' }], algorithms: ['none'] }), [
    'algorithms[0]: must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, got "none"',
  ])
  t.same(problems({ keys: [{ secret: 'x' }], claimsToHeaders: { sub: 'x user' } }), ['claimsToHeaders.sub: "x user" is not a valid header name'])
  t.same(problems({ keys: [{ secret: 'x' }], realm: 'a"b' }), ['realm: must be printable ASCII without " or \\'])
  t.same(problems({ keys: [{ secret: 'x' }], header: '', queryParam: '', cookie: '' }), ['header: one of header, queryParam or cookie must be set'])
  t.same(problems({ keys: [{ secret: 'x' }], clockSkew: 'soon' }), ['clockSkew: must be a duration such as "500ms", "30s" or a number of seconds, got string "soon"'])
  t.match(problems({ keys: [{ secret: 'x' }], issuer: 'a' })[0], /^issuer: unknown field; known fields: realm, header/)
  const c = config({ keys: [{ secret: 'x' }] })
  t.equal(c.clockSkew, 60_000)
  t.equal(c.jwks.ttl, 600_000)
  t.equal(c.header, 'authorization')
  t.equal(c.forwardToken, true)
})

t.test('HS256: valid token passes, claims reach the upstream, spoofed claim headers are removed', async (t) => {
  const inst = make({ keys: [{ secret: SECRET }], claimsToHeaders: { sub: 'x-user', roles: 'x-roles', n: 'x-n', obj: 'x-obj', uni: 'x-uni' } })
  const tok = token('HS256', SECRET, { sub: 'alice', roles: ['a', 'b'], n: 3, obj: { k: 1 }, uni: 'zoë', exp: now() + 60 })
  const ctx = bearer(tok, { 'x-user': 'mallory', 'x-n': '99' })
  t.equal(await run(inst, ctx), undefined)
  t.equal(ctx.requestHeaders.get('x-user'), 'alice')
  t.same(ctx.requestHeaders.getAll('x-user'), ['alice'])
  t.equal(ctx.requestHeaders.get('x-roles'), 'a,b')
  t.equal(ctx.requestHeaders.get('x-n'), '3')
  t.equal(ctx.requestHeaders.get('x-obj'), '{"k":1}')
  t.equal(ctx.requestHeaders.get('x-uni'), 'zo%C3%AB')
  t.equal(ctx.requestHeaders.get('authorization'), `Bearer ${tok}`)
  t.same((ctx.state.get('jwt') as Record<string, unknown>).sub, 'alice')

  // spoofed header removed even when the token lacks the claim
  const ctx2 = bearer(token('HS256', SECRET, { other: 1 }), { 'x-user': 'mallory' })
  t.equal(await run(inst, ctx2), undefined)
  t.equal(ctx2.requestHeaders.get('x-user'), undefined)

  // HS384/HS512 with the same secret
  t.equal(await run(inst, bearer(token('HS384', SECRET, {}))), undefined)
  t.equal(await run(inst, bearer(token('HS512', SECRET, {}))), undefined)
  // base64 secrets
  const b64inst = make({ keys: [{ secret: Buffer.from(SECRET).toString('base64'), secretEncoding: 'base64' }] })
  t.equal(await run(b64inst, bearer(token('HS256', SECRET, {}))), undefined)
})

t.test('missing and rejected tokens answer 401 with a Bearer challenge', async (t) => {
  const inst = make({ keys: [{ secret: SECRET }] })
  const missing = await run(inst, fakeRequest())
  t.equal(missing?.status, 401)
  t.equal(challenge(missing), 'Bearer realm="sluice"')
  t.equal(challenge(await run(inst, fakeRequest({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }))), 'Bearer realm="sluice"')
  t.equal(challenge(await run(inst, fakeRequest({ headers: { authorization: 'Bearer ' } }))), 'Bearer realm="sluice"')

  const bad = await run(inst, bearer(token('HS256', 'another-secret', {})))
  t.equal(bad?.status, 401)
  t.equal(challenge(bad), desc('invalid signature'))
  t.equal(challenge(await run(inst, bearer('abc.def'))), desc('malformed token'))
  t.equal(challenge(await run(inst, bearer('a.b.c.d'))), desc('malformed token'))
  t.equal(challenge(await run(inst, bearer(`${b64({ alg: 'HS256' })}.bm90IGpzb24.sig`))), desc('malformed token'))
  t.equal(challenge(await run(inst, bearer(`${b64({ alg: 'HS256' })}.${b64([1])}.sig`))), desc('malformed token'))
  // alg none, even with an empty signature, is never accepted
  t.equal(challenge(await run(inst, bearer(`${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`))), desc('algorithm not allowed'))
  t.equal(challenge(await run(inst, bearer(token('HS256', SECRET, {}, { crit: ['exp'] })))), desc('unsupported token header'))
  // tampered payload
  const [h, , s] = token('HS256', SECRET, { sub: 'alice' }).split('.')
  t.equal(challenge(await run(inst, bearer(`${h}.${b64({ sub: 'admin' })}.${s}`))), desc('invalid signature'))

  const realm = make({ keys: [{ secret: SECRET }], realm: 'api' })
  t.equal(challenge(await run(realm, fakeRequest())), 'Bearer realm="api"')
})

t.test('the token alg must fit the key type (no HS256 with an RSA public key)', async (t) => {
  const inst = make({ keys: [{ pem: pem(rsa.publicKey) }] })
  // the classic confusion attack: HMAC keyed with the public key's PEM text
  const forged = token('HS256', pem(rsa.publicKey), { sub: 'admin' })
  t.equal(challenge(await run(inst, bearer(forged))), desc('no key matches the token'))
  const only = make({ keys: [{ pem: pem(rsa.publicKey), alg: 'RS256' }] })
  t.equal(challenge(await run(only, bearer(token('PS256', rsa.privateKey, {})))), desc('no key matches the token'))
  const allowed = make({ keys: [{ pem: pem(rsa.publicKey) }], algorithms: ['RS512'] })
  t.equal(challenge(await run(allowed, bearer(token('RS256', rsa.privateKey, {})))), desc('algorithm not allowed'))
  t.equal(await run(allowed, bearer(token('RS512', rsa.privateKey, {}))), undefined)
})

t.test('RS*, PS*, ES*, EdDSA with PEM keys', async (t) => {
  const inst = make({ keys: [{ pem: pem(rsa.publicKey) }, { pem: pem(ec.publicKey) }, { pem: pem(ec384.publicKey) }, { pem: pem(ed.publicKey) }] })
  for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']) t.equal(await run(inst, bearer(token(alg, rsa.privateKey, {}))), undefined, alg)
  t.equal(await run(inst, bearer(token('ES256', ec.privateKey, {}))), undefined, 'ES256')
  t.equal(await run(inst, bearer(token('ES384', ec384.privateKey, {}))), undefined, 'ES384')
  t.equal(await run(inst, bearer(token('EdDSA', ed.privateKey, {}))), undefined, 'EdDSA')
  t.equal(challenge(await run(inst, bearer(token('RS256', rsa2.privateKey, {})))), desc('invalid signature'))
  // ES512 token but no P-521 key
  t.equal(challenge(await run(inst, bearer(token('ES512', generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey, {})))), desc('no key matches the token'))
  // DER-encoded ECDSA signature (not JWS's r||s) is refused
  const data = `${b64({ alg: 'ES256' })}.${b64({})}`
  const der = sign('sha256', Buffer.from(data), ec.privateKey).toString('base64url')
  t.equal(challenge(await run(inst, bearer(`${data}.${der}`))), desc('invalid signature'))
})

t.test('kid selects the key', async (t) => {
  const inst = make({ keys: [{ kid: 'one', pem: pem(rsa.publicKey) }, { kid: 'two', pem: pem(rsa2.publicKey) }] })
  t.equal(await run(inst, bearer(token('RS256', rsa2.privateKey, {}, { kid: 'two' }))), undefined)
  t.equal(await run(inst, bearer(token('RS256', rsa2.privateKey, {}))), undefined, 'no kid: every key is tried')
  t.equal(challenge(await run(inst, bearer(token('RS256', rsa2.privateKey, {}, { kid: 'one' })))), desc('invalid signature'))
  t.equal(challenge(await run(inst, bearer(token('RS256', rsa2.privateKey, {}, { kid: 'three' })))), desc('no key matches the token'))
})

t.test('exp, nbf, iss, aud and required claims', async (t) => {
  const inst = make({ keys: [{ secret: SECRET }], issuers: ['https://issuer.a', 'https://issuer.b'], audiences: ['api'], requiredClaims: ['sub'] })
  const ok = { sub: 'u', iss: 'https://issuer.b', aud: 'api' }
  const check = async (claims: Record<string, unknown>) => challenge(await run(inst, bearer(token('HS256', SECRET, claims))))
  t.equal(await check(ok), undefined)
  t.equal(await check({ ...ok, aud: ['other', 'api'] }), undefined)
  t.equal(await check({ ...ok, exp: now() - 30 }), undefined, 'within the 60 s skew')
  t.equal(await check({ ...ok, exp: now() - 120 }), desc('token expired'))
  t.equal(await check({ ...ok, exp: 'tomorrow' }), desc('invalid exp claim'))
  t.equal(await check({ ...ok, nbf: now() + 30 }), undefined, 'within the skew')
  t.equal(await check({ ...ok, nbf: now() + 600 }), desc('token not yet valid'))
  t.equal(await check({ ...ok, nbf: '1' }), desc('invalid nbf claim'))
  t.equal(await check({ ...ok, iss: 'https://evil' }), desc('issuer not allowed'))
  t.equal(await check({ sub: 'u', aud: 'api' }), desc('issuer not allowed'))
  t.equal(await check({ ...ok, aud: ['other'] }), desc('audience not allowed'))
  t.equal(await check({ ...ok, aud: undefined }), desc('audience not allowed'))
  t.equal(await check({ iss: 'https://issuer.a', aud: 'api' }), desc('missing claim sub'))

  const strict = make({ keys: [{ secret: SECRET }], clockSkew: 0, requiredClaims: ['exp'] })
  t.equal(challenge(await run(strict, bearer(token('HS256', SECRET, { exp: now() - 2 })))), desc('token expired'))
  t.equal(challenge(await run(strict, bearer(token('HS256', SECRET, {})))), desc('missing claim exp'))
})

t.test('token sources: custom header, query parameter, cookie; forwardToken; optional', async (t) => {
  const tok = token('HS256', SECRET, { sub: 'q' })
  const q = make({ keys: [{ secret: SECRET }], queryParam: 'access_token' })
  t.equal(await run(q, fakeRequest({ url: `/x?a=1&access_token=${tok}` })), undefined)
  t.equal(await run(q, bearer(tok)), undefined, 'the header still works')
  const c = make({ keys: [{ secret: SECRET }], header: '', cookie: 'session' })
  t.equal(await run(c, fakeRequest({ headers: { cookie: `a=b; session=${tok}; z=1` } })), undefined)
  t.equal(challenge(await run(c, bearer(tok))), 'Bearer realm="sluice"', 'header disabled')
  const h = make({ keys: [{ secret: SECRET }], header: 'X-Token', forwardToken: false })
  const ctx = fakeRequest({ headers: { 'x-token': tok } })
  t.equal(await run(h, ctx), undefined, 'a custom header may hold the bare token')
  t.equal(ctx.requestHeaders.get('x-token'), undefined, 'forwardToken: false strips it')
  const opt = make({ keys: [{ secret: SECRET }], optional: true, claimsToHeaders: { sub: 'x-user' } })
  const anon = fakeRequest({ headers: { 'x-user': 'spoof' } })
  t.equal(await run(opt, anon), undefined)
  t.equal(anon.requestHeaders.get('x-user'), undefined)
  t.equal(challenge(await run(opt, bearer('garbage'))), desc('malformed token'), 'a bad token is still refused')
})

t.test('PEM key files are read relative to baseDir', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-jwt-'))
  writeFileSync(join(dir, 'rsa.pem'), pem(rsa.publicKey))
  writeFileSync(join(dir, 'junk.pem'), 'hello')
  const inst = make({ keys: [{ file: 'rsa.pem' }] }, dir)
  t.equal(await run(inst, bearer(token('RS256', rsa.privateKey, {}))), undefined)
  t.throws(() => make({ keys: [{ file: 'missing.pem' }] }, dir), { message: `keys[0].file: cannot read ${join(dir, 'missing.pem')}: ENOENT` })
  t.throws(() => make({ keys: [{ file: 'junk.pem' }] }, dir), { message: `keys[0].file: ${join(dir, 'junk.pem')} is not a PEM public key` })
})

function jwk(pub: KeyObject, kid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...pub.export({ format: 'jwk' }), kid, use: 'sig', ...extra }
}

t.test('JWKS from a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-jwks-'))
  const file = join(dir, 'jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [jwk(rsa.publicKey, 'r1'), jwk(ec.publicKey, 'e1'), { kty: 'RSA', use: 'enc', kid: 'x' }, { kty: 'weird' }] }))
  const inst = make({ jwks: { file: 'jwks.json', cooldown: 0 } }, dir)
  t.equal(await run(inst, bearer(token('RS256', rsa.privateKey, {}, { kid: 'r1' }))), undefined)
  t.equal(await run(inst, bearer(token('ES256', ec.privateKey, {}, { kid: 'e1' }))), undefined)
  t.equal(challenge(await run(inst, bearer(token('RS256', rsa2.privateKey, {}, { kid: 'r2' })))), desc('no key matches the token'))
  // the file gains a key: an unknown kid makes the plugin re-read it
  writeFileSync(file, JSON.stringify({ keys: [jwk(rsa.publicKey, 'r1'), jwk(rsa2.publicKey, 'r2')] }))
  t.equal(await run(inst, bearer(token('RS256', rsa2.privateKey, {}, { kid: 'r2' }))), undefined)
  // a JWK alg pins the algorithm
  writeFileSync(file, JSON.stringify({ keys: [jwk(rsa.publicKey, 'p', { alg: 'PS256' })] }))
  const pinned = make({ jwks: { file: 'jwks.json' } }, dir)
  t.equal(await run(pinned, bearer(token('PS256', rsa.privateKey, {}, { kid: 'p' }))), undefined)
  t.equal(challenge(await run(pinned, bearer(token('RS256', rsa.privateKey, {}, { kid: 'p' })))), desc('no key matches the token'))

  writeFileSync(join(dir, 'bad.json'), '{"keys": 1}')
  t.throws(() => make({ jwks: { file: 'bad.json' } }, dir), { message: `jwks.file: cannot load ${join(dir, 'bad.json')}: not a JWKS: no "keys" list` })
  t.throws(() => make({ jwks: { file: 'nope.json' } }, dir), { message: /^jwks\.file: cannot load .*nope\.json: ENOENT/ })
})

interface JwksServer {
  url: string
  fetches: number
  keys: unknown[]
  status: number
  /** hold answers until released (a slow key server) */
  hold: boolean
  release(): void
  close(): Promise<void>
}

// one self-signed certificate for every HTTPS key server of this file, trusted through jwks.caFile
const tls = selfSigned('localhost')
const caDir = mkdtempSync(join(tmpdir(), 'sluice-jwks-ca-'))
writeFileSync(join(caDir, 'ca.pem'), tls.cert)

/** A JWKS endpoint on 127.0.0.1: HTTPS (https://localhost:port) unless `plain`. */
async function jwksServer(keys: unknown[], plain = false): Promise<JwksServer> {
  const held: (() => void)[] = []
  const state = {
    fetches: 0, keys, status: 200, hold: false,
    release: () => { for (const f of held.splice(0)) f() },
  }
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    state.fetches++
    const answer = (): void => {
      res.writeHead(state.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: state.keys }))
    }
    if (state.hold) held.push(answer)
    else answer()
  }
  const server = plain ? http.createServer(handler) : https.createServer({ cert: tls.cert, key: tls.key }, handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return Object.assign(state, {
    url: `${plain ? 'http' : 'https'}://${plain ? '127.0.0.1' : 'localhost'}:${port}/.well-known/jwks.json`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }),
  })
}

/** A clock the test moves by hand (ms), and a plugin that reads it. */
function clocked(): { p: ReturnType<typeof jwtPlugin>; advance(ms: number): void } {
  let ms = Date.now()
  return { p: jwtPlugin({ clock: () => ms }), advance: (d) => { ms += d } }
}

t.test('JWKS over HTTPS: one shared fetch, kid rotation after the cooldown, TTL reload in the background', async (t) => {
  const srv = await jwksServer([jwk(rsa.publicKey, 'k1')])
  t.teardown(srv.close)
  const { p, advance } = clocked()
  const cfg = { jwks: { url: srv.url, caFile: 'ca.pem', cooldown: '30s', ttl: '10m' } }
  srv.hold = true
  const inst = make(cfg, caDir, p)
  const tok = token('RS256', rsa.privateKey, { sub: 'a' }, { kid: 'k1' })
  // many requests before the first load finishes all wait on the same fetch
  const pending = Promise.all(Array.from({ length: 20 }, () => run(inst, bearer(tok))))
  t.ok(await eventually(() => srv.fetches === 1, 5000), 'the warm-up fetch has started')
  srv.hold = false
  srv.release()
  t.same(await pending, Array(20).fill(undefined))
  t.equal(srv.fetches, 1)
  // another route with the same JWKS shares the set
  const inst2 = make(cfg, caDir, p)
  t.equal(await run(inst2, bearer(tok)), undefined)
  t.equal(srv.fetches, 1)

  // a rotated key: within the cooldown of the last load an unknown kid costs no fetch
  srv.keys = [jwk(rsa.publicKey, 'k1'), jwk(rsa2.publicKey, 'k2')]
  const tok2 = token('RS256', rsa2.privateKey, {}, { kid: 'k2' })
  t.equal(challenge(await run(inst, bearer(tok2))), desc('no key matches the token'))
  t.equal(srv.fetches, 1)
  // after it, the unknown kid forces one reload and the new key works
  advance(30_000)
  t.equal(await run(inst, bearer(tok2)), undefined)
  t.equal(srv.fetches, 2)
  // random kids within the new cooldown cost no fetches
  for (let i = 0; i < 10; i++) t.equal(challenge(await run(inst, bearer(token('RS256', rsa2.privateKey, {}, { kid: `r${i}` })))), desc('no key matches the token'))
  t.equal(srv.fetches, 2)

  // past the TTL a request starts a background reload but does not wait for it: the old keys serve
  srv.keys = [jwk(rsa2.publicKey, 'k2')]
  srv.hold = true
  advance(600_000)
  t.equal(await run(inst, bearer(tok)), undefined, 'served with the cached keys while the reload hangs')
  t.ok(await eventually(() => srv.fetches === 3, 5000), 'the reload was started')
  t.equal(await run(inst2, bearer(tok)), undefined, 'other requests do not wait for it either')
  srv.hold = false
  srv.release()
  t.ok(await eventually(async () => challenge(await run(inst, bearer(tok))) === desc('no key matches the token'), 5000), 'k1 is gone after the reload')
  t.equal(srv.fetches, 3, 'the unknown k1 is within the cooldown of the reload')
})

t.test('JWKS over HTTPS: the certificate must be trusted', async (t) => {
  const srv = await jwksServer([jwk(rsa.publicKey, 'k1')])
  t.teardown(srv.close)
  const inst = make({ jwks: { url: srv.url, timeout: '2s' } })
  t.equal(challenge(await run(inst, bearer(token('RS256', rsa.privateKey, {}, { kid: 'k1' })))), desc('signing keys unavailable'), 'a self-signed certificate without caFile is refused')
  t.throws(() => make({ jwks: { url: srv.url, caFile: 'nope.pem' } }, caDir), { message: `jwks.caFile: cannot read ${join(caDir, 'nope.pem')}: ENOENT` })
})

t.test('JWKS: a token without kid tries every key of its type; an RSA key never verifies HS256', async (t) => {
  const srv = await jwksServer([jwk(rsa.publicKey, 'k1'), jwk(rsa2.publicKey, 'k2'), jwk(ec.publicKey, 'e1')])
  t.teardown(srv.close)
  const inst = make({ jwks: { url: srv.url, caFile: 'ca.pem' } }, caDir)
  t.equal(await run(inst, bearer(token('RS256', rsa2.privateKey, { sub: 'x' }))), undefined, 'second of two RSA keys')
  t.equal(challenge(await run(inst, bearer(token('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, {})))), desc('invalid signature'))
  t.equal(challenge(await run(inst, bearer(token('RS256', rsa2.privateKey, { exp: now() - 3600 })))), desc('token expired'), 'claims are checked on the key that verified')
  // alg confusion: HS256 keyed with the public key's PEM or JWK text
  for (const secret of [pem(rsa.publicKey), JSON.stringify(jwk(rsa.publicKey, 'k1'))]) {
    t.equal(challenge(await run(inst, bearer(token('HS256', secret, { sub: 'admin' }, { kid: 'k1' })))), desc('no key matches the token'))
  }
  t.equal(challenge(await run(inst, bearer(`${b64({ alg: 'none', kid: 'k1' })}.${b64({ sub: 'admin' })}.`))), desc('algorithm not allowed'))
})

t.test('JWKS URL failures: a failed load keeps its cooldown; a slow server is bounded by the timeout', async (t) => {
  const srv = await jwksServer([jwk(rsa.publicKey, 'k1')])
  t.teardown(srv.close)
  srv.status = 500
  const { p, advance } = clocked()
  const inst = make({ jwks: { url: `${srv.url}?fail`, caFile: 'ca.pem', cooldown: '1m' } }, caDir, p)
  const tok = token('RS256', rsa.privateKey, {}, { kid: 'k1' })
  t.equal(challenge(await run(inst, bearer(tok))), desc('signing keys unavailable'))
  t.equal(challenge(await run(inst, bearer(tok))), desc('signing keys unavailable'))
  t.equal(srv.fetches, 1, 'the cooldown holds after a failed load')
  srv.status = 200
  advance(60_000)
  t.equal(await run(inst, bearer(tok)), undefined, 'after the cooldown the next request loads the keys')
  t.equal(srv.fetches, 2)

  // a key server that never answers: requests give up after jwks.timeout (else this test hangs)
  const slow = await jwksServer([jwk(rsa.publicKey, 'k1')])
  t.teardown(async () => { slow.release(); await slow.close() })
  slow.hold = true
  const hung = make({ jwks: { url: slow.url, caFile: 'ca.pem', timeout: '200ms' } }, caDir)
  t.equal(challenge(await run(hung, bearer(tok))), desc('signing keys unavailable'))
  // a route with its own keys next to the JWKS: a known key never waits for the key server
  const mixed = make({ keys: [{ kid: 'local', secret: SECRET }], jwks: { url: `${slow.url}?mixed`, caFile: 'ca.pem', timeout: '1h' } }, caDir)
  t.equal(await run(mixed, bearer(token('HS256', SECRET, {}, { kid: 'local' }))), undefined)

  // a server that is not there
  const dead = make({ jwks: { url: 'http://127.0.0.1:1/jwks.json', timeout: '500ms' }, allowInsecureJwks: true })
  t.equal(challenge(await run(dead, bearer(tok))), desc('signing keys unavailable'))
})

t.test('JWKS over http:// only with allowInsecureJwks', async (t) => {
  const srv = await jwksServer([jwk(ec.publicKey, 'e1')], true)
  t.teardown(srv.close)
  t.throws(() => make({ jwks: { url: srv.url } }), { message: /^jwks\.url: http:\/\/ sends the signing keys unauthenticated/ })
  const inst = make({ jwks: { url: srv.url }, allowInsecureJwks: true })
  t.equal(await run(inst, bearer(token('ES256', ec.privateKey, {}, { kid: 'e1' }))), undefined)
})

t.test('exp and nbf follow the injected clock', async (t) => {
  const { p, advance } = clocked()
  const inst = make({ keys: [{ secret: SECRET }], clockSkew: '10s' }, undefined, p)
  const tok = token('HS256', SECRET, { nbf: now() + 60, exp: now() + 120 })
  t.equal(challenge(await run(inst, bearer(tok))), desc('token not yet valid'))
  advance(55_000)
  t.equal(await run(inst, bearer(tok)), undefined, 'within the skew of nbf')
  advance(70_000)
  t.equal(await run(inst, bearer(tok)), undefined, 'within the skew of exp')
  advance(10_000)
  t.equal(challenge(await run(inst, bearer(tok))), desc('token expired'))
})

t.test('short shared secrets are accepted with a warning', async (t) => {
  const warned: string[] = []
  const noop = (): void => {}
  const ctx = { ...fakePluginContext(), log: { info: noop, error: noop, warn: (m: string, f?: Record<string, unknown>) => { warned.push(`${m} ${String(f?.key)}`) } } }
  const inst = plugin.create(config({ keys: [{ secret: SECRET }, { secret: 'short' }] }), ctx)
  t.same(warned, ['jwt: shared secret shorter than 32 bytes keys[1]'])
  t.equal(await run(inst, bearer(token('HS256', 'short', {}))), undefined)
})

// The authentication and access built-ins through the real `sluice serve` and real HTTP:
// basic-auth (bcrypt and argon2 hashes, a plain password from a Secret), jwt (HS256, ES256 from a
// PEM file, a JWKS file; tokens signed here with node:crypto), ip-filter (peer address and trusted X-Forwarded-For hops) and ext-authz (a real
// authorization server: allow, deny, down, failure mode allow). One sluice process for the file.
import t from 'tap'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import bcrypt from 'bcryptjs'
import argon2 from 'argon2'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, request, startSluice, type HttpResult } from '../fixtures/sluice.ts'
import { docs, echo, expectReady, hostOf, plugin, service } from './fixtures/e2e.ts'
import { selfSigned } from '../tls/certs.ts'

// --- a real backend and a real authorization service ------------------------------------------

const backend = await startBackend('app')
t.teardown(() => backend.close())
/** how many requests for exactly this path (and query) reached the backend */
const reached = (url: string): number => backend.requests.filter((r) => r.url === url).length

interface Check { method: string; url: string; headers: http.IncomingHttpHeaders }
const checks: Check[] = []
const authz = http.createServer((req, res) => {
  checks.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
  req.resume()
  if ((req.url ?? '').startsWith('/check/allow')) {
    res.writeHead(200, { 'x-auth-user': 'alice', 'x-auth-internal': 'not for the upstream', 'content-type': 'text/plain' })
    res.end('ok\n')
  } else {
    res.writeHead(403, { 'content-type': 'text/plain', 'x-deny-reason': 'policy' })
    res.end('denied by policy\n')
  }
})
await new Promise<void>((resolve) => authz.listen(0, '127.0.0.1', resolve))
const authzUrl = `http://127.0.0.1:${(authz.address() as AddressInfo).port}`
t.teardown(() => new Promise<void>((resolve) => { authz.closeAllConnections(); authz.close(() => resolve()) }))

/** a port nothing listens on: bound, then closed */
async function deadPort(): Promise<number> {
  const srv = http.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}
const downUrl = `http://127.0.0.1:${await deadPort()}`

// --- JWT keys and tokens, made here with node:crypto -----------------------------------------

const SECRET = 'e2e-shared-secret-that-is-32-bytes-or-more'
const es = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const otherEs = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const jwksEs = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const jwksRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')

/** a compact JWS signed with `key` (a shared secret for HS256) */
function token(alg: 'HS256' | 'ES256' | 'RS256' | 'none', key: KeyObject | string, payload: Record<string, unknown>, kid?: string): string {
  const data = `${b64({ alg, typ: 'JWT', ...(kid !== undefined ? { kid } : {}) })}.${b64(payload)}`
  let sig: Buffer
  if (alg === 'none') sig = Buffer.alloc(0)
  else if (alg === 'HS256') sig = createHmac('sha256', key as string).update(data).digest()
  else if (alg === 'ES256') sig = sign('sha256', Buffer.from(data), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
  else sig = sign('sha256', Buffer.from(data), key as KeyObject)
  return `${data}.${sig.toString('base64url')}`
}

const now = (): number => Math.floor(Date.now() / 1000)
const ISS = 'https://issuer.e2e.test'
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ iss: ISS, aud: 'api', sub: 'alice', iat: now(), exp: now() + 300, ...extra })

const jwks = {
  keys: [
    { ...jwksEs.publicKey.export({ format: 'jwk' }), kid: 'k-es', alg: 'ES256', use: 'sig' },
    { ...jwksRsa.publicKey.export({ format: 'jwk' }), kid: 'k-rsa', alg: 'RS256', use: 'sig' },
  ],
}

// the same key set served over HTTPS with a self-signed certificate the gateway trusts via caFile
const jwksTls = selfSigned('localhost')
let jwksFetches = 0
const jwksServer = https.createServer({ cert: jwksTls.cert, key: jwksTls.key }, (req, res) => {
  jwksFetches++
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(jwks))
})
await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
const jwksUrl = `https://localhost:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`
t.teardown(() => new Promise<void>((resolve) => { jwksServer.closeAllConnections(); jwksServer.close(() => resolve()) }))

// --- the configuration ----------------------------------------------------------------------

const up = backend.origin
// htpasswd -B writes $2y$; cheap parameters keep the test fast
const aliceHash = `$2y$${bcrypt.hashSync('wonderland', 5).slice(4)}`
const carolHash = await argon2.hash('in the garden', { type: argon2.argon2id, memoryCost: 1024, timeCost: 2, parallelism: 1 })
const usersSecret = `apiVersion: v1
kind: Secret
metadata:
  name: basic-users
type: Opaque
stringData:
  bob: builder
`
const jwtCommon = { issuers: [ISS], audiences: ['api'], claimsToHeaders: { sub: 'x-user', role: 'x-role', groups: 'x-groups' } }

const config = docs(
  service('basic', up, 'basic'),
  service('basic-keep', up, 'basic-keep'),
  usersSecret,
  plugin('basic', 'basic-auth', { realm: 'e2e', users: { alice: aliceHash, bob: { secretKeyRef: { name: 'basic-users', key: 'bob' } }, carol: carolHash } }),
  plugin('basic-keep', 'basic-auth', { users: { alice: aliceHash }, hideCredentials: false }),

  service('jwt-hs', up, 'jwt-hs'),
  service('jwt-es', up, 'jwt-es'),
  service('jwt-jwks', up, 'jwt-jwks'),
  plugin('jwt-hs', 'jwt', { realm: 'api', keys: [{ secret: SECRET, alg: 'HS256' }], ...jwtCommon }),
  plugin('jwt-es', 'jwt', { keys: [{ file: 'keys/es256.pem' }], ...jwtCommon }),
  plugin('jwt-jwks', 'jwt', { jwks: { file: 'keys/jwks.json' }, issuers: [ISS], claimsToHeaders: { sub: 'x-user' } }),
  service('jwt-remote', up, 'jwt-remote'),
  plugin('jwt-remote', 'jwt', { jwks: { url: jwksUrl, caFile: 'keys/ca.pem' }, issuers: [ISS], audiences: ['api'] }),

  service('ip-deny', up, 'ip-deny'),
  service('ip-allow', up, 'ip-allow'),
  service('ip-elsewhere', up, 'ip-elsewhere'),
  service('ip-xff', up, 'ip-xff'),
  plugin('ip-deny', 'ip-filter', { deny: ['127.0.0.1/8'] }),
  plugin('ip-allow', 'ip-filter', { allow: ['127.0.0.0/8', '::1/128'] }),
  plugin('ip-elsewhere', 'ip-filter', { allow: ['10.0.0.0/8'] }),
  plugin('ip-xff', 'ip-filter', { allow: ['203.0.113.0/24'], deny: ['203.0.113.66/32'], trustedHops: 1 }),
  // the test client plays the trusted proxy: X-Forwarded-For is read only from such peers
  'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-sluice, namespace: knative-serving}\ndata: {trusted-proxies: 127.0.0.1}\n',

  service('authz', up, 'authz'),
  service('authz-down', up, 'authz-down'),
  service('authz-open', up, 'authz-open'),
  plugin('authz', 'ext-authz', { url: authzUrl, pathPrefix: '/check', allowedUpstreamHeaders: ['x-auth-user'] }),
  plugin('authz-down', 'ext-authz', { url: downUrl, timeout: '1s' }),
  plugin('authz-open', 'ext-authz', { url: downUrl, timeout: '1s', failureModeAllow: true }),
)

const s = await startSluice({
  'auth.yaml': config,
  'keys/es256.pem': es.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  'keys/jwks.json': JSON.stringify(jwks),
  'keys/ca.pem': jwksTls.cert,
})
t.teardown(() => s.stop())
await expectReady(s)

const get = (svc: string, path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<HttpResult> =>
  request(s.port, hostOf(svc), path, { headers, method })
const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`
const bearer = (tok: string): { authorization: string } => ({ authorization: `Bearer ${tok}` })

// --- basic-auth -----------------------------------------------------------------------------

t.test('basic-auth', async (t) => {
  t.test('no credentials: 401 with the challenge, the backend never sees the request', async (t) => {
    const r = await get('basic', '/basic/none')
    t.equal(r.status, 401)
    t.equal(r.headers['www-authenticate'], 'Basic realm="e2e"')
    t.equal(r.body, 'Unauthorized\n')
    t.equal(reached('/basic/none'), 0)
  })

  t.test('wrong password, unknown user, another scheme, garbage: 401', async (t) => {
    const cases = [
      basic('alice', 'nope'), basic('mallory', 'wonderland'), basic('bob', 'wonderland'), 'Bearer abc', 'Basic !!!', basic('', 'x'),
      basic('Alice', 'wonderland'), basic('alice', 'Wonderland'), basic('alice', 'wonderland\n'), basic('alice', 'wonderland\0'),
      basic('alice', ''), basic('alice', aliceHash), basic('bob', 'builder '), basic('carol', carolHash), basic('alice:wonderland', ''),
      `Basic ${Buffer.from('alice').toString('base64')}`, 'Basic', 'Digest username="alice"',
    ]
    for (const [i, authorization] of cases.entries()) {
      const r = await get('basic', `/basic/wrong${i}`, { authorization })
      t.equal(r.status, 401, JSON.stringify(authorization))
      t.equal(r.headers['www-authenticate'], 'Basic realm="e2e"')
      t.equal(reached(`/basic/wrong${i}`), 0)
    }
  })

  t.test('right credentials (bcrypt, argon2, plain from a Secret): 200, and Authorization is hidden from the backend', async (t) => {
    for (const [user, pw] of [['alice', 'wonderland'], ['bob', 'builder'], ['carol', 'in the garden']]) {
      const r = await get('basic', `/basic/ok-${user}`, { authorization: basic(user!, pw!) })
      t.equal(r.status, 200, user)
      const e = echo(r)
      t.equal(e.url, `/basic/ok-${user}`)
      t.equal(e.headers.authorization, undefined, 'the credentials stay at the gateway')
      t.equal(r.headers['www-authenticate'], undefined)
    }
  })

  t.test('hideCredentials: false passes Authorization on', async (t) => {
    const auth = basic('alice', 'wonderland')
    const r = await get('basic-keep', '/basic/keep', { authorization: auth })
    t.equal(r.status, 200)
    t.equal(echo(r).headers.authorization, auth)
    const no = await get('basic-keep', '/basic/keep-none')
    t.equal(no.status, 401)
    t.equal(no.headers['www-authenticate'], 'Basic realm="sluice"', 'the default realm')
  })
})

// --- jwt ------------------------------------------------------------------------------------

const invalid = (why: string, realm = 'sluice'): string => `Bearer realm="${realm}", error="invalid_token", error_description="${why}"`

t.test('jwt', async (t) => {
  t.test('HS256: a valid token passes; claims reach the backend as headers, spoofed ones do not', async (t) => {
    const tok = token('HS256', SECRET, claims({ role: 'admin', groups: ['dev', 'ops'] }))
    const r = await get('jwt-hs', '/jwt/hs', { ...bearer(tok), 'x-user': 'mallory' })
    t.equal(r.status, 200)
    const e = echo(r)
    t.equal(e.headers['x-user'], 'alice', 'sub → x-user, overwriting what the client sent')
    t.equal(e.headers['x-role'], 'admin')
    t.equal(e.headers['x-groups'], 'dev,ops', 'a list claim is joined with commas')
    t.equal(e.headers.authorization, `Bearer ${tok}`, 'forwardToken defaults to true')

    // a valid token without the role claim: the client's own x-role must not get through
    const r2 = await get('jwt-hs', '/jwt/hs-spoof', { ...bearer(token('HS256', SECRET, claims())), 'x-role': 'admin', 'x-groups': 'root' })
    t.equal(r2.status, 200)
    t.equal(echo(r2).headers['x-role'], undefined, 'a claim header the token does not back is removed')
    t.equal(echo(r2).headers['x-groups'], undefined)
  })

  t.test('HS256: expired, wrong issuer, wrong audience, bad signature, alg none: 401 invalid_token', async (t) => {
    const cases: [string, string, string][] = [
      ['expired', token('HS256', SECRET, claims({ iat: now() - 7200, exp: now() - 3600 })), 'token expired'],
      ['not yet valid', token('HS256', SECRET, claims({ nbf: now() + 3600 })), 'token not yet valid'],
      ['wrong issuer', token('HS256', SECRET, claims({ iss: 'https://evil.example' })), 'issuer not allowed'],
      ['wrong audience', token('HS256', SECRET, claims({ aud: 'other-api' })), 'audience not allowed'],
      ['audience list without ours', token('HS256', SECRET, claims({ aud: ['a', 'b'] })), 'audience not allowed'],
      ['bad signature', token('HS256', `${SECRET}-but-another`, claims()), 'invalid signature'],
      ['alg none', token('none', '', claims()), 'algorithm not allowed'],
      ['an ES256 token where only an HS256 key is configured', token('ES256', es.privateKey, claims()), 'no key matches the token'],
      ['malformed', 'not.a-token', 'malformed token'],
    ]
    for (const [i, [name, tok, why]] of cases.entries()) {
      const r = await get('jwt-hs', `/jwt/bad${i}`, bearer(tok))
      t.equal(r.status, 401, name)
      t.equal(r.headers['www-authenticate'], invalid(why, 'api'), name)
      t.equal(reached(`/jwt/bad${i}`), 0, `${name}: the backend never sees it`)
    }
    const missing = await get('jwt-hs', '/jwt/missing')
    t.equal(missing.status, 401)
    t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"', 'no token: a challenge without an error')
    t.equal(reached('/jwt/missing'), 0)
  })

  t.test('ES256 with the public key from a PEM file next to the config', async (t) => {
    const ok = await get('jwt-es', '/jwt/es', bearer(token('ES256', es.privateKey, claims({ role: 'reader' }))))
    t.equal(ok.status, 200)
    t.equal(echo(ok).headers['x-user'], 'alice')
    t.equal(echo(ok).headers['x-role'], 'reader')

    const forged = await get('jwt-es', '/jwt/es-forged', bearer(token('ES256', otherEs.privateKey, claims())))
    t.equal(forged.status, 401)
    t.equal(forged.headers['www-authenticate'], invalid('invalid signature'))
    const expired = await get('jwt-es', '/jwt/es-expired', bearer(token('ES256', es.privateKey, claims({ exp: now() - 3600 }))))
    t.equal(expired.status, 401)
    t.equal(expired.headers['www-authenticate'], invalid('token expired'))
    // HS256 signed with the *public* key's PEM as the secret: the classic key-confusion attack
    const pem = es.publicKey.export({ type: 'spki', format: 'pem' }) as string
    const confused = await get('jwt-es', '/jwt/es-confused', bearer(token('HS256', pem, claims())))
    t.equal(confused.status, 401, 'an EC key never verifies an HMAC token')
    t.equal(reached('/jwt/es-forged') + reached('/jwt/es-expired') + reached('/jwt/es-confused'), 0)
  })

  t.test('a JWKS file: keys picked by kid (ES256 and RS256); an unknown kid is refused', async (t) => {
    for (const [kid, alg, key] of [['k-es', 'ES256', jwksEs.privateKey], ['k-rsa', 'RS256', jwksRsa.privateKey]] as const) {
      const r = await get('jwt-jwks', `/jwks/${kid}`, bearer(token(alg, key, claims({ sub: `user-${kid}` }), kid)))
      t.equal(r.status, 200, kid)
      t.equal(echo(r).headers['x-user'], `user-${kid}`)
    }
    const wrongKid = await get('jwt-jwks', '/jwks/wrong-kid', bearer(token('ES256', jwksEs.privateKey, claims(), 'k-unknown')))
    t.equal(wrongKid.status, 401)
    t.equal(wrongKid.headers['www-authenticate'], invalid('no key matches the token'))
    // the right kid, the wrong private key
    const swapped = await get('jwt-jwks', '/jwks/swapped', bearer(token('ES256', otherEs.privateKey, claims(), 'k-es')))
    t.equal(swapped.status, 401)
    t.equal(swapped.headers['www-authenticate'], invalid('invalid signature'))
    const issuer = await get('jwt-jwks', '/jwks/issuer', bearer(token('RS256', jwksRsa.privateKey, claims({ iss: 'nope' }), 'k-rsa')))
    t.equal(issuer.status, 401)
    t.equal(issuer.headers['www-authenticate'], invalid('issuer not allowed'))
    t.equal(reached('/jwks/wrong-kid') + reached('/jwks/swapped') + reached('/jwks/issuer'), 0)
  })

  t.test('a JWKS over HTTPS (private CA): valid tokens pass; forged, none, confused and unknown kids do not', async (t) => {
    const ok = await get('jwt-remote', '/remote/ok', bearer(token('RS256', jwksRsa.privateKey, claims(), 'k-rsa')))
    t.equal(ok.status, 200)
    const rsaJwk = JSON.stringify(jwks.keys[1])
    const cases: [string, string, string][] = [
      ['forged', token('ES256', otherEs.privateKey, claims(), 'k-es'), 'invalid signature'],
      ['alg none with a known kid', token('none', '', claims(), 'k-rsa'), 'algorithm not allowed'],
      ['HS256 keyed with the public JWK', token('HS256', rsaJwk, claims(), 'k-rsa'), 'no key matches the token'],
      ['an unknown kid', token('RS256', jwksRsa.privateKey, claims(), 'k-new'), 'no key matches the token'],
      ['wrong audience', token('RS256', jwksRsa.privateKey, claims({ aud: 'other' }), 'k-rsa'), 'audience not allowed'],
    ]
    for (const [i, [name, tok, why]] of cases.entries()) {
      const r = await get('jwt-remote', `/remote/bad${i}`, bearer(tok))
      t.equal(r.status, 401, name)
      t.equal(r.headers['www-authenticate'], invalid(why), name)
      t.equal(reached(`/remote/bad${i}`), 0)
    }
    t.equal(jwksFetches, 1, 'one fetch: the unknown kid is within the cooldown of the first load')
  })
})

// --- ip-filter ------------------------------------------------------------------------------

t.test('ip-filter', async (t) => {
  t.test('deny 127.0.0.1/8: 403 at the gateway', async (t) => {
    const r = await get('ip-deny', '/ip/deny')
    t.equal(r.status, 403)
    t.equal(r.body, 'Forbidden\n')
    t.equal(reached('/ip/deny'), 0)
  })

  t.test('allow 127.0.0.0/8: 200; an allow list without us: 403', async (t) => {
    const ok = await get('ip-allow', '/ip/allow')
    t.equal(ok.status, 200)
    t.equal(echo(ok).url, '/ip/allow')
    const no = await get('ip-elsewhere', '/ip/elsewhere')
    t.equal(no.status, 403)
    t.equal(reached('/ip/elsewhere'), 0)
  })

  t.test('trustedHops: 1 reads the rightmost X-Forwarded-For entry', async (t) => {
    const cases: [string | undefined, number, string][] = [
      ['203.0.113.7', 200, 'the client the proxy saw is allowed'],
      ['198.51.100.1, 203.0.113.7', 200, 'entries left of the trusted hop are ignored'],
      ['203.0.113.7, 198.51.100.9', 403, 'a client cannot smuggle an allowed address in front'],
      ['203.0.113.66', 403, 'deny wins over allow'],
      [undefined, 403, 'no header: the TCP peer (127.0.0.1) is not allowed'],
      ['not-an-ip', 403, 'an unreadable address fails closed'],
    ]
    for (const [i, [xff, status, why]] of cases.entries()) {
      const r = await get('ip-xff', `/ip/xff${i}`, xff === undefined ? {} : { 'x-forwarded-for': xff })
      t.equal(r.status, status, why)
      t.equal(reached(`/ip/xff${i}`), status === 200 ? 1 : 0)
    }
  })
})

// --- ext-authz ------------------------------------------------------------------------------

t.test('ext-authz', async (t) => {
  t.test('allow: the check sees the request; allowed headers from the answer reach the backend', async (t) => {
    checks.length = 0
    const r = await get('authz', '/allow/x?q=1', { authorization: 'Bearer opaque', cookie: 'sid=1', 'x-secret': 'keep-me-here', 'x-auth-user': 'mallory' })
    t.equal(r.status, 200)
    t.equal(checks.length, 1, 'one check per request')
    const c = checks[0]!
    t.equal(c.method, 'GET')
    t.equal(c.url, '/check/allow/x?q=1', 'pathPrefix + the original path and query')
    t.equal(c.headers.authorization, 'Bearer opaque')
    t.equal(c.headers.cookie, 'sid=1')
    t.equal(c.headers['x-forwarded-host'], hostOf('authz'), 'the host the client asked for')
    t.equal(c.headers['x-secret'], undefined, 'headers outside allowedRequestHeaders are not sent to the service')
    const e = echo(r)
    t.equal(e.url, '/allow/x?q=1')
    t.equal(e.headers['x-auth-user'], 'alice', 'copied from the allowing answer, overwriting the client value')
    t.equal(e.headers['x-auth-internal'], undefined, 'headers outside allowedUpstreamHeaders are not copied')
    t.equal(e.headers['x-secret'], 'keep-me-here', 'the upstream request itself is untouched')
  })

  t.test('deny: the service answer (status, body, headers) goes to the client; the backend is not reached', async (t) => {
    checks.length = 0
    const r = await get('authz', '/deny/x', {}, 'DELETE')
    t.equal(r.status, 403)
    t.equal(r.body, 'denied by policy\n')
    t.equal(r.headers['x-deny-reason'], 'policy')
    t.equal(checks.length, 1)
    t.equal(checks[0]!.method, 'DELETE', 'the check uses the original method')
    t.equal(reached('/deny/x'), 0)
  })

  t.test('the authorization service is down: 403, the backend is not reached', async (t) => {
    const r = await get('authz-down', '/authz/down')
    t.equal(r.status, 403)
    t.equal(reached('/authz/down'), 0)
    // The log line is written by the child process a moment after the answer.
    t.ok(await eventually(() => /ext-authz: check failed/.test(s.logs()), 3000), 'the failed check is logged')
  })

  t.test('down with failureModeAllow: the request goes through', async (t) => {
    const r = await get('authz-open', '/authz/open')
    t.equal(r.status, 200)
    t.equal(echo(r).url, '/authz/open')
    t.equal(reached('/authz/open'), 1)
  })
})

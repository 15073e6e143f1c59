// jwt: verifies a bearer JWT (HS*, RS*, PS*, ES*, EdDSA) against configured keys and/or a JWKS,
// checks exp/nbf/iss/aud and required claims, and can pass claims to the upstream as headers.
// Failures answer 401 with an RFC 6750 WWW-Authenticate challenge.
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import type { KeyObject } from 'node:crypto'
import type { ConfigIssue, LocalResponse, PluginContext, PluginInstance, RequestContext } from '../api.ts'
import { definePlugin } from '../api.ts'
import { array, boolean, duration, object, record, string, validator } from '../schema.ts'
import { jwksFor, type Jwks } from './jwt-jwks.ts'
import { ALGORITHMS, makeKey, parsePem, parseSecret, verifySignature, type VerifyKey } from './jwt-keys.ts'
import { checkClaims, claimHeaderValue, decodeToken, extractToken, type ClaimRules, type Token, type TokenSources } from './jwt-token.ts'

const keyField = object({
  /** matched against the token's `kid`; a key without one is tried for any kid */
  kid: string({ default: '' }),
  /** narrow the key to one algorithm; '' allows every algorithm of its type */
  alg: string({ default: '' }),
  secret: string({ default: '', secret: true }),
  secretEncoding: string({ default: 'utf8', enum: ['utf8', 'base64', 'base64url'] }),
  pem: string({ default: '', secret: true }),
  /** a PEM file, relative to the config file's directory */
  file: string({ default: '' }),
})

const schema = object({
  realm: string({ default: 'sluice' }),
  header: string({ default: 'authorization' }),
  queryParam: string({ default: '' }),
  cookie: string({ default: '' }),
  keys: array(keyField, { default: [] }),
  jwks: object({
    url: string({ default: '' }),
    file: string({ default: '' }),
    ttl: duration({ default: 600_000 }),
    timeout: duration({ default: 5_000, min: 1 }),
    cooldown: duration({ default: 30_000 }),
  }, { optional: true }),
  /** allowed token algorithms; empty: any the keys fit ('none' never) */
  algorithms: array(string({ enum: ALGORITHMS }), { default: [] }),
  issuers: array(string({ nonEmpty: true }), { default: [] }),
  audiences: array(string({ nonEmpty: true }), { default: [] }),
  requiredClaims: array(string({ nonEmpty: true }), { default: [] }),
  clockSkew: duration({ default: 60_000 }),
  /** claim name → upstream header name; incoming headers of those names are always removed */
  claimsToHeaders: record(string(), { default: {} }),
  /** keep the token header on the upstream request */
  forwardToken: boolean({ default: true }),
  /** let requests without a token through (a present but bad token is still refused) */
  optional: boolean({ default: false }),
})

export type JwtConfig = ReturnType<typeof schema.parse>

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// RFC 6750 §3: quoted-string characters allowed in realm and error_description
const QUOTABLE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

function check(c: JwtConfig, issues: ConfigIssue[]): void {
  if (!QUOTABLE.test(c.realm)) issues.push({ path: 'realm', message: 'must be printable ASCII without " or \\' })
  for (const [p, v] of [['header', c.header], ['cookie', c.cookie]] as const) {
    if (v !== '' && !TOKEN.test(v)) issues.push({ path: p, message: `${JSON.stringify(v)} is not a valid ${p} name` })
  }
  if (c.header === '' && c.queryParam === '' && c.cookie === '') issues.push({ path: 'header', message: 'one of header, queryParam or cookie must be set' })
  c.keys.forEach((k, i) => checkKey(k, `keys[${i}]`, issues))
  const { url, file } = c.jwks
  if (url !== '' && file !== '') issues.push({ path: 'jwks', message: 'set url or file, not both' })
  if (url !== '' && !/^https?:\/\/[^/?#\s]+/.test(url)) issues.push({ path: 'jwks.url', message: `must be an http:// or https:// URL, got ${JSON.stringify(url)}` })
  if (c.keys.length === 0 && url === '' && file === '') issues.push({ path: 'keys', message: 'needs at least one key, or jwks.url or jwks.file' })
  for (const [claim, header] of Object.entries(c.claimsToHeaders)) {
    if (!TOKEN.test(header)) issues.push({ path: `claimsToHeaders.${claim}`, message: `${JSON.stringify(header)} is not a valid header name` })
  }
}

function checkKey(k: JwtConfig['keys'][number], path: string, issues: ConfigIssue[]): void {
  const given = [k.secret, k.pem, k.file].filter((v) => v !== '').length
  if (given !== 1) {
    issues.push({ path, message: 'needs exactly one of secret, pem or file' })
    return
  }
  if (k.alg !== '' && !(ALGORITHMS as readonly string[]).includes(k.alg)) {
    issues.push({ path: `${path}.alg`, message: `must be one of ${ALGORITHMS.join(', ')}, got ${JSON.stringify(k.alg)}` })
    return
  }
  if (k.file !== '') return // read in create(), which knows the config's directory
  const key = k.secret !== '' ? parseSecret(k.secret, k.secretEncoding) : parsePem(k.pem)
  if (typeof key === 'string') {
    issues.push({ path: `${path}.${k.secret !== '' ? 'secret' : 'pem'}`, message: key })
    return
  }
  const made = makeKey(k.kid, key, k.alg)
  if (typeof made === 'string') issues.push({ path: `${path}.alg`, message: made })
}

/** Build the verification keys; file keys are read here, relative to `baseDir`. */
function loadKeys(c: JwtConfig, ctx: PluginContext): VerifyKey[] {
  return c.keys.map((k, i) => {
    const path = `keys[${i}]`
    let key: KeyObject | string
    if (k.secret !== '') key = parseSecret(k.secret, k.secretEncoding)
    else if (k.pem !== '') key = parsePem(k.pem)
    else {
      const file = isAbsolute(k.file) ? k.file : resolve(ctx.baseDir, k.file)
      let text: string
      try {
        text = readFileSync(file, 'utf8')
      } catch (err) {
        throw new Error(`${path}.file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
      }
      key = parsePem(text)
      if (typeof key === 'string') throw new Error(`${path}.file: ${file} is ${key.replace(/^is /, '')}`)
    }
    if (typeof key === 'string') throw new Error(`${path}: ${key}`)
    // RFC 7518 §3.2: an HMAC key shorter than the hash is guessable; allowed, but worth a warning
    if (key.type === 'secret' && (key.symmetricKeySize ?? 0) < 32) ctx.log.warn('jwt: shared secret shorter than 32 bytes', { key: path, route: `${ctx.route.namespace}/${ctx.route.name}` })
    const made = makeKey(k.kid, key, k.alg)
    if (typeof made === 'string') throw new Error(`${path}.alg: ${made}`)
    return made
  })
}

const PLAIN = 'text/plain; charset=utf-8'

class JwtInstance implements PluginInstance {
  private readonly keys: readonly VerifyKey[]
  private readonly jwks: Jwks | null
  private readonly algorithms: ReadonlySet<string>
  private readonly sources: TokenSources
  private readonly rules: ClaimRules
  private readonly claimHeaders: readonly (readonly [claim: string, header: string])[]
  private readonly forwardToken: boolean
  private readonly optional: boolean
  private readonly realm: string
  private readonly missing: LocalResponse
  // one prebuilt 401 per error text: the texts are fixed strings, so this stays small
  private readonly rejections = new Map<string, LocalResponse>()

  constructor(c: JwtConfig, keys: VerifyKey[], jwks: Jwks | null) {
    this.keys = keys
    this.jwks = jwks
    this.algorithms = new Set(c.algorithms.length > 0 ? c.algorithms : ALGORITHMS)
    this.sources = { header: c.header.toLowerCase(), queryParam: c.queryParam, cookie: c.cookie }
    this.rules = {
      issuers: c.issuers.length > 0 ? new Set(c.issuers) : null,
      audiences: c.audiences.length > 0 ? new Set(c.audiences) : null,
      required: c.requiredClaims,
      skew: c.clockSkew / 1000,
    }
    this.claimHeaders = Object.entries(c.claimsToHeaders).map(([claim, header]) => [claim, header.toLowerCase()] as const)
    this.forwardToken = c.forwardToken
    this.optional = c.optional
    this.realm = c.realm
    this.missing = Object.freeze({ status: 401, headers: { 'www-authenticate': `Bearer realm="${c.realm}"`, 'content-type': PLAIN }, body: 'Unauthorized\n' })
  }

  onRequest(ctx: RequestContext): LocalResponse | undefined | Promise<LocalResponse | undefined> {
    // a client must never be able to send what looks like a verified claim
    for (const [, header] of this.claimHeaders) ctx.requestHeaders.remove(header)
    const raw = extractToken(ctx.requestHeaders, ctx.url, this.sources)
    if (raw === null) return this.optional ? undefined : this.missing
    const token = decodeToken(raw)
    if (typeof token === 'string') return this.reject(token)
    // 'none' is not in ALGORITHMS, so it can never be allowed
    if (!this.algorithms.has(token.alg)) return this.reject('algorithm not allowed')
    const now = Date.now()
    const found = this.verify(token, now)
    if (found === 'nokey' && this.jwks !== null) {
      // an unknown kid may be a rotated key: reload once (shared and rate-limited), then retry
      return this.jwks.refresh(now).then(() => this.finish(ctx, token, this.verify(token, Date.now())))
    }
    return this.finish(ctx, token, found)
  }

  private verify(t: Token, now: number): 'ok' | 'nokey' | 'bad' {
    const a = this.tryKeys(this.keys, t)
    if (a !== 'nokey' || this.jwks === null) return a
    return this.tryKeys(this.jwks.current(now), t)
  }

  private tryKeys(keys: readonly VerifyKey[], t: Token): 'ok' | 'nokey' | 'bad' {
    let tried = false
    for (const k of keys) {
      if (!k.algs.has(t.alg) || (t.kid !== '' && k.kid !== '' && k.kid !== t.kid)) continue
      if (verifySignature(t.alg, k.key, t.data, t.sig)) return 'ok'
      tried = true
    }
    return tried ? 'bad' : 'nokey'
  }

  private finish(ctx: RequestContext, t: Token, found: 'ok' | 'nokey' | 'bad'): LocalResponse | undefined {
    if (found === 'nokey') return this.reject(this.jwks !== null && !this.jwks.loaded ? 'signing keys unavailable' : 'no key matches the token')
    if (found === 'bad') return this.reject('invalid signature')
    const problem = checkClaims(t.payload, this.rules, Date.now() / 1000)
    if (problem !== null) return this.reject(problem)
    const headers = ctx.requestHeaders
    for (const [claim, header] of this.claimHeaders) {
      const v = claimHeaderValue(t.payload[claim])
      if (v !== null) headers.set(header, v)
    }
    if (!this.forwardToken && this.sources.header !== '') headers.remove(this.sources.header)
    ctx.state.set('jwt', t.payload)
    return undefined
  }

  private reject(description: string): LocalResponse {
    let r = this.rejections.get(description)
    if (r === undefined) {
      r = Object.freeze({
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="${this.realm}", error="invalid_token", error_description="${description}"`, 'content-type': PLAIN },
        body: 'Unauthorized\n',
      })
      this.rejections.set(description, r)
    }
    return r
  }
}

export default definePlugin<JwtConfig>({
  name: 'jwt',
  priority: 1005,
  validate: validator(schema, check),
  create(config, ctx) {
    const keys = loadKeys(config, ctx)
    const { url, file } = config.jwks
    let jwks: Jwks | null = null
    if (url !== '' || file !== '') {
      const path = file === '' ? '' : isAbsolute(file) ? file : resolve(ctx.baseDir, file)
      try {
        jwks = jwksFor({ ...config.jwks, file: path }, ctx.log)
      } catch (err) {
        throw new Error(`jwks.file: cannot load ${path}: ${(err as Error).message}`)
      }
    }
    return new JwtInstance(config, keys, jwks)
  },
})

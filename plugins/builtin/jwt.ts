// jwt: verifies a bearer JWT (HS*, RS*, PS*, ES*, EdDSA) with jose against configured keys and/or
// a JWKS, checks exp/nbf/iss/aud and required claims, and can pass claims to the upstream as
// headers. Failures answer 401 with an RFC 6750 WWW-Authenticate challenge.
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import type { KeyObject } from 'node:crypto'
import { decodeProtectedHeader, type JWTPayload, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose'
import type { ConfigIssue, LocalResponse, Plugin, PluginContext, PluginInstance, RequestContext } from '../api.ts'
import { definePlugin } from '../api.ts'
import { array, boolean, duration, object, record, string, validator } from '../schema.ts'
import { JwksCache, type Clock, type Jwks } from './jwt-jwks.ts'
import { ALGORITHMS, makeKey, parsePem, parseSecret, type VerifyKey } from './jwt-keys.ts'
import { claimHeaderValue, extractToken, type TokenSources } from './jwt-request.ts'
import { BAD_SIGNATURE, MALFORMED, NO_KEY, nullClaim, payloadMalformed, verifyWith, type Verdict } from './jwt-verify.ts'

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
    /** PEM CA bundle to trust for jwks.url (a private CA), relative to the config file's directory */
    caFile: string({ default: '' }),
  }, { optional: true }),
  /** accept an http:// jwks.url: the keys then travel unauthenticated, so anyone on the path can swap them */
  allowInsecureJwks: boolean({ default: false }),
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
  const parsed = url === '' ? null : URL.parse(url)
  if (url !== '' && (parsed === null || !/^https?:$/.test(parsed.protocol) || parsed.hostname === '')) {
    issues.push({ path: 'jwks.url', message: `must be an https:// URL, got ${JSON.stringify(url)}` })
  } else if (parsed?.protocol === 'http:' && !c.allowInsecureJwks && file === '') {
    issues.push({
      path: 'jwks.url',
      message: 'http:// sends the signing keys unauthenticated, so anyone on the path can replace them and forge tokens; ' +
        'use https:// (jwks.caFile trusts a private CA), or set allowInsecureJwks: true for a key server on loopback or a trusted network',
    })
  }
  if (c.jwks.caFile !== '' && url === '') issues.push({ path: 'jwks.caFile', message: 'only used with jwks.url; remove it or set jwks.url' })
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
      const file = fromBase(ctx, k.file)
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

const fromBase = (ctx: PluginContext, file: string): string => isAbsolute(file) ? file : resolve(ctx.baseDir, file)

const PLAIN = 'text/plain; charset=utf-8'

interface JwtDeps {
  readonly keys: VerifyKey[]
  readonly jwks: Jwks | null
  readonly cache: JwksCache
  readonly clock: Clock
}

class JwtInstance implements PluginInstance {
  readonly #keys: readonly VerifyKey[]
  readonly #jwks: Jwks | null
  readonly #cache: JwksCache
  readonly #clock: Clock
  readonly #algorithms: ReadonlySet<string>
  readonly #sources: TokenSources
  /** jwtVerify's options but the current date, which each request sets */
  readonly #options: JWTVerifyOptions
  readonly #required: readonly string[]
  readonly #requiredSet: ReadonlySet<string>
  readonly #claimHeaders: readonly (readonly [claim: string, header: string])[]
  readonly #forwardToken: boolean
  readonly #optional: boolean
  readonly #realm: string
  readonly #missing: LocalResponse
  // one prebuilt 401 per error text: the texts are fixed strings, so this stays small
  readonly #rejections = new Map<string, LocalResponse>()

  constructor(c: JwtConfig, deps: JwtDeps) {
    this.#keys = deps.keys
    this.#jwks = deps.jwks
    this.#cache = deps.cache
    this.#clock = deps.clock
    const algorithms = c.algorithms.length > 0 ? c.algorithms : [...ALGORITHMS]
    this.#algorithms = new Set(algorithms)
    this.#sources = { header: c.header.toLowerCase(), queryParam: c.queryParam, cookie: c.cookie }
    this.#required = c.requiredClaims
    this.#requiredSet = new Set(c.requiredClaims)
    this.#options = Object.freeze({
      algorithms,
      ...(c.issuers.length > 0 ? { issuer: c.issuers } : {}),
      ...(c.audiences.length > 0 ? { audience: c.audiences } : {}),
      requiredClaims: c.requiredClaims,
      clockTolerance: c.clockSkew / 1000,
    })
    this.#claimHeaders = Object.entries(c.claimsToHeaders).map(([claim, header]) => [claim, header.toLowerCase()] as const)
    this.#forwardToken = c.forwardToken
    this.#optional = c.optional
    this.#realm = c.realm
    this.#missing = Object.freeze({ status: 401, headers: { 'www-authenticate': `Bearer realm="${c.realm}"`, 'content-type': PLAIN }, body: 'Unauthorized\n' })
  }

  onRequest(ctx: RequestContext): LocalResponse | undefined | Promise<LocalResponse | undefined> {
    // a client must never be able to send what looks like a verified claim
    for (const [, header] of this.#claimHeaders) ctx.requestHeaders.remove(header)
    const raw = extractToken(ctx.requestHeaders, ctx.url, this.#sources)
    if (raw === null) return this.#optional ? undefined : this.#missing
    let header: ProtectedHeaderParameters
    try {
      header = decodeProtectedHeader(raw)
    } catch {
      return this.#reject(raw, MALFORMED)
    }
    const alg = header.alg
    if (typeof alg !== 'string') return this.#reject(raw, MALFORMED)
    // RFC 7515 §4.1.11: extensions we do not understand must make the token invalid
    if (header.crit !== undefined) return this.#reject(raw, 'unsupported token header')
    // 'none' is not in ALGORITHMS, so it can never be allowed
    if (!this.#algorithms.has(alg)) return this.#reject(raw, 'algorithm not allowed')
    return this.#verify(ctx, raw, alg, typeof header.kid === 'string' ? header.kid : '')
  }

  async #verify(ctx: RequestContext, raw: string, alg: string, kid: string): Promise<LocalResponse | undefined> {
    const opts: JWTVerifyOptions = { ...this.#options, currentDate: new Date(this.#clock()) }
    let verdict: Verdict = NO_KEY
    // configured keys: the token's alg must fit the key's type, and kids must agree when both have one
    for (const k of this.#keys) {
      if (!k.algs.has(alg) || (kid !== '' && k.kid !== '' && k.kid !== kid)) continue
      verdict = await verifyWith(raw, k.forAlg.get(alg)!, opts, this.#requiredSet)
      if (verdict !== BAD_SIGNATURE) break
    }
    if (verdict === NO_KEY && this.#jwks !== null) verdict = await this.#verifyWithJwks(this.#jwks, raw, opts)
    if (typeof verdict === 'string') return this.#reject(raw, verdict)
    return this.#accept(ctx, verdict)
  }

  async #verifyWithJwks(jwks: Jwks, raw: string, opts: JWTVerifyOptions): Promise<Verdict> {
    // the first load (or one after failures, outside the cooldown); bounded by jwks.timeout
    if (!jwks.loaded) await jwks.refresh()
    const keys = jwks.current()
    if (keys === null) return 'signing keys unavailable'
    const verdict = await verifyWith(raw, keys, opts, this.#requiredSet)
    if (verdict !== NO_KEY) return verdict
    // an unknown kid may be a rotated key: reload once (shared and rate-limited), then retry
    await jwks.refresh()
    return verifyWith(raw, jwks.current() ?? keys, opts, this.#requiredSet)
  }

  #accept(ctx: RequestContext, payload: JWTPayload): LocalResponse | undefined {
    const nul = nullClaim(payload, this.#required)
    if (nul !== null) return this.#rejection(`missing claim ${nul}`)
    const headers = ctx.requestHeaders
    for (const [claim, header] of this.#claimHeaders) {
      const v = claimHeaderValue(payload[claim])
      if (v !== null) headers.set(header, v)
    }
    if (!this.#forwardToken && this.#sources.header !== '') headers.remove(this.#sources.header)
    ctx.state.set('jwt', payload)
    return undefined
  }

  /** A token whose payload is not a JSON object is "malformed", whatever else is wrong with it. */
  #reject(raw: string, why: string): LocalResponse {
    return this.#rejection(why !== MALFORMED && payloadMalformed(raw) ? MALFORMED : why)
  }

  #rejection(description: string): LocalResponse {
    let r = this.#rejections.get(description)
    if (r === undefined) {
      r = Object.freeze({
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="${this.#realm}", error="invalid_token", error_description="${description}"`, 'content-type': PLAIN },
        body: 'Unauthorized\n',
      })
      this.#rejections.set(description, r)
    }
    return r
  }

  close(): void {
    if (this.#jwks !== null) this.#cache.release(this.#jwks)
  }
}

export interface JwtPluginOptions {
  /** the time in ms, for exp/nbf and the JWKS TTL and cooldown (tests inject one); Date.now by default */
  readonly clock?: Clock
}

/** The jwt plugin; each call has its own JWKS cache and clock (the built-in one is the default export). */
export function jwtPlugin(opts: JwtPluginOptions = {}): Plugin<JwtConfig> {
  const clock = opts.clock ?? Date.now
  const cache = new JwksCache(clock)
  return definePlugin<JwtConfig>({
    name: 'jwt',
    priority: 1005,
    validate: validator(schema, check),
    create(config, ctx) {
      const keys = loadKeys(config, ctx)
      const { url, file, caFile } = config.jwks
      let jwks: Jwks | null = null
      if (url !== '' || file !== '') {
        let ca = ''
        if (caFile !== '') {
          const path = fromBase(ctx, caFile)
          try {
            ca = readFileSync(path, 'utf8')
          } catch (err) {
            throw new Error(`jwks.caFile: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
          }
        }
        const path = file === '' ? '' : fromBase(ctx, file)
        try {
          jwks = cache.acquire({ url, file: path, ttl: config.jwks.ttl, timeout: config.jwks.timeout, cooldown: config.jwks.cooldown, ca }, ctx.log)
        } catch (err) {
          throw new Error(`jwks.file: cannot load ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
        }
      }
      return new JwtInstance(config, { keys, jwks, cache, clock })
    },
  })
}

export default jwtPlugin()

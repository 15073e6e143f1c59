// HTTP Basic authentication (RFC 7617) against a fixed user list. Passwords are stored as bcrypt,
// scrypt or argon2 hashes (formats in basic-auth-hashes.ts); a plain password is accepted only from
// a Secret ({secretKeyRef: {name, key}}), never written inline. Slow hashes are verified
// asynchronously, at most a few at a time per process (basic-auth-limit.ts), and a verified
// user:password is remembered briefly in a bounded LRU keyed by a keyed digest of the credentials
// (never the plaintext), so a client sending the same credentials pays the hash once per `cacheTtl`.
// An unknown user is verified against a configured user's hash, so timing does not tell users apart.
import { createHmac, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { definePlugin } from '../api.ts'
import type { LocalResponse, PluginInstance, RequestContext } from '../api.ts'
import { boolean, duration, object, record, secret, string, validator } from '../schema.ts'
import type { Field } from '../schema.ts'
import { SecretValue } from '../secret-value.ts'
import { parseHash, PlainDigest, verify, type Stored } from './basic-auth-hashes.ts'
import { slowVerifications } from './basic-auth-limit.ts'

const CREDENTIAL = 'a password hash (bcrypt, scrypt or argon2) or {secretKeyRef: {name, key}}'

function credential(): Field<string | SecretValue> {
  return {
    description: CREDENTIAL,
    parse(raw, path, issues) {
      if (raw instanceof SecretValue) return raw
      if (typeof raw !== 'string') {
        issues.push({ path, message: raw === undefined || raw === null ? `required: ${CREDENTIAL}` : `must be ${CREDENTIAL}` })
        return ''
      }
      const h = parseHash(raw)
      if (typeof h === 'string') issues.push({ path, message: h })
      else if (h === undefined) {
        issues.push({
          path,
          message: 'a plain password cannot be written in the config (whoever reads the file or the admin API would see it): ' +
            "write a hash (`htpasswd -nbB USER 'PASSWORD'` prints a bcrypt one after \"USER:\") " +
            'or keep the password in a Secret and write {secretKeyRef: {name: SECRET, key: KEY}}',
        })
      }
      return raw
    },
  }
}

function users(): Field<Record<string, string | SecretValue>> {
  const base = record(credential())
  return {
    description: base.description,
    parse(raw, path, issues) {
      const out = base.parse(raw, path, issues)
      const names = Object.keys(out)
      if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && names.length === 0) issues.push({ path, message: 'needs at least one user' })
      for (const n of names) {
        // the user-pass string is split at the first colon, so a name cannot hold one
        if (n === '' || n.includes(':')) issues.push({ path: `${path}.${n}`, message: `${JSON.stringify(n)} is not a user name (empty or has a colon)` })
      }
      return out
    },
  }
}

function realm(): Field<string> {
  const base = string({ default: 'sluice' })
  return {
    description: 'a realm',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      // it is sent inside a quoted string
      if (/["\\\x00-\x1f\x7f]/.test(s)) issues.push({ path, message: 'cannot hold quotes, backslashes or control characters' })
      return s
    },
  }
}

const schema = object({
  /** user name → password or hash; the values are secret (redacted in /debug/resources) */
  users: secret(users()),
  realm: realm(),
  /** remove Authorization before the request goes upstream */
  hideCredentials: boolean({ default: true }),
  /** how long verified credentials are remembered (0: verify every request) */
  cacheTtl: duration({ default: 60_000 }),
})

export type BasicAuthConfig = ReturnType<typeof schema.parse>

/** verified credentials remembered per route */
const CACHE_ENTRIES = 1000

/** A Secret's value is a hash when it reads as one, else the password itself. */
function stored(v: string | SecretValue, plain: PlainDigest): Stored {
  if (!(v instanceof SecretValue)) return parseHash(v) as Stored // validate() accepted only hashes
  const text = v.reveal()
  const h = parseHash(text)
  return typeof h === 'object' ? h : { kind: 'plain', digest: plain.of(text) }
}

class BasicAuthInstance implements PluginInstance {
  readonly #users = new Map<string, Stored>()
  /** what an unknown user is verified against: a slow hash when there is one */
  readonly #decoy: Stored
  readonly #plain = new PlainDigest()
  readonly #cacheKey = randomBytes(32)
  readonly #cache: LRUCache<string, string> | null
  /** verifications under way by cache key: a client's parallel first requests share one */
  readonly #pending = new Map<string, Promise<string | null>>()
  readonly #hide: boolean
  readonly #refusal: LocalResponse
  readonly #busy: LocalResponse

  constructor(c: BasicAuthConfig) {
    for (const [user, v] of Object.entries(c.users)) this.#users.set(user, stored(v, this.#plain))
    const all = [...this.#users.values()]
    this.#decoy = all.find((s) => s.kind !== 'plain') ?? all[0]!
    this.#cache = c.cacheTtl > 0 ? new LRUCache({ max: CACHE_ENTRIES, ttl: c.cacheTtl }) : null
    this.#hide = c.hideCredentials
    this.#refusal = Object.freeze({ status: 401, headers: { 'www-authenticate': `Basic realm="${c.realm}"`, 'content-type': 'text/plain' }, body: 'Unauthorized\n' })
    // 429, not 401: the password was not checked, and a 401 would make browsers ask for it again
    this.#busy = Object.freeze({ status: 429, headers: { 'retry-after': '1', 'content-type': 'text/plain' }, body: 'Too Many Requests\n' })
  }

  onRequest(ctx: RequestContext): LocalResponse | undefined | Promise<LocalResponse | undefined> {
    const auth = ctx.requestHeaders.get('authorization')
    if (auth === undefined || auth.length < 7 || auth.slice(0, 6).toLowerCase() !== 'basic ') return this.#refusal
    const token = auth.slice(6).trim()
    const key = createHmac('sha256', this.#cacheKey).update(token).digest('base64')
    const known = this.#cache?.get(key)
    if (known !== undefined) return this.#pass(ctx, known)
    const pair = Buffer.from(token, 'base64').toString('utf8')
    const colon = pair.indexOf(':')
    if (colon <= 0) return this.#refusal
    const user = pair.slice(0, colon)
    const password = pair.slice(colon + 1)
    const entry = this.#users.get(user)
    const against = entry ?? this.#decoy
    if (against.kind === 'plain') return verify(against, password, this.#plain) === true && entry !== undefined ? this.#pass(ctx, user) : this.#refusal
    let pending = this.#pending.get(key)
    if (pending === undefined) {
      if (!slowVerifications.tryAcquire()) return this.#busy
      pending = this.#check(key, entry === undefined ? null : user, against, password)
    }
    return pending.then((u) => (u === null ? this.#refusal : this.#pass(ctx, u)))
  }

  /** Verify once (the caller holds a slot), remember a success; resolves to the user, or null. */
  #check(key: string, user: string | null, against: Stored, password: string): Promise<string | null> {
    // verify runs a microtask later, so `p` is registered before it can settle
    const p = Promise.resolve()
      .then(() => verify(against, password, this.#plain))
      .then((ok) => {
        if (!ok || user === null) return null
        this.#cache?.set(key, user)
        return user
      }, () => null)
      .finally(() => {
        slowVerifications.release()
        this.#pending.delete(key)
      })
    this.#pending.set(key, p)
    return p
  }

  #pass(ctx: RequestContext, user: string): undefined {
    ctx.state.set('basic-auth', user) // who logged in, for plugins that run later
    if (this.#hide) ctx.requestHeaders.remove('authorization')
    return undefined
  }
}

export default definePlugin<BasicAuthConfig>({
  name: 'basic-auth',
  priority: 1001,
  validate: validator(schema),
  create(c) {
    return new BasicAuthInstance(c)
  },
})

// HTTP Basic authentication (RFC 7617) against a fixed user list. Passwords are kept only as
// SHA-256 digests (plain ones are hashed at load), and every attempt hashes and compares in
// constant time, an unknown user against a dummy digest, so timing tells nothing about either.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto'
import { definePlugin } from '../api.ts'
import type { LocalResponse } from '../api.ts'
import { boolean, object, record, secret, string, validator } from '../schema.ts'
import type { Field } from '../schema.ts'

const HASHED = /^sha256:[0-9a-fA-F]{64}$/

function password(): Field<string> {
  const base = string()
  return {
    description: 'a password or "sha256:<hex>"',
    parse(raw, path, issues) {
      const s = base.parse(raw, path, issues)
      if (s.startsWith('sha256:') && !HASHED.test(s)) issues.push({ path, message: 'a hashed password must be "sha256:" and 64 hex digits' })
      return s
    },
  }
}

function users(): Field<Record<string, string>> {
  const base = record(password())
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
})

export type BasicAuthConfig = ReturnType<typeof schema.parse>

const sha256 = (s: string): Buffer => hash('sha256', s, 'buffer')

export default definePlugin<BasicAuthConfig>({
  name: 'basic-auth',
  priority: 1001,
  validate: validator(schema),
  create(c) {
    const digests = new Map<string, Buffer>()
    for (const [user, pw] of Object.entries(c.users)) {
      digests.set(user, HASHED.test(pw) ? Buffer.from(pw.slice(7), 'hex') : sha256(pw))
    }
    const dummy = randomBytes(32)
    const challenge = `Basic realm="${c.realm}"`
    const refuse = (): LocalResponse => ({
      status: 401,
      headers: { 'www-authenticate': challenge, 'content-type': 'text/plain' },
      body: 'Unauthorized\n',
    })

    return {
      onRequest(ctx) {
        const auth = ctx.requestHeaders.get('authorization')
        if (auth === undefined || auth.length < 7 || auth.slice(0, 6).toLowerCase() !== 'basic ') return refuse()
        const pair = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8')
        const colon = pair.indexOf(':')
        if (colon <= 0) return refuse()
        const user = pair.slice(0, colon)
        const want = digests.get(user)
        const same = timingSafeEqual(sha256(pair.slice(colon + 1)), want ?? dummy)
        if (!same || want === undefined) return refuse()
        ctx.state.set('basic-auth', user) // who logged in, for plugins that run later
        if (c.hideCredentials) ctx.requestHeaders.remove('authorization')
      },
    }
  },
})

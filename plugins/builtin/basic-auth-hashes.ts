// The password forms basic-auth stores, each parsed with one strict regexp and verified with a
// maintained implementation, comparing in constant time:
//   bcrypt  `$2y$10$<53 chars>` (also $2a$, $2b$): what `htpasswd -nbB user pass` prints after
//           "user:"; verified with bcryptjs (pure JS, on the main thread).
//   scrypt  `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`: the PHC-style string passlib writes;
//           salt and hash in base64 without padding ('.' may stand for '+', as in passlib);
//           ln 1–20, r 1–32, p 1–16, at most 256 MiB per verification; node:crypto scrypt (thread pool).
//   argon2  `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>` (also argon2i, argon2d): the PHC string
//           of the reference implementation, the argon2 CLI and node-argon2; argon2.verify (thread pool).
//   plain   only from a Secret: compared as keyed SHA-256 digests with timingSafeEqual.
// Unsalted digests (`sha256:…`, `{SHA}…`) and the weak crypt/MD5 forms are refused with a way out.
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import bcrypt from 'bcryptjs'
import argon2 from 'argon2'

export type Stored =
  | { readonly kind: 'bcrypt'; readonly hash: string }
  | { readonly kind: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'argon2'; readonly hash: string }
  | { readonly kind: 'plain'; readonly digest: Buffer }

const BCRYPT = /^\$2[aby]\$(?:0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/
const SCRYPT = /^\$scrypt\$ln=([1-9]|1\d|20),r=([1-9]|[12]\d|3[0-2]),p=([1-9]|1[0-6])\$([A-Za-z0-9+/.]{11,88})\$([A-Za-z0-9+/.]{22,172})$/
const ARGON2 = /^\$argon2(?:id|i|d)\$v=(?:16|19)\$([mtp]=\d{1,8}),([mtp]=\d{1,8}),([mtp]=\d{1,8})\$[A-Za-z0-9+/]{11,88}\$[A-Za-z0-9+/]{16,172}$/
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024
const ARGON2_MAX_KIB = 1024 * 1024

const HOW = "make a bcrypt hash with `htpasswd -nbB USER 'PASSWORD'` and write what follows \"USER:\", " +
  'or keep the password in a Secret and write {secretKeyRef: {name: SECRET, key: KEY}}'

/** A hash in one of the accepted forms, or why the text is not one (undefined: it is not a hash at all). */
export function parseHash(s: string): Stored | string | undefined {
  if (s.startsWith('$2')) return BCRYPT.test(s) ? { kind: 'bcrypt', hash: s } : 'not a valid bcrypt hash: expected $2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters'
  if (s.startsWith('$scrypt$')) return scryptHash(s)
  if (s.startsWith('$argon2')) return argon2Hash(s)
  if (/^sha256:/i.test(s)) return `unsalted SHA-256 digests are no longer accepted (they are fast to brute-force); ${HOW}`
  if (s.startsWith('{SHA}') || s.startsWith('$apr1$') || /^\$[156]\$/.test(s)) return `this htpasswd form (SHA-1, MD5 or crypt) is too weak to accept; ${HOW}`
  return undefined
}

function scryptHash(s: string): Stored | string {
  const m = SCRYPT.exec(s)
  const form = 'not a valid scrypt hash: expected $scrypt$ln=<1-20>,r=<1-32>,p=<1-16>$<salt>$<hash> (base64 without padding)'
  if (m === null) return form
  const N = 2 ** Number(m[1])
  const r = Number(m[2])
  const p = Number(m[3])
  if (128 * N * r > SCRYPT_MAX_MEMORY) return `scrypt ln=${m[1]},r=${r} needs ${(128 * N * r) >> 20} MiB per verification; at most ${SCRYPT_MAX_MEMORY >> 20} MiB are allowed`
  const salt = b64(m[4]!)
  const hash = b64(m[5]!)
  if (salt.length < 8 || hash.length < 16) return form
  return { kind: 'scrypt', N, r, p, salt, hash }
}

function argon2Hash(s: string): Stored | string {
  const m = ARGON2.exec(s)
  const form = 'not a valid argon2 hash: expected $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (base64 without padding)'
  if (m === null) return form
  const params = new Map(m.slice(1, 4).map((kv) => [kv[0]!, Number(kv.slice(2))]))
  if (params.size !== 3) return form // each of m, t and p exactly once
  if (params.get('m')! > ARGON2_MAX_KIB) return `argon2 m=${params.get('m')} KiB is more than the ${ARGON2_MAX_KIB} KiB allowed per verification`
  return { kind: 'argon2', hash: s }
}

// passlib writes '.' for '+'; Buffer's base64 decoder takes unpadded input
const b64 = (s: string): Buffer => Buffer.from(s.replaceAll('.', '+'), 'base64')

/** Keyed digests for plain passwords: the key is per instance, so equal passwords never compare across routes. */
export class PlainDigest {
  readonly #key = randomBytes(32)

  of(password: string): Buffer {
    return createHmac('sha256', this.#key).update(password).digest()
  }
}

/** Whether `password` matches `stored`. Plain compares at once; the slow forms return a promise. */
export function verify(stored: Stored, password: string, plain: PlainDigest): boolean | Promise<boolean> {
  switch (stored.kind) {
    case 'plain': return timingSafeEqual(plain.of(password), stored.digest)
    case 'bcrypt': return bcrypt.compare(password, stored.hash)
    case 'argon2': return argon2.verify(stored.hash, password).catch(() => false)
    case 'scrypt': return new Promise((resolve) => {
      const { N, r, p, salt, hash } = stored
      scrypt(password, salt, hash.length, { N, r, p, maxmem: 2 * 128 * N * r + (1 << 20) }, (err, derived) => {
        resolve(err === null && timingSafeEqual(derived, hash))
      })
    })
  }
}

// Verification keys for the jwt plugin: which algorithms a key may verify, parsing PEM and JWK
// keys, and checking a signature with node:crypto (no JWT library).
import { constants, createHmac, createPublicKey, createSecretKey, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto'

export const ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
] as const

export interface VerifyKey {
  /** '' when the key has no id */
  readonly kid: string
  /** the algorithms this key may verify: fixed by its type, narrowed by a configured or JWK `alg` */
  readonly algs: ReadonlySet<string>
  readonly key: KeyObject
}

const HMAC = ['HS256', 'HS384', 'HS512']
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const PSS = ['PS256', 'PS384', 'PS512']
// ES* fixes the curve as well as the hash (RFC 7518 §3.4)
const CURVES: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }
const HASH: Record<string, string> = { 256: 'sha256', 384: 'sha384', 512: 'sha512' }

/** The algorithms a key's type allows (so an RSA key can never verify an HS256 token, and so on). */
export function algorithmsFor(key: KeyObject): readonly string[] {
  if (key.type === 'secret') return HMAC
  switch (key.asymmetricKeyType) {
    case 'rsa': return RSA
    case 'rsa-pss': return PSS
    case 'ec': {
      const alg = CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']
      return alg === undefined ? [] : [alg]
    }
    case 'ed25519':
    case 'ed448': return ['EdDSA']
    default: return []
  }
}

/** A key with its allowed algorithms, or an error message when `alg` does not fit the key. */
export function makeKey(kid: string, key: KeyObject, alg: string): VerifyKey | string {
  const fits = algorithmsFor(key)
  if (fits.length === 0) return `unsupported key type ${key.asymmetricKeyType ?? key.type}`
  if (alg !== '' && !fits.includes(alg)) return `alg ${alg} does not fit this ${describe(key)} key (fits ${fits.join(', ')})`
  return { kid, key, algs: new Set(alg === '' ? fits : [alg]) }
}

function describe(key: KeyObject): string {
  if (key.type === 'secret') return 'shared secret'
  const curve = key.asymmetricKeyDetails?.namedCurve
  return curve === undefined ? (key.asymmetricKeyType ?? 'unknown').toUpperCase() : `EC ${curve}`
}

/** A public key from PEM text (SPKI, PKCS#1 or an X.509 certificate); private keys are refused. */
export function parsePem(pem: string): KeyObject | string {
  if (!pem.includes('-----BEGIN ')) return 'not a PEM public key'
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return 'is a private key; configure the public key'
  try {
    return createPublicKey(pem)
  } catch {
    return 'not a PEM public key'
  }
}

export function parseSecret(secret: string, encoding: string): KeyObject | string {
  const buf = Buffer.from(secret, encoding === 'base64' ? 'base64' : encoding === 'base64url' ? 'base64url' : 'utf8')
  if (buf.length === 0) return `not valid ${encoding}`
  return createSecretKey(buf)
}

/** One JWK from a key set; returns null for keys to skip (encryption keys, unknown types). */
export function parseJwk(jwk: unknown): VerifyKey | null {
  if (typeof jwk !== 'object' || jwk === null) return null
  const j = jwk as Record<string, unknown>
  if (j.use !== undefined && j.use !== 'sig') return null
  let key: KeyObject
  try {
    key = j.kty === 'oct' && typeof j.k === 'string'
      ? createSecretKey(Buffer.from(j.k, 'base64url'))
      : createPublicKey({ key: j as JsonWebKey, format: 'jwk' })
  } catch {
    return null
  }
  const alg = typeof j.alg === 'string' ? j.alg : ''
  const made = makeKey(typeof j.kid === 'string' ? j.kid : '', key, alg)
  return typeof made === 'string' ? null : made
}

/** Whether `sig` signs `data` under `alg` with `key`; never throws. */
export function verifySignature(alg: string, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    if (alg === 'EdDSA') return verify(null, data, key, sig)
    const hash = HASH[alg.slice(2)]
    switch (alg.charCodeAt(0)) {
      case 72: { // H: constant-time compare of the MAC
        const mac = createHmac(hash, key).update(data).digest()
        return mac.length === sig.length && timingSafeEqual(mac, sig)
      }
      case 82: return verify(hash, data, key, sig) // R
      case 80: return verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig) // P
      case 69: return verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig) // E: JWS uses r||s, not DER
      default: return false
    }
  } catch {
    return false
  }
}

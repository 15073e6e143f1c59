// Configured verification keys for the jwt plugin: parsing PEM and shared secrets with node:crypto,
// which token algorithms each key may verify (so an RSA key never verifies an HS256 token: the
// classic key-confusion attack), and the per-algorithm key objects handed to jose's jwtVerify.
// Signatures themselves are checked by jose.
import { createPublicKey, createSecretKey, type KeyObject, type webcrypto } from 'node:crypto'

export const ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
] as const

/** What jwtVerify takes for one algorithm: a CryptoKey (prepared once) or a KeyObject (jose caches its conversion). */
export type JoseKey = webcrypto.CryptoKey | KeyObject

export interface VerifyKey {
  /** '' when the key has no id: then it is tried for any kid */
  readonly kid: string
  /** the algorithms this key may verify: fixed by its type, narrowed by a configured `alg` */
  readonly algs: ReadonlySet<string>
  /** the key for each of `algs` */
  readonly forAlg: ReadonlyMap<string, JoseKey>
}

const HMAC = ['HS256', 'HS384', 'HS512']
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const PSS = ['PS256', 'PS384', 'PS512']
// ES* fixes the curve as well as the hash (RFC 7518 §3.4)
const CURVES: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** The algorithms a key's type allows. */
export function algorithmsFor(key: KeyObject): readonly string[] {
  if (key.type === 'secret') return HMAC
  switch (key.asymmetricKeyType) {
    case 'rsa': return RSA
    case 'rsa-pss': return PSS
    case 'ec': {
      const alg = CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']
      return alg === undefined ? [] : [alg]
    }
    case 'ed25519': return ['EdDSA'] // jose verifies EdDSA with Ed25519 only (no Ed448)
    default: return []
  }
}

/** A key with its allowed algorithms, or an error message when the key or `alg` cannot be used. */
export function makeKey(kid: string, key: KeyObject, alg: string): VerifyKey | string {
  const fits = algorithmsFor(key)
  if (fits.length === 0) return `unsupported key type ${key.asymmetricKeyType ?? key.type}`
  if (alg !== '' && !fits.includes(alg)) return `alg ${alg} does not fit this ${describe(key)} key (fits ${fits.join(', ')})`
  const algs = alg === '' ? fits : [alg]
  const forAlg = new Map<string, JoseKey>()
  for (const a of algs) forAlg.set(a, key.type === 'secret' ? hmacKey(key, a) : key)
  return { kid, algs: new Set(algs), forAlg }
}

// jose would import a raw HMAC secret on every verification; a CryptoKey made once avoids that
function hmacKey(key: KeyObject, alg: string): webcrypto.CryptoKey {
  return key.toCryptoKey({ name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify'])
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
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    return 'not a PEM public key'
  }
  if (algorithmsFor(key).length === 0) return `is an ${key.asymmetricKeyType ?? 'unknown'} key; supported are RSA, EC P-256/P-384/P-521 and Ed25519`
  // jose refuses shorter RSA keys when verifying; say so when loading instead
  const bits = key.asymmetricKeyDetails?.modulusLength
  if (bits !== undefined && bits < 2048) return `is an RSA key of ${bits} bits; at least 2048 are required`
  return key
}

export function parseSecret(secret: string, encoding: string): KeyObject | string {
  const buf = Buffer.from(secret, encoding === 'base64' ? 'base64' : encoding === 'base64url' ? 'base64url' : 'utf8')
  if (buf.length === 0) return `not valid ${encoding}`
  return createSecretKey(buf)
}

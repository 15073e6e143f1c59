// One token through jose's jwtVerify, and jose's errors turned into the plugin's fixed error
// texts. The texts never echo token content, so they are safe inside WWW-Authenticate and the
// plugin can keep one prebuilt 401 per text.
import { decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose'
import type { JoseKey } from './jwt-keys.ts'

export const MALFORMED = 'malformed token'
export const BAD_SIGNATURE = 'invalid signature'
export const NO_KEY = 'no key matches the token'

/** The payload when the token verifies, else why not (one of the fixed texts). */
export type Verdict = JWTPayload | string

/**
 * Verify with one key, or with a key set. A set that finds several keys for a token without a
 * `kid` (jose's JWKSMultipleMatchingKeys) gets each tried in turn, as jose's documentation shows.
 */
export async function verifyWith(raw: string, key: JoseKey | JWTVerifyGetKey, opts: JWTVerifyOptions, required: ReadonlySet<string>): Promise<Verdict> {
  try {
    return (await jwtVerify(raw, key as JoseKey, opts)).payload
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) return describe(err, required)
    for await (const candidate of err) {
      const v = await verifyWith(raw, candidate, opts, required)
      if (v !== BAD_SIGNATURE) return v
    }
    return BAD_SIGNATURE
  }
}

/** Why jose refused a token. `required` are the configured required claims. */
export function describe(err: unknown, required: ReadonlySet<string>): string {
  if (err instanceof errors.JWSSignatureVerificationFailed) return BAD_SIGNATURE
  if (err instanceof errors.JWTExpired) return 'token expired'
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err
    // jose checks presence first: configured required claims, then iss/aud when those are configured
    if (reason === 'missing' && required.has(claim)) return `missing claim ${claim}`
    switch (claim) {
      case 'iss': return 'issuer not allowed'
      case 'aud': return 'audience not allowed'
      case 'exp': return 'invalid exp claim' // a non-number; an old one is JWTExpired
      case 'nbf': return reason === 'invalid' ? 'invalid nbf claim' : 'token not yet valid'
      case 'iat': return 'invalid iat claim'
      default: return `missing claim ${claim}`
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed'
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return MALFORMED
  // the rest are about keys: none in the set fits (JWKSNoMatchingKey, an unsupported or broken JWK)
  return NO_KEY
}

/** Whether the payload is not a JSON object: such a token is "malformed" whatever else is wrong with it. */
export function payloadMalformed(raw: string): boolean {
  try {
    decodeJwt(raw)
    return false
  } catch {
    return true
  }
}

/** A required claim that is present but null counts as missing (jose only checks presence). */
export function nullClaim(payload: JWTPayload, required: readonly string[]): string | null {
  for (const c of required) if (payload[c] === null) return c
  return null
}

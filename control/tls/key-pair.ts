// One TLS Secret → a checked key pair, or the reasons it cannot be served. Kourier runs Go's
// tls.X509KeyPair before handing a secret to Envoy; this is the node:crypto equivalent, so a bad
// secret is a located config error instead of a handshake that fails at 3 a.m.
import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto'
import type { Secret } from '../resources/types.ts'

export const CERT_KEY = 'tls.crt'
export const KEY_KEY = 'tls.key'

export interface KeyPair {
  /** PEM as stored (a chain is allowed: leaf first) */
  readonly cert: string
  readonly key: string
  /** the leaf certificate */
  readonly x509: X509Certificate
  /** sha256 of cert and key: identical material shares one SecureContext */
  readonly hash: string
}

/** What is wrong, and which data key of the Secret it is about (`data` when a key is missing). */
export interface PairProblem {
  readonly key: typeof CERT_KEY | typeof KEY_KEY | 'data'
  readonly message: string
}

export function readKeyPair(secret: Secret): { pair?: KeyPair; problem?: PairProblem } {
  const id = `${secret.metadata.namespace}/${secret.metadata.name}`
  const certText = decoded(secret, CERT_KEY)
  const keyText = decoded(secret, KEY_KEY)
  if (certText === undefined || keyText === undefined) {
    const missing = [certText === undefined ? CERT_KEY : '', keyText === undefined ? KEY_KEY : ''].filter(Boolean).join(' or ')
    return { problem: { key: 'data', message: `Secret ${id} has no ${missing}; a TLS Secret needs both tls.crt and tls.key (PEM)` } }
  }

  if (!/-----BEGIN CERTIFICATE-----/.test(certText)) {
    return { problem: { key: CERT_KEY, message: `tls.crt of Secret ${id} is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" block` } }
  }
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(certText)
  } catch (err) {
    return { problem: { key: CERT_KEY, message: `tls.crt of Secret ${id} is not a valid PEM certificate (${reason(err)})` } }
  }

  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4,ENCRYPTED/.test(keyText)) {
    return { problem: { key: KEY_KEY, message: `tls.key of Secret ${id} is encrypted; store the key without a passphrase` } }
  }
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(keyText)) {
    return { problem: { key: KEY_KEY, message: `tls.key of Secret ${id} is not a PEM private key: no "-----BEGIN ... PRIVATE KEY-----" block` } }
  }
  let key: KeyObject
  try {
    key = createPrivateKey(keyText)
  } catch (err) {
    return { problem: { key: KEY_KEY, message: `tls.key of Secret ${id} is not a valid PEM private key (${reason(err)})` } }
  }

  if (!x509.checkPrivateKey(key)) {
    return { problem: { key: CERT_KEY, message: `tls.crt and tls.key of Secret ${id} do not match: the certificate was not issued for this private key` } }
  }
  const hash = createHash('sha256').update(certText).update('\0').update(keyText).digest('hex')
  return { pair: { cert: certText, key: keyText, x509, hash } }
}

/** Validity warnings: an expired certificate is still served (clients decide), but said loudly. */
export function validityWarning(pair: KeyPair, id: string, now: Date): string | undefined {
  if (now > pair.x509.validToDate) {
    return `certificate in Secret ${id} expired on ${pair.x509.validToDate.toISOString()}; clients will reject it until it is renewed`
  }
  if (now < pair.x509.validFromDate) {
    return `certificate in Secret ${id} is not valid before ${pair.x509.validFromDate.toISOString()}; clients will reject it until then`
  }
  return undefined
}

/** Whether clients connecting to `host` (or any name under a `*.` host) accept this certificate. */
export function covers(pair: KeyPair, host: string): boolean {
  if (host.startsWith('*.')) {
    const sans = (pair.x509.subjectAltName ?? '').split(/,\s*/).map((s) => s.toLowerCase())
    return sans.includes(`dns:${host}`)
  }
  return pair.x509.checkHost(host) !== undefined
}

/** What the certificate is for, for messages: its DNS names, else its subject. */
export function certNames(pair: KeyPair): string {
  return pair.x509.subjectAltName ?? pair.x509.subject.replace(/\n/g, ', ')
}

function decoded(secret: Secret, key: string): string | undefined {
  const v = secret.data?.[key]
  return v === undefined || v === '' ? undefined : Buffer.from(v, 'base64').toString('utf8')
}

/** OpenSSL's `error:0480006C:PEM routines::no start line` → `no start line`. */
function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  const i = msg.lastIndexOf('::')
  return i >= 0 ? msg.slice(i + 2) : msg
}

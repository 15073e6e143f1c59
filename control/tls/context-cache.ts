// SecureContexts by key-material hash, kept from one build to the next: a reload that leaves a
// certificate alone reuses its context (no re-parse of thousands of keys, same table fingerprint,
// so the listener keeps its session-ticket keys).
import { createSecureContext, type SecureContext } from 'node:tls'
import { MIN_TLS_VERSION } from '../../gateway/tls/cert-table.ts'
import type { KeyPair } from './key-pair.ts'

export class CertContextCache {
  #current = new Map<string, SecureContext>()

  /** The context for `pair`; throws what createSecureContext throws. */
  get(pair: KeyPair, used: Map<string, SecureContext>): SecureContext {
    let ctx = used.get(pair.hash) ?? this.#current.get(pair.hash)
    if (ctx === undefined) ctx = createSecureContext({ cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION })
    used.set(pair.hash, ctx)
    return ctx
  }

  /** Keep only what the last build used, so removed certificates are released. */
  retain(used: Map<string, SecureContext>): void {
    this.#current = used
  }

  get size(): number {
    return this.#current.size
  }
}

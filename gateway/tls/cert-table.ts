// The certificates the TLS listener serves, by SNI name. Built by the control plane (which checks
// every key pair first) and swapped in whole; the gateway only looks names up.
import type { SecureContext } from 'node:tls'

/** Knative's floor for downstream TLS; contexts and the listener both use it. */
export const MIN_TLS_VERSION = 'TLSv1.2'

export interface CertTable {
  /** lower-case host → context */
  readonly exact: ReadonlyMap<string, SecureContext>
  /** `.example.com` (from `*.example.com`) → context; any depth below the suffix matches */
  readonly wildcard: ReadonlyMap<string, SecureContext>
  /** for SNI names no entry covers; null when no default certificate is configured */
  readonly fallback: SecureContext | null
  /**
   * PEM of the default certificate, for clients that send no SNI at all: Node only consults
   * SNICallback when a name is sent, so the listener installs this as the server's own context.
   */
  readonly fallbackPem: { readonly cert: string; readonly key: string } | null
  /** every host with a certificate, as written (`*.example.com` for wildcards), sorted */
  readonly hosts: readonly string[]
  /** changes exactly when some name would get different key material; '' for the empty table */
  readonly fingerprint: string
}

export function emptyCertTable(): CertTable {
  return { exact: new Map(), wildcard: new Map(), fallback: null, fallbackPem: null, hosts: [], fingerprint: '' }
}

/** Whether there is anything to serve on the TLS port. */
export function hasCertificates(table: CertTable): boolean {
  return table.hosts.length > 0 || table.fallback !== null
}

/** Exact name, then the longest wildcard suffix, then the default certificate. */
export function contextFor(table: CertTable, servername: string): SecureContext | null {
  let name = servername.toLowerCase()
  if (name.endsWith('.')) name = name.slice(0, -1)
  const exact = table.exact.get(name)
  if (exact !== undefined) return exact
  if (table.wildcard.size > 0) {
    // Leftmost dot first gives the longest suffix; a wildcard never matches its bare domain.
    for (let i = name.indexOf('.'); i > 0; i = name.indexOf('.', i + 1)) {
      const ctx = table.wildcard.get(name.slice(i))
      if (ctx !== undefined) return ctx
    }
  }
  return table.fallback
}

// config-sluice `default-certificate: "namespace/secret-name"`: the certificate for TLS clients
// whose SNI name no KIngress lists, or who send none (Kourier's single configured cert, PR #743).
import type { ConfigError, ConfigMap } from '../resources/types.ts'

export const DEFAULT_CERT_KEY = 'default-certificate'

export interface SecretRef { readonly namespace: string; readonly name: string }

/** Where the reference was written, so a missing Secret is reported at the key, not nowhere. */
export interface DefaultCertRef extends SecretRef { readonly at?: ConfigMap }

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** The first config-sluice wins, as in readSettings (which reports duplicates). */
export function readDefaultCertificate(configMaps: readonly ConfigMap[]): { ref?: DefaultCertRef; errors: ConfigError[] } {
  const cm = configMaps.find((c) => c.metadata.name === 'config-sluice')
  const raw = cm?.data?.[DEFAULT_CERT_KEY]
  if (cm === undefined || raw === undefined || String(raw).trim() === '') return { errors: [] }
  const v = String(raw).trim()
  const parts = v.split('/')
  if (parts.length !== 2 || !parts.every((p) => p.length <= 253 && DNS_SUBDOMAIN.test(p))) {
    return { errors: [configError(cm, `${DEFAULT_CERT_KEY} must be "namespace/secret-name", got ${JSON.stringify(v)}`)] }
  }
  return { ref: { namespace: parts[0]!, name: parts[1]!, at: cm }, errors: [] }
}

/** An error at `data.default-certificate`, worded like the other config-sluice errors. */
export function configError(cm: ConfigMap | undefined, message: string): ConfigError {
  const src = cm?.source
  const pos = src?.locate(['data', DEFAULT_CERT_KEY]) ?? { line: 0, column: 0 }
  return { file: src?.file ?? '', line: pos.line, column: pos.column, path: `data.${DEFAULT_CERT_KEY}`, message: `config-sluice: ${message}` }
}

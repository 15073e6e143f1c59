// The CAs system-internal-tls trusts, gathered as Kourier's buildTrustChain does
// (net-kourier pkg/generator/ingress_translator.go): `ca.crt` of the Secret routing-serving-certs
// in the system namespace, then every data value of the ConfigMaps there labelled
// networking.knative.dev/trust-bundle. A bundle that does not parse is left out with a warning,
// as there; no CA at all is an error at the setting, so the last good configuration stays.
import { X509Certificate } from 'node:crypto'
import type { ConfigError, ConfigMap, KObject, ResourceSet, Secret } from '../resources/types.ts'
import { formatPath } from '../sources/fields.ts'

/** knative/networking pkg/config ServingRoutingCertName and pkg/certificates CaCertName */
export const ROUTING_CERTS_SECRET = 'routing-serving-certs'
export const CA_KEY = 'ca.crt'
/** knative/networking pkg/apis/networking TrustBundleLabelKey */
export const TRUST_BUNDLE_LABEL = 'networking.knative.dev/trust-bundle'
/** Knative's system namespace when config-network says nothing else (it is read wherever it is). */
export const DEFAULT_SYSTEM_NAMESPACE = 'knative-serving'

export interface InternalTrust {
  /** the PEM bundle, or undefined when there is no usable CA (then `errors` says so) */
  pem?: string
  errors: ConfigError[]
  /** bundles left out */
  warnings: ConfigError[]
}

/**
 * The system namespace is the one config-network lives in (Knative's SYSTEM_NAMESPACE), so a
 * file-mode setup keeps the Secret and the trust bundles next to its settings.
 */
export function readInternalTrust(rs: ResourceSet): InternalTrust {
  const network = rs.configMaps.find((c) => c.metadata.name === 'config-network')
  const ns = network?.metadata.namespace || DEFAULT_SYSTEM_NAMESPACE
  const errors: ConfigError[] = []
  const warnings: ConfigError[] = []
  const parts: string[] = []

  const secret = rs.secrets.find((s) => s.metadata.namespace === ns && s.metadata.name === ROUTING_CERTS_SECRET)
  const ca = secret === undefined ? undefined : secretValue(secret, CA_KEY)
  if (secret !== undefined && ca !== undefined) {
    const bad = checkBundle(ca)
    if (bad === undefined) parts.push(ca)
    else warnings.push(locate(secret, secretPath(secret, CA_KEY), `${CA_KEY} of Secret ${ns}/${ROUTING_CERTS_SECRET} is left out of the system-internal-tls trust: ${bad}`))
  }
  const bundles = rs.configMaps.filter((c) => c.metadata.namespace === ns && c.metadata.labels?.[TRUST_BUNDLE_LABEL] !== undefined)
  for (const cm of bundles) {
    for (const [key, value] of Object.entries(cm.data ?? {})) {
      const bad = checkBundle(String(value))
      if (bad === undefined) parts.push(String(value))
      else warnings.push(locate(cm, ['data', key], `trust bundle ${key} of ConfigMap ${ns}/${cm.metadata.name} is left out of the system-internal-tls trust: ${bad}`))
    }
  }
  if (parts.length === 0) {
    errors.push(settingError(network,
      `system-internal-tls is enabled but there is no CA to check the upstreams with; add ${CA_KEY} (PEM) to Secret ${ns}/${ROUTING_CERTS_SECRET}, ` +
      `or a ConfigMap in ${ns} labelled ${TRUST_BUNDLE_LABEL} whose values are PEM bundles`))
    return { errors, warnings }
  }
  // At least one newline between bundles, as Kourier joins them.
  return { pem: parts.join('\n'), errors, warnings }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g

/** Why the bundle is unusable, or undefined: every block must be a certificate that parses (Kourier's checkCertBundle). */
function checkBundle(pem: string): string | undefined {
  let n = 0
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] !== 'CERTIFICATE') return `it holds a ${m[1]} block; only CERTIFICATE blocks belong in a trust bundle`
    try {
      new X509Certificate(m[0])
    } catch (err) {
      return `certificate ${n + 1} does not parse (${(err as Error).message})`
    }
    n++
  }
  return n === 0 ? 'no "-----BEGIN CERTIFICATE-----" block' : undefined
}

function secretValue(secret: Secret, key: string): string | undefined {
  const v = secret.data?.[key]
  return v === undefined || v === '' ? undefined : Buffer.from(v, 'base64').toString('utf8')
}

/** `stringData` values override `data` in the loader, so point at the one the user wrote. */
function secretPath(secret: Secret, key: string): string[] {
  return secret.stringData?.[key] !== undefined ? ['stringData', key] : ['data', key]
}

function settingError(cm: ConfigMap | undefined, message: string): ConfigError {
  const src = cm?.source
  const key = cm?.data?.['system-internal-tls'] !== undefined ? 'system-internal-tls' : 'internal-encryption'
  const pos = src?.locate(['data', key]) ?? { line: 0, column: 0 }
  return { file: src?.file ?? '', line: pos.line, column: pos.column, path: `data.${key}`, message: `config-network: ${message}` }
}

function locate(obj: KObject, path: string[], message: string): ConfigError {
  const src = obj.source
  const pos = src?.locate(path) ?? { line: 0, column: 0 }
  return { file: src?.file ?? '', line: pos.line, column: pos.column, path: formatPath(path), message }
}

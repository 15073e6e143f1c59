// The certificates of the cluster-local TLS port (config-network cluster-local-domain-tls), as
// Kourier builds its local HTTPS listener (net-kourier pkg/generator/caches.go): the KIngress
// tls[] entries that cover every host of a ClusterLocal rule (knative/networking
// GetIngressTLSForVisibility), and, for any other name, the single certificate named by
// config-kourier `cluster-cert-secret` (a Secret in the system namespace, next to config-kourier).
import type { ConfigError, ConfigMap, KIngress, ResourceSet } from '../resources/types.ts'
import { buildCertTable, type CertTableResult } from './certificates.ts'
import type { CertContextCache } from './context-cache.ts'
import { DEFAULT_SYSTEM_NAMESPACE } from './internal-trust.ts'

export const CLUSTER_CERT_KEY = 'cluster-cert-secret'

/**
 * Secret problems (a pair that does not match, an expired certificate) come back as in
 * buildCertTable; the tls[] entries are the public table's too, so their problems were reported
 * there. `clusterLocalDomainTls`: a port with nothing to serve is worth a warning.
 */
export function buildInternalCertTable(rs: ResourceSet, opts: { cache: CertContextCache; clusterLocalDomainTls: boolean; now?: Date }): CertTableResult {
  const kourier = rs.configMaps.find((c) => c.metadata.name === 'config-kourier')
  const name = kourier?.data?.[CLUSTER_CERT_KEY] === undefined ? '' : String(kourier.data[CLUSTER_CERT_KEY]).trim()
  const namespace = kourier?.metadata.namespace || DEFAULT_SYSTEM_NAMESPACE
  const errors: ConfigError[] = []
  if (name !== '' && !rs.secrets.some((s) => s.metadata.namespace === namespace && s.metadata.name === name)) {
    errors.push(keyError(kourier!, `${CLUSTER_CERT_KEY}: Secret ${namespace}/${name} not found; create it (type kubernetes.io/tls, keys tls.crt and tls.key) in ${namespace}`))
  }
  const local: ResourceSet = {
    ...rs,
    ingresses: rs.ingresses.map(localTls),
    // config-sluice default-certificate is the public port's fallback, not this one's.
    configMaps: rs.configMaps.filter((c) => c.metadata.name !== 'config-sluice'),
  }
  const built = buildCertTable(local, name === '' || errors.length > 0 ? undefined : { namespace, name }, { cache: opts.cache, ...(opts.now ? { now: opts.now } : {}) })
  const warnings = [...built.warnings]
  if (opts.clusterLocalDomainTls && built.table.hosts.length === 0 && built.table.fallback === null && errors.length === 0) {
    warnings.push({ file: '', line: 0, column: 0, path: '',
      message: `cluster-local-domain-tls is Enabled but no certificate serves cluster-local hosts; set ${CLUSTER_CERT_KEY} in config-kourier to a TLS Secret in ${namespace}, or add spec.tls entries covering the ClusterLocal rules' hosts` })
  }
  return { table: built.table, errors: [...errors, ...built.errors], warnings }
}

/** The ingress with only the tls[] entries that list every host of one of its ClusterLocal rules. */
function localTls(ing: KIngress): KIngress {
  const tls = ing.spec.tls ?? []
  if (tls.length === 0) return ing
  const picked = new Set<number>()
  for (const rule of ing.spec.rules) {
    if ((rule.visibility ?? 'ExternalIP') !== 'ClusterLocal') continue
    const hosts = rule.hosts ?? []
    if (hosts.length === 0) break // as Knative: a rule without hosts ends the search
    tls.forEach((entry, i) => { if (hosts.every((h) => (entry.hosts ?? []).includes(h))) picked.add(i) })
  }
  return { ...ing, spec: { ...ing.spec, tls: tls.filter((_, i) => picked.has(i)) } }
}

function keyError(cm: ConfigMap, message: string): ConfigError {
  const src = cm.source
  const pos = src?.locate(['data', CLUSTER_CERT_KEY]) ?? { line: 0, column: 0 }
  return { file: src?.file ?? '', line: pos.line, column: pos.column, path: `data.${CLUSTER_CERT_KEY}`, message: `config-kourier: ${message}` }
}

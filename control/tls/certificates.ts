// KIngress spec.tls[] + TLS Secrets (+ the default certificate) → the CertTable the TLS listener
// serves. Like Kourier: every key pair is checked before use, and one SecureContext is made per
// distinct key material however many hosts and ingresses share it (Kourier #189: one context
// per service cost ~3 GB). Problems are located ConfigErrors, so a bad Secret keeps the last
// good table like any other bad config.
import { createHash } from 'node:crypto'
import type { SecureContext } from 'node:tls'
import type { CertTable } from '../../gateway/tls/cert-table.ts'
import type { ConfigError, KIngress, KObject, ResourceSet, Secret } from '../resources/types.ts'
import { formatPath } from '../sources/fields.ts'
import { CertContextCache } from './context-cache.ts'
import { configError, readDefaultCertificate, type SecretRef } from './default-certificate.ts'
import { CERT_KEY, certNames, covers, readKeyPair, validityWarning, type KeyPair, type PairProblem } from './key-pair.ts'
import { normalizeTlsHost } from './hosts.ts'

export interface CertTableResult {
  table: CertTable
  /** keep the last good table when there are any */
  errors: ConfigError[]
  /** served anyway: expired certificates, hosts a certificate does not name, a host claimed twice */
  warnings: ConfigError[]
}

export interface BuildCertOptions {
  /** reuse contexts across builds (hold one per control loop) */
  cache?: CertContextCache
  /** for expiry warnings */
  now?: Date
}

/** A Secret that passed every check, with its (shared) context. */
interface Served { readonly id: string; readonly pair: KeyPair; readonly ctx: SecureContext }
interface Claim { readonly served: Served; readonly owner: string }

/**
 * `defaultCert` overrides config-sluice `default-certificate` (e.g. from a command-line flag).
 * Secret errors are reported once per Secret, at its tls.crt/tls.key; a missing Secret at the
 * reference (`spec.tls[i].secretName`, or `data.default-certificate` in config-sluice).
 */
export function buildCertTable(resources: ResourceSet, defaultCert?: SecretRef, opts: BuildCertOptions = {}): CertTableResult {
  const now = opts.now ?? new Date()
  const cache = opts.cache ?? new CertContextCache()
  const errors: ConfigError[] = []
  const warnings: ConfigError[] = []
  const secrets = new Map<string, Secret>()
  for (const s of resources.secrets) {
    const k = `${s.metadata.namespace}/${s.metadata.name}`
    if (!secrets.has(k)) secrets.set(k, s)
  }

  // Each Secret is checked once, however many entries use it; equal material shares a context.
  const used = new Map<string, SecureContext>()
  const checked = new Map<string, Served | null>()
  const serve = (id: string, secret: Secret): Served | null => {
    let served = checked.get(id)
    if (served === undefined) {
      served = check(id, secret, now, cache, used, errors, warnings)
      checked.set(id, served)
    }
    return served
  }

  const claims = new Map<string, Claim>()
  for (const ing of resources.ingresses) {
    const owner = `Ingress ${ing.metadata.namespace}/${ing.metadata.name}`
    ing.spec.tls?.forEach((tls, i) => {
      const hosts = entryHosts(ing, i, errors, warnings)
      const id = `${tls.secretNamespace}/${tls.secretName}`
      const secret = secrets.get(id)
      if (secret === undefined) {
        errors.push(locate(ing, ['spec', 'tls', i, 'secretName'],
          `Secret ${id} not found; create it (type kubernetes.io/tls, keys tls.crt and tls.key) or fix secretName/secretNamespace`))
        return
      }
      const served = serve(id, secret)
      if (served === null) return
      for (const { host, j } of hosts) {
        const at = ['spec', 'tls', i, 'hosts', j]
        const prev = claims.get(host)
        if (prev !== undefined) {
          if (prev.served.pair.hash !== served.pair.hash) {
            warnings.push(locate(ing, at, `host ${host} already has the certificate of Secret ${prev.served.id} (${prev.owner}); Secret ${id} is not used for it`))
          }
          continue
        }
        claims.set(host, { served, owner })
        if (!covers(served.pair, host)) {
          warnings.push(locate(ing, at, `certificate in Secret ${id} does not cover host ${host} (it is for ${certNames(served.pair)}); clients will reject it`))
        }
      }
    })
  }

  const fallback = defaultServed(resources, defaultCert, secrets, serve, errors)
  cache.retain(used)
  return { table: assemble(claims, fallback), errors, warnings }
}

function check(
  id: string, secret: Secret, now: Date, cache: CertContextCache, used: Map<string, SecureContext>,
  errors: ConfigError[], warnings: ConfigError[],
): Served | null {
  const r = readKeyPair(secret)
  if (r.pair === undefined) {
    errors.push(secretError(secret, r.problem!))
    return null
  }
  let ctx: SecureContext
  try {
    ctx = cache.get(r.pair, used)
  } catch (err) {
    // node:crypto accepted the pair but OpenSSL's TLS layer did not (e.g. a key TLS cannot use).
    errors.push(locate(secret, dataPath(secret, CERT_KEY), `certificate of Secret ${id} cannot be used for TLS (${(err as Error).message})`))
    return null
  }
  const w = validityWarning(r.pair, id, now)
  if (w !== undefined) warnings.push(locate(secret, dataPath(secret, CERT_KEY), w))
  return { id, pair: r.pair, ctx }
}

/** Valid, lower-cased hosts of `spec.tls[i]` with their index; bad ones are reported. */
function entryHosts(ing: KIngress, i: number, errors: ConfigError[], warnings: ConfigError[]): { host: string; j: number }[] {
  const raw = ing.spec.tls![i]!.hosts ?? []
  if (raw.length === 0) {
    warnings.push(locate(ing, ['spec', 'tls', i], 'TLS entry has no hosts, so no SNI name selects its certificate; list the hosts it serves'))
  }
  const out: { host: string; j: number }[] = []
  raw.forEach((h, j) => {
    const host = normalizeTlsHost(h)
    if (host === undefined) {
      errors.push(locate(ing, ['spec', 'tls', i, 'hosts', j],
        `${JSON.stringify(h)} is not a host name; write a DNS name such as app.example.com or a wildcard such as *.example.com`))
    } else {
      out.push({ host, j })
    }
  })
  return out
}

function defaultServed(
  resources: ResourceSet, given: SecretRef | undefined, secrets: Map<string, Secret>,
  serve: (id: string, s: Secret) => Served | null, errors: ConfigError[],
): Served | null {
  const fromConfig = readDefaultCertificate(resources.configMaps)
  if (given === undefined) errors.push(...fromConfig.errors)
  const ref = given ?? fromConfig.ref
  if (ref === undefined) return null
  const id = `${ref.namespace}/${ref.name}`
  const secret = secrets.get(id)
  if (secret === undefined) {
    errors.push(configError(given === undefined ? fromConfig.ref?.at : undefined,
      `default-certificate: Secret ${id} not found; create it (type kubernetes.io/tls, keys tls.crt and tls.key)`))
    return null
  }
  return serve(id, secret)
}

function assemble(claims: Map<string, Claim>, fallback: Served | null): CertTable {
  const exact = new Map<string, SecureContext>()
  const wildcard = new Map<string, SecureContext>()
  const lines: string[] = []
  for (const host of [...claims.keys()].sort()) {
    const { served } = claims.get(host)!
    if (host.startsWith('*.')) wildcard.set(host.slice(1), served.ctx)
    else exact.set(host, served.ctx)
    lines.push(`${host} ${served.pair.hash}`)
  }
  if (fallback !== null) lines.push(`* ${fallback.pair.hash}`)
  return Object.freeze({
    exact,
    wildcard,
    fallback: fallback?.ctx ?? null,
    fallbackPem: fallback === null ? null : Object.freeze({ cert: fallback.pair.cert, key: fallback.pair.key }),
    hosts: Object.freeze([...claims.keys()].sort()),
    fingerprint: lines.length === 0 ? '' : createHash('sha256').update(lines.join('\n')).digest('hex'),
  })
}

function secretError(secret: Secret, p: PairProblem): ConfigError {
  return locate(secret, p.key === 'data' ? ['data'] : dataPath(secret, p.key), p.message)
}

/** `stringData` values override `data` in the loader, so point at the one the user wrote. */
function dataPath(secret: Secret, key: string): string[] {
  return secret.stringData?.[key] !== undefined ? ['stringData', key] : ['data', key]
}

function locate(obj: KObject, path: (string | number)[], message: string): ConfigError {
  const src = obj.source
  const pos = src?.locate(path) ?? { line: 0, column: 0 }
  return { file: src?.file ?? '', line: pos.line, column: pos.column, path: formatPath(path), message }
}

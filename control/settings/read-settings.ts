// ConfigMaps → Settings. Keys and defaults follow Knative (config-domain, config-network,
// config-features, config-defaults); config-sluice holds Sluice's own. A bad value is reported
// where it was written and that key keeps its default, so one typo never blocks the rest.
import { parse as parseYaml } from 'yaml'
import type { ConfigError, ConfigMap } from '../resources/types.ts'
import type { DomainRule, Settings } from './types.ts'
import { parseTemplate, renderTemplate, TemplateError, type TemplateField } from '../templates.ts'
import { isDnsSubdomain } from '../reconcile/names.ts'
import { ConfigMapReader, laterDeclaration } from './config-map-reader.ts'
import { parseCidr } from '../../gateway/trusted-proxies.ts'
import { parseGoDuration } from '../../lib/duration.ts'
import { readKourierKeys } from './kourier-keys.ts'
import { EVENTING_DEFAULTS, readEventingKeys } from './eventing-keys.ts'
import { readExtAuthzKeys } from './extauthz-keys.ts'
import { DEFAULT_RESILIENCE, readOutlierKeys } from './outlier-keys.ts'
import { readConfigTracing, readObservabilityTracing, TRACING_OFF } from './tracing-keys.ts'

export const DEFAULT_DOMAIN_TEMPLATE = '{{.Name}}.{{.Namespace}}.{{.Domain}}'
export const DEFAULT_TAG_TEMPLATE = '{{.Tag}}-{{.Name}}'

export const defaultSettings: Settings = Object.freeze({
  domains: Object.freeze([Object.freeze({ domain: 'localhost', selector: Object.freeze({}) })]),
  domainTemplate: DEFAULT_DOMAIN_TEMPLATE,
  tagTemplate: DEFAULT_TAG_TEMPLATE,
  defaultExternalScheme: 'http',
  httpProtocol: 'Enabled',
  clusterDomain: 'cluster.local',
  systemInternalTls: false,
  clusterLocalDomainTls: false,
  tagHeaderBasedRouting: false,
  revisionTimeoutSeconds: 300,
  maxRevisionTimeoutSeconds: 600,
  revisionResponseStartTimeoutSeconds: 300,
  revisionIdleTimeoutSeconds: 0,
  containerConcurrency: 0,
  tracing: TRACING_OFF,
  sluice: Object.freeze({
    drainTimeoutSeconds: 30, activatorQueueDepth: 10_000, trustedProxies: Object.freeze([]),
    clientHeaderTimeoutSeconds: 30, clientIdleTimeoutSeconds: 300, maxConnections: 20_000,
    enableProxyProtocol: false, trustedHopsCount: 0, useRemoteAddress: true, disableServerHeader: false,
    streamIdleTimeoutSeconds: 0, listenIpAddresses: null, cipherSuites: null,
    enableServiceAccessLogging: false, serviceAccessLogTemplate: '', extAuthz: null, resilience: DEFAULT_RESILIENCE,
    ...EVENTING_DEFAULTS,
  }),
})

const CONFIG_MAPS = ['config-domain', 'config-network', 'config-features', 'config-defaults', 'config-sluice', 'config-observability', 'config-tracing'] as const
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export class Reader extends ConfigMapReader {
  /** Whole seconds in [min, max]; undefined when absent or bad (bad is reported). */
  int(key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.str(key)
    if (v === undefined) return undefined
    if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      this.error(key, `${key} must be a whole number between ${min} and ${max === Number.MAX_SAFE_INTEGER ? 'infinity' : max}, got ${JSON.stringify(v)}`)
      return undefined
    }
    return Number(v)
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], rejected: Record<string, string> = {}): T | undefined {
    const v = this.str(key)
    if (v === undefined) return undefined
    const hit = allowed.find((a) => a.toLowerCase() === v.toLowerCase())
    if (hit !== undefined) return hit
    const why = rejected[v.toLowerCase()]
    this.error(key, why ?? `${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`)
    return undefined
  }
}

export function readSettings(configMaps: ConfigMap[]): { settings: Settings; errors: ConfigError[] } {
  const s: Mutable<Settings> = { ...defaultSettings, sluice: { ...defaultSettings.sluice } }
  const errors: ConfigError[] = []
  const seen = new Map<string, ConfigMap>()
  let observability: Reader | null = null, tracing: Reader | null = null
  for (const cm of configMaps) {
    const name = cm.metadata.name
    if (!(CONFIG_MAPS as readonly string[]).includes(name)) continue
    const r = new Reader(cm)
    const later = laterDeclaration(seen, cm)
    if (later !== null) {
      errors.push(later)
      continue
    }
    if (name === 'config-domain') s.domains = readDomains(r)
    else if (name === 'config-network') readNetwork(r, s)
    else if (name === 'config-features') {
      const v = r.oneOf('tag-header-based-routing', ['Enabled', 'Disabled', 'Allowed'])
      if (v !== undefined) s.tagHeaderBasedRouting = v === 'Enabled'
    } else if (name === 'config-defaults') readDefaults(r, s)
    else if (name === 'config-observability') { observability = r; continue }
    else if (name === 'config-tracing') { tracing = r; continue }
    else readSluice(r, s)
    errors.push(...r.errors)
  }
  // config-observability's tracing keys win over the older config-tracing's, whatever the order.
  if (tracing !== null) s.tracing = readConfigTracing(tracing)
  if (observability !== null) s.tracing = readObservabilityTracing(observability, s.tracing)
  for (const r of [tracing, observability]) if (r !== null) errors.push(...r.errors)
  return { settings: s, errors }
}

function readDomains(r: Reader): DomainRule[] {
  const rules: DomainRule[] = []
  for (const domain of Object.keys(r.cm.data ?? {}).sort()) {
    // `_example` (and any `_` key) is documentation, as in Knative.
    if (domain.startsWith('_')) continue
    if (!isDnsSubdomain(domain)) {
      r.error(domain, `config-domain key ${JSON.stringify(domain)} is not a valid DNS domain (lower-case letters, digits, '-' and '.')`)
      continue
    }
    const raw = r.cm.data[domain] ?? ''
    let doc: unknown
    try {
      doc = raw.trim() === '' ? null : parseYaml(raw)
    } catch (err) {
      r.error(domain, `value for domain ${domain} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
      continue
    }
    const selector = readSelector(doc)
    if (selector === undefined) {
      r.error(domain, `value for domain ${domain} must be empty or "selector:" followed by label key: value pairs`)
      continue
    }
    rules.push({ domain, selector })
  }
  // Knative adds the default domain when no entry has an empty selector, so every Route gets one.
  if (!rules.some((d) => Object.keys(d.selector).length === 0)) rules.push(defaultSettings.domains[0]!)
  return rules
}

function readSelector(doc: unknown): Record<string, string> | undefined {
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) return undefined
  const { selector, type, ...rest } = doc as Record<string, unknown>
  if (Object.keys(rest).length > 0 || (type !== undefined && typeof type !== 'string')) return undefined
  if (selector === undefined || selector === null) return {}
  if (typeof selector !== 'object' || Array.isArray(selector)) return undefined
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(selector)) {
    if (typeof v === 'object' && v !== null) return undefined
    out[k] = String(v)
  }
  return out
}

function readNetwork(r: Reader, s: Mutable<Settings>): void {
  const dt = r.str('domain-template')
  if (dt !== undefined) {
    const err = checkDomainTemplate(dt)
    if (err === undefined) s.domainTemplate = dt
    else r.error('domain-template', `domain-template ${JSON.stringify(dt)} is invalid: ${err}`)
  }
  const tt = r.str('tag-template')
  if (tt !== undefined) {
    const err = checkTagTemplate(tt)
    if (err === undefined) s.tagTemplate = tt
    else r.error('tag-template', `tag-template ${JSON.stringify(tt)} is invalid: ${err}`)
  }
  const scheme = r.oneOf('default-external-scheme', ['http', 'https'])
  if (scheme !== undefined) s.defaultExternalScheme = scheme
  const protoKey = r.has('http-protocol') ? 'http-protocol' : r.has('httpProtocol') ? 'httpProtocol' : undefined
  if (protoKey !== undefined) {
    const p = r.oneOf(protoKey, ['Enabled', 'Redirected'], {
      disabled: `${protoKey}: Disabled is not supported by Sluice (plain HTTP is always served); use Enabled or Redirected`,
    })
    if (p !== undefined) s.httpProtocol = p
  }
  readEncryption(r, s)
  // ingress-class and the other Knative keys are accepted and ignored: Sluice is the only ingress here.
}

/**
 * system-internal-tls and cluster-local-domain-tls: Enabled | Disabled, any case (knative/networking
 * pkg/config/config.go). The deprecated internal-encryption (a Go bool) only counts when
 * system-internal-tls is absent or Disabled, as there.
 */
function readEncryption(r: Reader, s: Mutable<Settings>): void {
  const legacy = r.str('internal-encryption')
  if (legacy !== undefined && legacy !== '') {
    if (GO_TRUE.includes(legacy)) s.systemInternalTls = true
    else if (!GO_FALSE.includes(legacy)) r.error('internal-encryption', `internal-encryption must be "true" or "false", got ${JSON.stringify(legacy)}; prefer system-internal-tls: Enabled`)
  }
  const sys = r.str('system-internal-tls')
  if (sys !== undefined && sys !== '') {
    const v = r.oneOf('system-internal-tls', ['Enabled', 'Disabled'])
    if (v === 'Enabled') s.systemInternalTls = true
  }
  const local = r.str('cluster-local-domain-tls')
  if (local !== undefined && local !== '') {
    const v = r.oneOf('cluster-local-domain-tls', ['Enabled', 'Disabled'])
    if (v !== undefined) s.clusterLocalDomainTls = v === 'Enabled'
  }
}

// strconv.ParseBool, which Knative's cm.AsBool uses
const GO_TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True']
const GO_FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False']

function readDefaults(r: Reader, s: Mutable<Settings>): void {
  const timeout = r.int('revision-timeout-seconds', 1)
  if (timeout !== undefined) s.revisionTimeoutSeconds = timeout
  const max = r.int('max-revision-timeout-seconds', 1)
  if (max !== undefined) s.maxRevisionTimeoutSeconds = max
  if (s.maxRevisionTimeoutSeconds < s.revisionTimeoutSeconds) {
    r.error(max !== undefined ? 'max-revision-timeout-seconds' : 'revision-timeout-seconds',
      `max-revision-timeout-seconds (${s.maxRevisionTimeoutSeconds}) must be at least revision-timeout-seconds (${s.revisionTimeoutSeconds})`)
    s.revisionTimeoutSeconds = defaultSettings.revisionTimeoutSeconds
    s.maxRevisionTimeoutSeconds = Math.max(defaultSettings.maxRevisionTimeoutSeconds, s.revisionTimeoutSeconds)
  }
  const rs = r.int('revision-response-start-timeout-seconds', 0, s.maxRevisionTimeoutSeconds)
  if (rs !== undefined) s.revisionResponseStartTimeoutSeconds = rs
  const idle = r.int('revision-idle-timeout-seconds', 0, s.maxRevisionTimeoutSeconds)
  if (idle !== undefined) s.revisionIdleTimeoutSeconds = idle
  // Knative's container-concurrency-max-limit default.
  const cc = r.int('container-concurrency', 0, 1000)
  if (cc !== undefined) s.containerConcurrency = cc
}

function readSluice(r: Reader, s: Mutable<Settings>): void {
  const sluice = { ...s.sluice }
  const v = r.str('drain-timeout')
  if (v !== undefined) {
    const secs = parseDuration(v)
    if (secs === undefined) r.error('drain-timeout', `drain-timeout must be a duration such as "30s", "1m30s" or a number of seconds, got ${JSON.stringify(v)}`)
    else sluice.drainTimeoutSeconds = secs
  }
  const depth = r.int('activator-queue-depth', 1, 1_000_000)
  if (depth !== undefined) sluice.activatorQueueDepth = depth
  const trusted = readTrustedProxies(r)
  if (trusted !== undefined) sluice.trustedProxies = trusted
  const header = positiveDuration(r, 'client-header-timeout')
  if (header !== undefined) sluice.clientHeaderTimeoutSeconds = header
  const idle = positiveDuration(r, 'client-idle-timeout')
  if (idle !== undefined) sluice.clientIdleTimeoutSeconds = idle
  const max = r.int('max-connections', 1, 1_000_000)
  if (max !== undefined) sluice.maxConnections = max
  readKourierKeys(r, sluice)
  readEventingKeys(r, sluice)
  const authz = readExtAuthzKeys(r)
  if (authz !== undefined) sluice.extAuthz = authz
  sluice.resilience = readOutlierKeys(r, sluice.resilience)
  s.sluice = sluice
}

/** trusted-proxies: comma-separated CIDRs; every bad entry is reported, and then none is trusted. */
function readTrustedProxies(r: Reader): readonly string[] | undefined {
  const v = r.str('trusted-proxies')
  if (v === undefined) return undefined
  const ranges: string[] = []
  let bad = false
  for (const part of v.split(',')) {
    const entry = part.trim()
    if (entry === '') continue
    const c = parseCidr(entry)
    if (typeof c === 'string') {
      r.error('trusted-proxies', `trusted-proxies: ${c}; write comma-separated ranges such as "10.0.0.0/8, 2001:db8::/32"`)
      bad = true
    } else ranges.push(entry)
  }
  return bad ? undefined : Object.freeze(ranges)
}

/** A duration of at least 1 ms, in seconds; undefined when absent or bad (bad is reported). */
function positiveDuration(r: Reader, key: string): number | undefined {
  const v = r.str(key)
  if (v === undefined) return undefined
  const secs = parseDuration(v)
  if (secs === undefined || secs < 0.001) {
    r.error(key, `${key} must be a positive duration such as "30s", "500ms", "5m" or a number of seconds, got ${JSON.stringify(v)}`)
    return undefined
  }
  return secs
}

/** A Go duration (`1m30s`, `500ms`) or, as config-sluice has always allowed, a bare number of seconds → seconds; negative is an error. */
export function parseDuration(v: string): number | undefined {
  const ms = parseGoDuration(v, { bareSeconds: true })
  return ms === undefined || ms < 0 ? undefined : ms / 1000
}

const DOMAIN_FIELDS: TemplateField[] = ['Name', 'Namespace', 'Domain', 'Annotations', 'Labels']
const TAG_FIELDS: TemplateField[] = ['Name', 'Tag']

/** Knative renders sample values and requires a bare host; Sluice also requires {{.Name}} so routes cannot collide. */
export function checkDomainTemplate(src: string): string | undefined {
  try {
    const t = parseTemplate(src, DOMAIN_FIELDS)
    if (!t.fields.has('Name')) return 'it must use {{.Name}}, otherwise every Route would get the same host'
    const sample = samples(t.parts)
    const host = renderTemplate(t, { Name: 'foo', Namespace: 'bar', Domain: 'baz.com', Annotations: sample, Labels: sample })
    if (host === '') return 'it renders an empty host name'
    if (!isDnsSubdomain(host)) return `it renders ${JSON.stringify(host)}, which is not a bare DNS host name (no scheme, port or path)`
    return undefined
  } catch (err) {
    if (err instanceof TemplateError) return err.message
    throw err
  }
}

export function checkTagTemplate(src: string): string | undefined {
  try {
    const t = parseTemplate(src, TAG_FIELDS)
    if (!t.fields.has('Tag')) return 'it must use {{.Tag}}, otherwise all tags of a Route would share one host'
    const host = renderTemplate(t, { Name: 'foo', Tag: 'v2' })
    if (!isDnsSubdomain(host)) return `it renders ${JSON.stringify(host)}, which is not a valid host name part`
    return undefined
  } catch (err) {
    if (err instanceof TemplateError) return err.message
    throw err
  }
}

/** Sample map entries for every key a template reads, so dotted lookups succeed during the check. */
function samples(parts: ReturnType<typeof parseTemplate>['parts']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const p of parts) if (p.kind === 'map') out[p.key] = 'x'
  return out
}

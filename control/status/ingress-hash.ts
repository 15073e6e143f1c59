// The KIngress readiness hash, byte for byte what Knative computes (knative/networking
// pkg/ingress/ingress.go ComputeHash): SHA-256 over Go's encoding/json of the spec defaulted by
// pkg/apis/networking/v1alpha1/ingress_defaults.go, immediately followed by the namespace and the name.
// Gateways echo it in K-Network-Hash and the conformance `headers/probe` test computes it with Go, so
// every byte of the serialisation must match: struct field order, omitempty, sorted map keys, HTML
// escaping. The Go structs' tags are in ingress_types.go; test vectors come from a Go program
// (test/control/status/fixtures/hashgen).
import { createHash } from 'node:crypto'
import type { IngressPath, IngressRule, IngressSpec, IngressSplit, IngressTLS, KIngress } from '../resources/types.ts'

/**
 * The spec after Knative's SetDefaults, as a new object: every rule without a visibility becomes
 * `ExternalIP`, and a path with a single split of percent 0 (or none) gets percent 100.
 * Unknown fields are kept (they are not hashed). Go would panic on a rule without `http`;
 * validation rejects that, so here it is simply left alone.
 */
export function defaultedIngressSpec(spec: IngressSpec): IngressSpec {
  const out: IngressSpec = structuredClone(spec ?? {}) as IngressSpec
  const rules = out.rules
  if (!Array.isArray(rules)) return out
  for (let i = 0; i < rules.length; i++) {
    const rule: IngressRule = rules[i] ?? ({} as IngressRule)
    if (rule.visibility == null || (rule.visibility as string) === '') rule.visibility = 'ExternalIP'
    rules[i] = rule
    const paths = rule.http?.paths
    if (!Array.isArray(paths)) continue
    for (const path of paths) {
      const splits = path?.splits
      if (Array.isArray(splits) && splits.length === 1 && (splits[0]?.percent ?? 0) === 0) {
        splits[0] = { ...(splits[0] ?? ({} as IngressSplit)), percent: 100 }
      }
    }
  }
  return out
}

/** The readiness hash of a KIngress: 64 lowercase hex characters. */
export function ingressHash(ing: KIngress): string {
  const spec = ingressSpecJson(defaultedIngressSpec(ing.spec), `KIngress ${ing.metadata.namespace}/${ing.metadata.name}: spec`)
  // (Buffer's UTF-8 encoder turns a lone surrogate in the name into U+FFFD too)
  return createHash('sha256').update(spec + (ing.metadata.namespace ?? '') + (ing.metadata.name ?? ''), 'utf8').digest('hex')
}

/**
 * Go's `json.Marshal(spec)` for an IngressSpec as given (not defaulted). Throws, naming the field,
 * for a value Go's decoder would have refused (a number where a string belongs, a fractional percent).
 * `where` prefixes error paths.
 */
export function ingressSpecJson(spec: IngressSpec, where = 'spec'): string {
  const s = spec ?? ({} as IngressSpec)
  const f: string[] = []
  if (nonEmptyList(s.tls, `${where}.tls`)) f.push(`"tls":${list(s.tls, `${where}.tls`, tlsJson)}`)
  if (nonEmptyList(s.rules, `${where}.rules`)) f.push(`"rules":${list(s.rules, `${where}.rules`, ruleJson)}`)
  optionalString(f, 'httpOption', s.httpOption, `${where}.httpOption`)
  return `{${f.join(',')}}`
}

// ---------- one writer per Go struct, fields in declaration order ----------

function tlsJson(t: IngressTLS | null, where: string): string {
  const f: string[] = []
  if (nonEmptyList(t?.hosts, `${where}.hosts`)) f.push(`"hosts":${list(t!.hosts, `${where}.hosts`, goString)}`)
  optionalString(f, 'secretName', t?.secretName, `${where}.secretName`)
  optionalString(f, 'secretNamespace', t?.secretNamespace, `${where}.secretNamespace`)
  return `{${f.join(',')}}`
}

function ruleJson(r: IngressRule | null, where: string): string {
  const f: string[] = []
  if (nonEmptyList(r?.hosts, `${where}.hosts`)) f.push(`"hosts":${list(r!.hosts, `${where}.hosts`, goString)}`)
  optionalString(f, 'visibility', r?.visibility, `${where}.visibility`)
  // HTTP is a pointer: omitted when nil; its Paths has no omitempty, so a nil list is written `null`
  if (r?.http != null) f.push(`"http":{"paths":${list(r.http.paths, `${where}.http.paths`, pathJson)}}`)
  return `{${f.join(',')}}`
}

function pathJson(p: IngressPath | null, where: string): string {
  const f: string[] = []
  optionalString(f, 'path', p?.path, `${where}.path`)
  optionalString(f, 'rewriteHost', p?.rewriteHost, `${where}.rewriteHost`)
  optionalMap(f, 'headers', p?.headers, `${where}.headers`, (m, at) => `{"exact":${goString(m?.exact, `${at}.exact`)}}`)
  f.push(`"splits":${list(p?.splits, `${where}.splits`, splitJson)}`)
  optionalMap(f, 'appendHeaders', p?.appendHeaders, `${where}.appendHeaders`, goString)
  return `{${f.join(',')}}`
}

function splitJson(s: IngressSplit | null, where: string): string {
  // IngressBackend is embedded (`json:",inline"` means nothing to encoding/json), so its fields come first
  const f = [
    `"serviceNamespace":${goString(s?.serviceNamespace, `${where}.serviceNamespace`)}`,
    `"serviceName":${goString(s?.serviceName, `${where}.serviceName`)}`,
    `"servicePort":${intOrString(s?.servicePort, `${where}.servicePort`)}`,
  ]
  const percent = goInt(s?.percent, `${where}.percent`)
  if (percent !== '0') f.push(`"percent":${percent}`)
  optionalMap(f, 'appendHeaders', s?.appendHeaders, `${where}.appendHeaders`, goString)
  return `{${f.join(',')}}`
}

// ---------- encoding/json rules ----------

/** A Go slice: `null` when nil (absent or null), else its elements (a null element is Go's zero value). */
function list<T>(v: readonly T[] | null | undefined, where: string, item: (x: T, where: string) => string): string {
  if (v == null) return 'null'
  if (!Array.isArray(v)) throw new TypeError(`${where}: expected a list, got ${JSON.stringify(v)}`)
  return `[${v.map((x, i) => item(x, `${where}[${i}]`)).join(',')}]`
}

/** omitempty on a slice: omitted when nil or empty. */
function nonEmptyList(v: unknown, where: string): boolean {
  if (v == null) return false
  if (!Array.isArray(v)) throw new TypeError(`${where}: expected a list, got ${JSON.stringify(v)}`)
  return v.length > 0
}

/** omitempty on a string: omitted when empty (null decodes to the empty string). */
function optionalString(f: string[], name: string, v: unknown, where: string): void {
  if (v == null || v === '') return
  f.push(`"${name}":${goString(v, where)}`)
}

/** omitempty on a map: omitted when nil or empty; keys sorted by their UTF-8 bytes, as Go sorts strings. */
function optionalMap<V>(f: string[], name: string, m: Record<string, V> | null | undefined, where: string, value: (v: V, where: string) => string): void {
  if (m == null) return
  if (typeof m !== 'object' || Array.isArray(m)) throw new TypeError(`${where}: expected a map, got ${JSON.stringify(m)}`)
  const keys = Object.keys(m)
  if (keys.length === 0) return
  keys.sort(byUtf8)
  f.push(`"${name}":{${keys.map((k) => `${goString(k, where)}:${value(m[k]!, `${where}[${JSON.stringify(k)}]`)}`).join(',')}}`)
}

function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

// What encoding/json escapes with HTML escaping on (json.Marshal's default): quotes, backslash,
// controls, <, >, & and the JavaScript line terminators U+2028/U+2029. DEL (U+007F) stays raw.
const ESCAPED = /[\u0000-\u001f"\\<>&\u2028\u2029]/g

function escapeChar(c: string): string {
  switch (c) {
    case '"': return '\\"'
    case '\\': return '\\\\'
    case '\n': return '\\n'
    case '\r': return '\\r'
    case '\t': return '\\t'
    // Go >= 1.22, which Knative is built with; older Go wrote \u0008 and \u000c
    case '\b': return '\\b'
    case '\f': return '\\f'
    default: return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  }
}

function goString(v: unknown, where: string): string {
  if (v == null) return '""'
  if (typeof v !== 'string') throw new TypeError(`${where}: expected a string, got ${JSON.stringify(v)}; quote it`)
  // a lone surrogate becomes U+FFFD, as Go's JSON decoder did to the same `\ud800` escape when it read
  // the object from the API server
  return `"${v.toWellFormed().replace(ESCAPED, escapeChar)}"`
}

function goInt(v: unknown, where: string, bits: 32 | 64 = 64): string {
  if (v == null) return '0'
  const ok = typeof v === 'number' && Number.isSafeInteger(v) && (bits === 64 || (v >= -(2 ** 31) && v < 2 ** 31))
  if (!ok) throw new TypeError(`${where}: expected an integer${bits === 32 ? ' that fits 32 bits' : ''}, got ${JSON.stringify(v)}`)
  return String(v)
}

/** intstr.IntOrString: a JSON string stays a string, anything else is an int32 (null: 0). */
function intOrString(v: unknown, where: string): string {
  return typeof v === 'string' ? goString(v, where) : goInt(v, where, 32)
}

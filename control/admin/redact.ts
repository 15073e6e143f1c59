// What the admin API may show of the loaded resources. Secret `data`/`stringData` values, env
// values taken from a Secret (`valueFrom.secretKeyRef`), Plugin config fields their plugin's
// schema marks secret (the whole config when the plugin has no schema), and kubectl's
// last-applied copy of an object are replaced by "<redacted>", keys kept. Then every string of a
// response is scrubbed of the secret values themselves and of URL passwords, so a copy in an
// unexpected place (a resolved env var, a status message, an error) does not leak either.
import path from 'node:path'
import type { KObject } from '../resources/types.ts'
import type { PluginRegistry } from '../plugins/registry.ts'
import { REDACTED, redactAll, redactSecrets, schemaOf, secretValues, type Field } from '../../plugins/schema.ts'

export { REDACTED }

/** The schema of the plugin a Plugin object names; undefined when unknown (its whole config is hidden). */
export type PluginSchemas = (namespace: string, name: string) => Field<unknown> | undefined

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'
// Shorter values are redacted where they are declared, but not searched for in other text: a
// scrub of "admin" or "true" would garble the views without protecting anything.
const MIN_SCRUB_LENGTH = 6
// `scheme://user:password@` — the password part
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s/?#@]*@/gi

type Json = Record<string, unknown>

const isSecret = (o: Json): boolean => o.kind === 'Secret' && o.apiVersion === 'v1'
const isPlugin = (o: Json): boolean => o.kind === 'Plugin' && o.apiVersion === 'sluice.dev/v1alpha1'
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Plugin schemas by `namespace/name`, from the loaded objects (which still know their files). */
export function pluginSchemas(objects: readonly KObject[], registry: PluginRegistry): PluginSchemas {
  const byKey = new Map<string, Field<unknown> | undefined>()
  for (const o of objects) {
    const ref = (o.spec as { plugin?: unknown } | undefined)?.plugin
    if (!isPlugin(o as unknown as Json) || typeof ref !== 'string') continue
    const baseDir = o.source ? path.dirname(path.resolve(o.source.file)) : process.cwd()
    const def = registry.get(ref, baseDir)
    byKey.set(`${o.metadata.namespace}/${o.metadata.name}`, def === undefined || def instanceof Error ? undefined : schemaOf(def))
  }
  return (namespace, name) => byKey.get(`${namespace}/${name}`)
}

/** Redacts resources and scrubs responses, knowing the secrets of one loaded configuration. */
export class Redactor {
  readonly #schemas: PluginSchemas
  /** secret values to search for, longest first (so a value containing another goes whole) */
  readonly #values: readonly string[]

  constructor(objects: readonly object[], schemas: PluginSchemas) {
    this.#schemas = schemas
    const values = new Set<string>()
    for (const o of objects as Json[]) for (const v of this.#secretsOf(o)) if (v.length >= MIN_SCRUB_LENGTH) values.add(v)
    this.#values = [...values].sort((a, b) => b.length - a.length)
  }

  /** Copies of the objects with their secret values redacted, then scrubbed. */
  resources(objects: readonly object[]): object[] {
    return objects.map((o) => this.scrub(this.#redact(o as Json)))
  }

  /** A copy of any JSON value with known secret values and URL passwords replaced in every string. */
  scrub<T>(value: T): T {
    return JSON.parse(JSON.stringify(value), (_k, v: unknown) => (typeof v === 'string' ? this.scrubText(v) : v)) as T
  }

  scrubText(text: string): string {
    let out = text.replace(URL_PASSWORD, `$1:${REDACTED}@`)
    for (const v of this.#values) if (out.includes(v)) out = out.replaceAll(v, REDACTED)
    return out
  }

  #redact(o: Json): Json {
    const out: Json = { ...o }
    if (isMap(o.metadata) && isMap(o.metadata.annotations) && LAST_APPLIED in o.metadata.annotations) {
      out.metadata = { ...o.metadata, annotations: { ...o.metadata.annotations, [LAST_APPLIED]: REDACTED } }
    }
    if (isSecret(o)) {
      if (o.data !== undefined) out.data = redactAll(o.data)
      if (o.stringData !== undefined) out.stringData = redactAll(o.stringData)
    }
    if (isPlugin(o) && isMap(o.spec) && o.spec.config !== undefined) {
      const schema = this.#schemaOf(o)
      out.spec = { ...o.spec, config: schema === undefined ? redactAll(o.spec.config) : redactSecrets(schema, o.spec.config) }
    }
    // Container env may sit in a Service's template, a Configuration or a Revision, and in status.
    return redactSecretEnv(out) as Json
  }

  #schemaOf(o: Json): Field<unknown> | undefined {
    const m = isMap(o.metadata) ? o.metadata : {}
    return typeof m.namespace === 'string' && typeof m.name === 'string' ? this.#schemas(m.namespace, m.name) : undefined
  }

  #secretsOf(o: Json): string[] {
    const out: string[] = []
    if (isSecret(o)) {
      for (const v of Object.values(isMap(o.data) ? o.data : {})) {
        if (typeof v !== 'string') continue
        out.push(v, Buffer.from(v, 'base64').toString('utf8').trim())
      }
      for (const v of Object.values(isMap(o.stringData) ? o.stringData : {})) if (typeof v === 'string') out.push(v, v.trim())
    }
    if (isPlugin(o) && isMap(o.spec) && o.spec.config !== undefined) {
      const schema = this.#schemaOf(o)
      out.push(...(schema === undefined ? stringsIn(o.spec.config) : secretValues(schema, o.spec.config)))
    }
    return out
  }
}

/** What redaction needs of the control loop: its last good configuration and its plugins. */
export interface RedactionSource {
  readonly last: { readonly objects: readonly KObject[] } | null
  readonly plugins: PluginRegistry
}

/** The Redactor of the control loop's current configuration, rebuilt only when it applies another. */
export class LiveRedaction {
  readonly #source: () => RedactionSource | undefined
  #of: object | null = null
  #redactor = new Redactor([], () => undefined)

  /** `source` may answer undefined until the control loop exists (the logger is made before it). */
  constructor(source: () => RedactionSource | undefined) {
    this.#source = source
  }

  get current(): Redactor {
    const src = this.#source()
    const last = src?.last ?? null
    if (src !== undefined && last !== this.#of) {
      const objects = last?.objects ?? []
      this.#redactor = new Redactor(objects, pluginSchemas(objects, src.plugins))
      this.#of = last
    }
    return this.#redactor
  }
}

function stringsIn(v: unknown): string[] {
  if (typeof v === 'string') return [v]
  if (typeof v === 'object' && v !== null) return Object.values(v).flatMap(stringsIn)
  return []
}

/** `env: [{ name, value, valueFrom: { secretKeyRef } }]` anywhere inside: the value is redacted. */
function redactSecretEnv(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactSecretEnv)
  if (!isMap(v)) return v
  const out: Json = {}
  for (const [k, child] of Object.entries(v)) {
    out[k] = k === 'env' && Array.isArray(child) ? child.map(redactEnvVar) : redactSecretEnv(child)
  }
  return out
}

function redactEnvVar(e: unknown): unknown {
  if (!isMap(e) || !isMap(e.valueFrom) || e.valueFrom.secretKeyRef === undefined || e.value === undefined) return e
  return { ...e, value: REDACTED }
}

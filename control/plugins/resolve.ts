// Plugin objects (`kind: Plugin`, sluice.dev/v1alpha1) → validated definitions, and which routes
// they attach to: the annotation `sluice.dev/plugins: "a, b"` on a Service, Route or KIngress
// (names of Plugin objects in the same namespace), and `plugins` in config-sluice for every route.
// config-sluice's extauthz-* keys (Kourier's) add a synthetic global ext-authz plugin, built per
// owner because its context_extensions carry the owner's labels.
// Every problem is a ConfigError at the field that causes it, so a bad plugin config in a file keeps
// the last good table like any other error; a bad cluster Plugin is quarantined (quarantine.ts).
import path from 'node:path'
import type { ConfigError, KObject, ResourceSet, SourceRef } from '../resources/types.ts'
import type { Plugin } from '../../plugins/api.ts'
import { isModulePath, type PluginRegistry } from './registry.ts'
import { pathText, resolveSecretRefs } from './secret-refs.ts'
import { readSettings } from '../settings/read-settings.ts'
import { extAuthzPluginConfig, type ExtAuthzKeys } from '../settings/extauthz-keys.ts'
import { clusterSource } from '../sources/kubernetes/cluster-objects.ts'
import { isClusterSource, notReadyPlugin, type Quarantined, type QuarantineView } from './quarantine.ts'

export const PLUGINS_ANNOTATION = 'sluice.dev/plugins'

export interface ResolvedPlugin {
  /** `namespace/name` of the Plugin object */
  readonly key: string
  readonly plugin: Plugin<never>
  /** spec.plugin as written (a built-in name or a module path relative to baseDir); absent: the built-in `plugin.name` */
  readonly ref?: string
  /** the plugin's priority, or the Plugin object's `spec.priority` when set */
  readonly priority: number
  readonly config: unknown
  /** the validated config as JSON: an unchanged config reuses its instances across reloads */
  readonly configJson: string
  readonly baseDir: string
  /** the Plugin object's position, for errors create() raises (unreadable key files…) */
  readonly source?: SourceRef
  /** where create() errors point when not at spec.config (the synthetic ext-authz: data.extauthz-host) */
  readonly errorAt?: { readonly fieldPath: (string | number)[]; readonly pathText: string }
}

export interface PluginResolution {
  /** problems that refuse the load (a file's, or any without a quarantine) */
  readonly errors: ConfigError[]
  /** cluster KIngresses that use a quarantined Plugin, at the field naming it: reported, the load goes on */
  readonly problems: readonly ConfigError[]
  /** cluster Plugins (by namespace/name) that cannot be used as written, with what their routes do meanwhile */
  readonly quarantined: ReadonlyMap<string, Quarantined>
  /** Plugins used as written (by namespace/name) */
  readonly usable: ReadonlyMap<string, ResolvedPlugin>
  /** plugins for an ingress owner (`Route ns/name` or `Ingress ns/name`), in priority order */
  readonly forOwner: (ownerKind: 'Route' | 'Ingress', namespace: string, name: string) => readonly ResolvedPlugin[]
}

type Spec = { plugin?: unknown; config?: unknown; priority?: unknown }

function at(source: SourceRef | undefined, fieldPath: (string | number)[], pathText: string, message: string): ConfigError {
  const pos = source?.locate(fieldPath) ?? { line: 0, column: 0 }
  return { file: source?.file ?? '', line: pos.line, column: pos.column, path: pathText, message }
}

/** `origins[2].x` → ['origins', 2, 'x'] */
function segments(p: string): (string | number)[] {
  const out: (string | number)[] = []
  for (const m of p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1])
  return out
}

export function pluginObjects(rs: ResourceSet): KObject<Spec>[] {
  return rs.others.filter((o) => o.kind === 'Plugin' && o.apiVersion === 'sluice.dev/v1alpha1') as KObject<Spec>[]
}

/** Module files the Plugin objects name, so the caller can import them before resolving. */
export function pluginModules(rs: ResourceSet, registry: PluginRegistry): string[] {
  const out: string[] = []
  for (const o of pluginObjects(rs)) {
    const ref = o.spec?.plugin
    if (typeof ref === 'string' && isModulePath(ref)) out.push(registry.modulePath(ref, baseDirOf(o)))
  }
  return out
}

/** Where a module path is relative to: the declaring file's directory; Sluice's working directory for a cluster Plugin. */
function baseDirOf(o: KObject): string {
  return o.source && !isClusterSource(o.source) ? path.dirname(path.resolve(o.source.file)) : process.cwd()
}

/** One Plugin object → its definition and validated config, or its errors at their field paths. */
function resolveOne(o: KObject<Spec>, key: string, rs: ResourceSet, registry: PluginRegistry): ResolvedPlugin | ConfigError[] {
  const spec = (o.spec ?? {}) as Spec
  if (typeof spec.plugin !== 'string' || spec.plugin === '') {
    return [at(o.source, ['spec', 'plugin'], 'spec.plugin', 'required: a built-in plugin name or a module path starting with ./')]
  }
  const baseDir = baseDirOf(o)
  const def = registry.get(spec.plugin, baseDir)
  if (def === undefined || def instanceof Error) {
    return [at(o.source, ['spec', 'plugin'], 'spec.plugin', def?.message ?? `plugin module ${spec.plugin} is not loaded`)]
  }
  // {secretKeyRef: {name, key}} values come from Secrets of the Plugin's namespace
  const refs = resolveSecretRefs(spec.config ?? {}, o.metadata.namespace, rs.secrets)
  if (refs.issues.length > 0) return refs.issues.map((issue) => at(o.source, ['spec', 'config', ...issue.path], `spec.config.${pathText(issue.path)}`, issue.message))
  let v
  try {
    v = def.validate(refs.config)
  } catch (err) {
    return [at(o.source, ['spec', 'config'], 'spec.config', `plugin ${def.name} failed to validate its config: ${(err as Error).message}`)]
  }
  if (!v.ok) {
    return v.issues.map((issue) => {
      const segs = issue.path === '' ? [] : segments(issue.path)
      return at(o.source, ['spec', 'config', ...segs], issue.path === '' ? 'spec.config' : `spec.config.${issue.path}`, issue.message)
    })
  }
  if (spec.priority !== undefined && (typeof spec.priority !== 'number' || !Number.isFinite(spec.priority))) {
    return [at(o.source, ['spec', 'priority'], 'spec.priority', `must be a number (higher runs first), got ${JSON.stringify(spec.priority)}`)]
  }
  const priority = typeof spec.priority === 'number' ? spec.priority : def.priority
  return { key, plugin: def, ref: spec.plugin, priority, config: v.config, configJson: `${priority}:${JSON.stringify(v.config) ?? 'null'}`, baseDir, ...(o.source !== undefined ? { source: o.source } : {}) }
}

/**
 * @param extAuthz the extauthz-* keys to apply: the caller's (last good) settings; by default read
 * from config-sluice here.
 * @param quarantine given (--kubernetes), a cluster Plugin that cannot be used is quarantined
 * instead of being an error that refuses the load (see quarantine.ts)
 */
export function resolvePlugins(rs: ResourceSet, registry: PluginRegistry, extAuthz: ExtAuthzKeys | null = readSettings(rs.configMaps).settings.sluice.extAuthz, quarantine?: QuarantineView): PluginResolution {
  const errors: ConfigError[] = []
  const byKey = new Map<string, ResolvedPlugin>()
  const usable = new Map<string, ResolvedPlugin>()
  const quarantined = new Map<string, Quarantined>()
  /** a cluster Plugin that cannot be used as written: its last good config, else the 503 stand-in */
  const stand = (key: string, errs: readonly ConfigError[], source: SourceRef | undefined): ResolvedPlugin => {
    const last = quarantine!.lastGood(key)
    quarantined.set(key, { fallback: last !== undefined ? 'last-good' : 'fail-closed', errors: errs })
    const p = last ?? notReadyPlugin(key, source)
    byKey.set(key, p)
    return p
  }
  for (const o of pluginObjects(rs)) {
    const key = `${o.metadata.namespace}/${o.metadata.name}`
    const r = resolveOne(o, key, rs, registry)
    if (!Array.isArray(r)) {
      byKey.set(key, r)
      usable.set(key, r)
    } else if (quarantine !== undefined && isClusterSource(o.source)) {
      stand(key, r, o.source)
    } else {
      errors.push(...r)
    }
  }
  // Rejected by the source (a field the kind lacks): quarantined the same way.
  for (const [key, errs] of quarantine?.rejected ?? []) {
    const [namespace = '', name = ''] = key.split('/')
    stand(key, errs, clusterSource('Plugin', namespace, name))
  }

  const lookup = (names: string, namespace: string, source: SourceRef | undefined, fieldPath: (string | number)[], pathText: string): ResolvedPlugin[] => {
    const out: ResolvedPlugin[] = []
    for (const raw of names.split(',')) {
      const name = raw.trim()
      if (name === '') continue
      const key = name.includes('/') ? name : `${namespace}/${name}`
      let p = byKey.get(key)
      if (p === undefined) {
        // A Plugin object with errors was already reported; do not report it twice.
        if (pluginObjects(rs).some((o) => `${o.metadata.namespace}/${o.metadata.name}` === key)) continue
        // A cluster object may name a Plugin before it is created (or after it is deleted): only its routes wait.
        if (quarantine === undefined || !isClusterSource(source)) {
          errors.push(at(source, fieldPath, pathText, `no Plugin named ${JSON.stringify(key)}; declare a kind: Plugin (apiVersion sluice.dev/v1alpha1) with that name`))
          continue
        }
        p = stand(key, [], undefined)
      }
      if (!out.includes(p)) out.push(p)
    }
    return out
  }

  // Global plugins from config-sluice `plugins`.
  let global: ResolvedPlugin[] = []
  for (const cm of rs.configMaps) {
    if (cm.metadata.name !== 'config-sluice' || cm.data?.plugins === undefined) continue
    global = lookup(cm.data.plugins, cm.metadata.namespace, cm.source, ['data', 'plugins'], 'data.plugins')
  }

  const authz = extAuthz === null ? null : extAuthzFor(rs, registry, extAuthz, errors)

  const attached = new Map<string, ResolvedPlugin[]>()
  const attach = (owner: string, o: KObject): void => {
    const names = o.metadata.annotations?.[PLUGINS_ANNOTATION]
    if (names === undefined) return
    const list = lookup(names, o.metadata.namespace, o.source, ['metadata', 'annotations', PLUGINS_ANNOTATION], `metadata.annotations[${JSON.stringify(PLUGINS_ANNOTATION)}]`)
    attached.set(owner, [...(attached.get(owner) ?? []), ...list])
  }
  // A Service's annotation applies to the Route it owns (same name).
  for (const s of rs.services) attach(`Route ${s.metadata.namespace}/${s.metadata.name}`, s)
  for (const r of rs.routes) attach(`Route ${r.metadata.namespace}/${r.metadata.name}`, r)
  for (const i of rs.ingresses) attach(`Ingress ${i.metadata.namespace}/${i.metadata.name}`, i)

  // A cluster KIngress whose routes use a quarantined Plugin says so on its own status too.
  const problems: ConfigError[] = []
  if (quarantined.size > 0) {
    const exists = new Set([...pluginObjects(rs).map((o) => `${o.metadata.namespace}/${o.metadata.name}`), ...quarantine!.rejected.keys()])
    for (const i of rs.ingresses) {
      if (!isClusterSource(i.source)) continue
      const own = attached.get(`Ingress ${i.metadata.namespace}/${i.metadata.name}`) ?? []
      for (const p of new Set([...global, ...own])) {
        const q = quarantined.get(p.key)
        if (q === undefined) continue
        const what = exists.has(p.key) ? `Plugin ${p.key} is not ready (see its status)` : `no Plugin named ${JSON.stringify(p.key)}`
        const then = q.fallback === 'last-good' ? 'this route keeps its last good config' : `this route answers 503 until it is ${exists.has(p.key) ? 'fixed' : 'created'}`
        problems.push(own.includes(p)
          ? at(i.source, ['metadata', 'annotations', PLUGINS_ANNOTATION], `metadata.annotations[${JSON.stringify(PLUGINS_ANNOTATION)}]`, `${what}; ${then}`)
          : at(i.source, [], 'config-sluice data.plugins', `${what}; ${then}`))
      }
    }
  }

  const cache = new Map<string, readonly ResolvedPlugin[]>()
  return {
    errors, problems, quarantined, usable,
    forOwner(ownerKind, namespace, name) {
      const owner = `${ownerKind} ${namespace}/${name}`
      let list = cache.get(owner)
      if (list === undefined) {
        const all: ResolvedPlugin[] = []
        for (const p of [...global, ...(attached.get(owner) ?? [])]) if (!all.includes(p)) all.push(p)
        if (authz !== null) all.push(authz(ownerKind, namespace, name))
        // Higher priority first; equal priorities keep their declared order.
        list = all.map((p, i) => [p, i] as const).sort((a, b) => (b[0].priority - a[0].priority) || (a[1] - b[1])).map(([p]) => p)
        cache.set(owner, list)
      }
      return list
    },
  }
}

/** create() failed for a route: reported at the Plugin object's config like a validation error. */
export class PluginCreateError extends Error {
  readonly error: ConfigError
  constructor(p: ResolvedPlugin, route: string, cause: unknown) {
    const message = `plugin ${p.key} cannot start for route ${route}: ${cause instanceof Error ? cause.message : String(cause)}`
    super(message)
    this.error = at(p.source, p.errorAt?.fieldPath ?? ['spec', 'config'], p.errorAt?.pathText ?? 'spec.config', message)
  }
}

const EXTAUTHZ_FIELD: Record<string, string> = {
  url: 'extauthz-host', timeout: 'extauthz-timeout', failureModeAllow: 'extauthz-failure-mode-allow',
  maxRequestBodyBytes: 'extauthz-max-request-body-bytes', pathPrefix: 'extauthz-path-prefix', packAsBytes: 'extauthz-pack-as-bytes',
}

/**
 * The ext-authz plugin the extauthz-* keys stand for, per ingress owner: Kourier's per-vhost
 * context_extensions are `client: kourier`, `visibility` and the KIngress labels, so each owner
 * gets its own config (and instance). Problems point at the config-sluice key that causes them.
 */
function extAuthzFor(rs: ResourceSet, registry: PluginRegistry, keys: ExtAuthzKeys, errors: ConfigError[]): ((kind: 'Route' | 'Ingress', namespace: string, name: string) => ResolvedPlugin) | null {
  const cm = rs.configMaps.find((c) => c.metadata.name === 'config-sluice')
  const def = registry.get('ext-authz', process.cwd())
  const key = `${cm?.metadata.namespace ?? 'default'}/config-sluice[extauthz]`
  const errorAt = { fieldPath: ['data', 'extauthz-host'], pathText: 'data.extauthz-host' }
  if (def === undefined || def instanceof Error) {
    errors.push(at(cm?.source, errorAt.fieldPath, errorAt.pathText, 'config-sluice: the built-in ext-authz plugin is not available'))
    return null
  }
  const make = (labels: Record<string, string>): ResolvedPlugin | null => {
    const v = def.validate(extAuthzPluginConfig(keys, labels))
    if (!v.ok) {
      for (const issue of v.issues) {
        const field = EXTAUTHZ_FIELD[issue.path.split(/[.[]/)[0] ?? ''] ?? 'extauthz-host'
        errors.push(at(cm?.source, ['data', field], `data.${field}`, `config-sluice: ${field}: ${issue.message}`))
      }
      return null
    }
    return {
      key, plugin: def, priority: def.priority, config: v.config, configJson: `${def.priority}:${JSON.stringify(v.config)}`,
      baseDir: process.cwd(), ...(cm?.source !== undefined ? { source: cm.source } : {}), errorAt,
    }
  }
  // Checked once without labels, so a bad key is reported once, not per route.
  if (make({}) === null) return null
  return (kind, namespace, name) => make(ownerLabels(rs, kind, namespace, name))!
}

/** The labels Knative gives the KIngress of a Route (the Route's, its Service's, and the route labels), or a KIngress's own. */
function ownerLabels(rs: ResourceSet, kind: 'Route' | 'Ingress', namespace: string, name: string): Record<string, string> {
  const same = (o: KObject): boolean => o.metadata.namespace === namespace && o.metadata.name === name
  if (kind === 'Ingress') return { ...(rs.ingresses.find(same)?.metadata.labels ?? {}) }
  const route = rs.routes.find(same)
  const service = rs.services.find(same)
  const own = route?.metadata.labels ?? (service !== undefined ? { ...service.metadata.labels, 'serving.knative.dev/service': name } : {})
  return { ...own, 'serving.knative.dev/route': name, 'serving.knative.dev/routeNamespace': namespace }
}

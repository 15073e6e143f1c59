// A container's environment from Secrets and ConfigMaps: `env[].valueFrom.secretKeyRef` /
// `configMapKeyRef` and `envFrom[].secretRef` / `configMapRef`, resolved against the objects of
// the same namespace in the config directory, in Kubernetes' order (envFrom sources in turn, then
// env, later entries winning). A missing object or key is an error unless the reference says
// `optional: true`, as the kubelet refuses to start such a container (CreateContainerConfigError);
// sources/env-refs.ts reports those at their file position. Values are resolved at every
// reconcile; instances already running keep the environment they were started with, like pods.
import type { ConfigMap, Container, EnvVar, ResourceSet, Revision, Secret } from './types.ts'

type FieldPath = readonly (string | number)[]

/** Secrets and ConfigMaps by `namespace/name` (first declaration wins, as everywhere) */
export interface EnvObjects {
  readonly secrets: ReadonlyMap<string, Secret>
  readonly configMaps: ReadonlyMap<string, ConfigMap>
}

export function envObjects(rs: ResourceSet): EnvObjects {
  const byKey = <T extends Secret | ConfigMap>(list: readonly T[]): Map<string, T> => {
    const m = new Map<string, T>()
    for (const o of list) {
      const k = `${o.metadata.namespace}/${o.metadata.name}`
      if (!m.has(k)) m.set(k, o)
    }
    return m
  }
  return { secrets: byKey(rs.secrets), configMaps: byKey(rs.configMaps) }
}

export interface EnvProblem {
  /** relative to the container */
  readonly path: FieldPath
  readonly message: string
}

/** The container's variables as literal name/value pairs, and what could not be resolved. */
export function resolveEnv(container: Container, namespace: string, objs: EnvObjects): { env: { name: string; value: string }[]; problems: EnvProblem[] } {
  const values = new Map<string, string>()
  const problems: EnvProblem[] = []
  container.envFrom?.forEach((from, i) => {
    const prefix = from?.prefix ?? ''
    for (const kind of ['secretRef', 'configMapRef'] as const) {
      const ref = from?.[kind]
      if (ref === undefined || ref === null) continue
      const path = ['envFrom', i, kind]
      const data = source(kind === 'secretRef' ? 'Secret' : 'ConfigMap', ref.name, namespace, objs, path, ref.optional === true, problems)
      // Kubernetes skips keys that are not valid variable names (and reports them); so do we, silently.
      for (const [k, v] of Object.entries(data ?? {})) if (ENV_NAME.test(prefix + k)) values.set(prefix + k, v)
    }
  })
  container.env?.forEach((e: EnvVar, i) => {
    if (typeof e?.name !== 'string' || e.name === '') return
    const from = e.valueFrom
    if (from === undefined || from === null) {
      values.set(e.name, e.value ?? '')
      return
    }
    for (const kind of ['secretKeyRef', 'configMapKeyRef'] as const) {
      const ref = from[kind]
      if (ref === undefined || ref === null) continue
      const path = ['env', i, 'valueFrom', kind]
      const optional = ref.optional === true
      const data = source(kind === 'secretKeyRef' ? 'Secret' : 'ConfigMap', ref.name, namespace, objs, path, optional, problems)
      if (data === undefined) continue
      if (typeof ref.key !== 'string' || ref.key === '') {
        problems.push({ path: [...path, 'key'], message: 'missing field; name the key whose value the variable takes' })
      } else if (ref.key in data) {
        values.set(e.name, data[ref.key]!)
      } else if (!optional) {
        const what = kind === 'secretKeyRef' ? 'Secret' : 'ConfigMap'
        const keys = Object.keys(data)
        problems.push({
          path: [...path, 'key'],
          message: `${what} ${namespace}/${ref.name} has no key ${JSON.stringify(ref.key)} (${keys.length > 0 ? `it has ${keys.join(', ')}` : 'it is empty'}); add the key or set optional: true`,
        })
      }
    }
    // fieldRef and resourceFieldRef describe a pod; a local process has none, so they stay unset.
  })
  return { env: [...values].map(([name, value]) => ({ name, value })), problems }
}

/** [A-Za-z_][A-Za-z0-9_]* plus the '-' and '.' Kubernetes also allows in names */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/

/** The data of a Secret (decoded) or ConfigMap, or undefined (with a problem unless optional). */
function source(kind: 'Secret' | 'ConfigMap', name: string | undefined, namespace: string, objs: EnvObjects, path: FieldPath, optional: boolean, problems: EnvProblem[]): Record<string, string> | undefined {
  if (typeof name !== 'string' || name === '') {
    problems.push({ path: [...path, 'name'], message: `missing field; name the ${kind} to read` })
    return undefined
  }
  if (kind === 'Secret') {
    const secret = objs.secrets.get(`${namespace}/${name}`)
    if (secret !== undefined) {
      const out: Record<string, string> = {}
      for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8')
      return out
    }
  } else {
    const cm = objs.configMaps.get(`${namespace}/${name}`)
    if (cm !== undefined) return { ...cm.data }
  }
  if (!optional) {
    problems.push({
      path: [...path, 'name'],
      message: `${kind} ${JSON.stringify(name)} not found in namespace ${namespace}; declare it (kind: ${kind}, namespace: ${namespace}) in the config directory, or set optional: true`,
    })
  }
  return undefined
}

/**
 * The revision as the local runtime should run it: every container's env literal (references
 * resolved, envFrom expanded). Only for the runtime: the objects shown to users keep their
 * references, never the secret values. Unresolvable references (a revision kept from history whose
 * Secret is gone) leave their variable unset.
 */
export function withLiteralEnv(rev: Revision, objs: EnvObjects): Revision {
  const containers = rev.spec.containers.map((c): Container => {
    if (c.envFrom === undefined && !(c.env ?? []).some((e) => e?.valueFrom !== undefined && e.valueFrom !== null)) return c
    const { envFrom: _envFrom, ...rest } = c
    return { ...rest, env: resolveEnv(c, rev.metadata.namespace, objs).env }
  })
  return { ...rev, spec: { ...rev.spec, containers } }
}

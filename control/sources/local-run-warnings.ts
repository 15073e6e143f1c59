// What will not run as written: Knative fields the local runtime ignores, and revisions that name
// only an image (Sluice runs a `command`, or fixed `sluice.dev/upstream` instances; it pulls no
// images). Warnings, not errors: the same manifest is valid for a cluster. `sluice validate`
// prints them and exits 0; `serve` logs each once. docs/configuration.md lists the ignored fields.
import type { ConfigError, KObject, ResourceSet, SourceRef } from '../resources/types.ts'
import { UPSTREAM_ANNOTATION } from './validate-serving.ts'
import { SOURCE_ANNOTATION } from '../reconcile/names.ts'

/** container fields the local runtime ignores, and why (what Sluice does instead) */
export const IGNORED_CONTAINER_FIELDS: Readonly<Record<string, string>> = {
  resources: 'no CPU or memory limits are applied to local processes',
  livenessProbe: 'a process is restarted when it exits, not by a liveness probe',
  startupProbe: 'readinessProbe (or a TCP connect to $PORT) decides when a process is ready',
  securityContext: 'processes run as the user Sluice runs as',
  volumeMounts: 'processes see the host filesystem',
  imagePullPolicy: 'no images are pulled',
  terminationMessagePath: 'the last output line is kept instead',
  terminationMessagePolicy: 'the last output line is kept instead',
}

/** pod fields the local runtime ignores */
export const IGNORED_POD_FIELDS: Readonly<Record<string, string>> = {
  volumes: 'processes see the host filesystem',
  serviceAccountName: 'there is no Kubernetes identity locally',
  automountServiceAccountToken: 'there is no Kubernetes identity locally',
  imagePullSecrets: 'no images are pulled',
  securityContext: 'processes run as the user Sluice runs as',
  affinity: 'scheduling does not apply to local processes',
  nodeSelector: 'scheduling does not apply to local processes',
  tolerations: 'scheduling does not apply to local processes',
  topologySpreadConstraints: 'scheduling does not apply to local processes',
  runtimeClassName: 'scheduling does not apply to local processes',
  priorityClassName: 'scheduling does not apply to local processes',
  schedulerName: 'scheduling does not apply to local processes',
  initContainers: 'only the first container\'s command runs',
  hostAliases: 'processes use the host\'s name resolution',
  dnsPolicy: 'processes use the host\'s name resolution',
  dnsConfig: 'processes use the host\'s name resolution',
  enableServiceLinks: 'no Service environment variables are injected',
  shareProcessNamespace: 'each instance is one process',
  hostIPC: 'processes run on the host', hostPID: 'processes run on the host', hostNetwork: 'processes run on the host',
}

type Path = (string | number)[]

/** One warning per ignored field or image-only template; `revision` names what it applies to. */
export interface RunWarning extends ConfigError { readonly revision: string }

export function localRunWarnings(rs: ResourceSet): RunWarning[] {
  const out: RunWarning[] = []
  const templates: { o: KObject; spec: unknown; path: Path; annotations: Record<string, string>; revision: string }[] = []
  // `revision` names the template (its revision name when the template has one), to say each thing once per revision
  type Tpl = { metadata?: { name?: string; annotations?: Record<string, string> }; spec?: unknown }
  for (const s of rs.services) {
    const t = (s.spec as { template?: Tpl }).template
    templates.push({ o: s, spec: t?.spec, path: ['spec', 'template', 'spec'], annotations: t?.metadata?.annotations ?? {}, revision: `${s.metadata.namespace}/${t?.metadata?.name ?? s.metadata.name}` })
  }
  for (const c of rs.configurations) {
    const t = (c.spec as { template?: Tpl }).template
    templates.push({ o: c, spec: t?.spec, path: ['spec', 'template', 'spec'], annotations: t?.metadata?.annotations ?? {}, revision: `${c.metadata.namespace}/${t?.metadata?.name ?? c.metadata.name}` })
  }
  for (const r of rs.revisions) templates.push({ o: r, spec: r.spec, path: ['spec'], annotations: r.metadata.annotations, revision: `${r.metadata.namespace}/${r.metadata.name}` })

  for (const { o, spec, path, annotations, revision } of templates) {
    if (spec === null || typeof spec !== 'object') continue
    const pod = spec as Record<string, unknown>
    const warn = (p: Path, message: string): void => { out.push({ ...at(o.source, p), message, revision }) }
    for (const k of Object.keys(pod)) if (IGNORED_POD_FIELDS[k] !== undefined) warn([...path, k], `ignored by Sluice: ${IGNORED_POD_FIELDS[k]}`)
    const containers = Array.isArray(pod['containers']) ? pod['containers'] as Record<string, unknown>[] : []
    containers.forEach((c, i) => {
      const cp: Path = [...path, 'containers', i]
      if (i > 0) { warn(cp, 'ignored by Sluice: only the first container runs (sidecars are not started)'); return }
      for (const k of Object.keys(c)) if (IGNORED_CONTAINER_FIELDS[k] !== undefined) warn([...cp, k], `ignored by Sluice: ${IGNORED_CONTAINER_FIELDS[k]}`)
      const hasCommand = Array.isArray(c['command']) && c['command'].length > 0
      if (!hasCommand && annotations[UPSTREAM_ANNOTATION] === undefined && annotations[SOURCE_ANNOTATION] === undefined && typeof c['image'] === 'string') {
        warn([...cp, 'image'], `${o.kind} ${o.metadata.namespace}/${o.metadata.name} has an image but no command: Sluice pulls no images; add command (what the image would run), the annotation ${SOURCE_ANNOTATION}: ./folder (built locally) or ${UPSTREAM_ANNOTATION}: http://host:port`)
      }
    })
  }
  return out
}

function at(source: SourceRef | undefined, path: Path): ConfigError {
  const pos = source?.locate(path) ?? { line: 0, column: 0 }
  return { file: source?.file ?? '', line: pos.line, column: pos.column, path: pathText(path), message: '' }
}

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}

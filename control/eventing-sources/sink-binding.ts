// SinkBinding for local revisions: which revisions a binding's subject covers and the env it
// injects into them, as knative/eventing pkg/apis/sources/v1/sinkbinding_lifecycle.go `Do` does to
// a PodSpec: every container gets K_SINK (the resolved sink URL) and K_CE_OVERRIDES (the JSON of
// spec.ceOverrides, `{"extensions":{…}}`, or "" when unset), replacing any it had (`Undo` first).
// Subjects: serving.knative.dev/v1 Service, Configuration or Revision, by name or matchLabels.
import type { KObject, Revision } from '../resources/types.ts'
import type { SinkBinding } from '../resources/eventing.ts'
import { CONFIGURATION_LABEL, SERVICE_LABEL } from '../reconcile/names.ts'

export const BINDING_ENV = ['K_SINK', 'K_CE_OVERRIDES', 'K_CA_CERTS'] as const

/** K_CE_OVERRIDES as Knative marshals duckv1.CloudEventOverrides; "" when the binding has none */
export function ceOverridesEnv(ce: { extensions?: Record<string, string> } | undefined): string {
  if (ce === undefined) return ''
  return JSON.stringify(ce.extensions !== undefined && Object.keys(ce.extensions).length > 0 ? { extensions: ce.extensions } : {})
}

/** a binding whose sink resolved: what it injects */
export interface ResolvedBinding {
  readonly binding: SinkBinding
  readonly sinkUrl: string
}

function matches(labels: Readonly<Record<string, string>> | undefined, selector: Record<string, unknown> | undefined): boolean {
  const want = (selector?.['matchLabels'] ?? {}) as Record<string, string>
  for (const [k, v] of Object.entries(want)) if (labels?.[k] !== v) return false
  return true
}

/** The subjects (Services, Configurations or Revisions among `objects`) a binding names or selects. */
export function bindingSubjects(b: SinkBinding, objects: readonly KObject[]): KObject[] {
  const s = b.spec.subject
  const ns = s.namespace ?? b.metadata.namespace
  return objects.filter((o) => o.kind === s.kind && o.apiVersion === s.apiVersion && o.metadata.namespace === ns
    && (s.name !== undefined ? o.metadata.name === s.name : matches(o.metadata.labels, s.selector)))
}

/** Whether `rev` belongs to one of `subjects` (a Service's or Configuration's revisions, or the Revision itself). */
function covers(rev: Revision, subjects: readonly KObject[]): boolean {
  const labels = rev.metadata.labels ?? {}
  for (const s of subjects) {
    if (s.metadata.namespace !== rev.metadata.namespace) continue
    if (s.kind === 'Revision' && s.metadata.name === rev.metadata.name) return true
    if (s.kind === 'Configuration' && labels[CONFIGURATION_LABEL] === s.metadata.name) return true
    if (s.kind === 'Service' && labels[SERVICE_LABEL] === s.metadata.name) return true
  }
  return false
}

/** Per revision key (`namespace/name`): the env the bindings add. The first binding by namespace/name wins on overlap. */
export function bindingEnv(bindings: readonly ResolvedBinding[], objects: readonly KObject[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>()
  const sorted = [...bindings].sort((a, b) => key(a.binding).localeCompare(key(b.binding)))
  const revisions = objects.filter((o): o is Revision => o.kind === 'Revision')
  for (const rb of sorted) {
    const subjects = bindingSubjects(rb.binding, objects)
    for (const rev of revisions) {
      const k = key(rev)
      if (out.has(k) || !covers(rev, subjects)) continue
      out.set(k, { K_SINK: rb.sinkUrl, K_CE_OVERRIDES: ceOverridesEnv(rb.binding.spec.ceOverrides) })
    }
  }
  return out
}

/** The objects with bound revisions' containers carrying the binding env (for the runtime only). */
export function withBindingEnv<T extends KObject>(objects: readonly T[], env: ReadonlyMap<string, Record<string, string>>): T[] {
  if (env.size === 0) return [...objects]
  return objects.map((o) => {
    if (o.kind !== 'Revision') return o
    const add = env.get(key(o))
    if (add === undefined) return o
    const rev = o as unknown as Revision
    const containers = rev.spec.containers.map((c) => ({
      ...c,
      env: [...(c.env ?? []).filter((e) => !(BINDING_ENV as readonly string[]).includes(e.name)), ...Object.entries(add).map(([name, value]) => ({ name, value }))],
    }))
    return { ...rev, spec: { ...rev.spec, containers } } as unknown as T
  })
}

function key(o: KObject): string {
  return `${o.metadata.namespace}/${o.metadata.name}`
}

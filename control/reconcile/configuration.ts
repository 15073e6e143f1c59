// Configuration → Revisions (pkg/reconciler/configuration in Knative). The generation moves only
// when the template changes; each generation has one revision, named `<config>-%05d` or chosen
// with spec.template.metadata.name; latestReadyRevisionName only ever moves forward.
import type { Condition, Configuration, Revision } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import type { ConfigurationState, StoredRevision } from '../state.ts'
import { dirname, resolve } from 'node:path'
import { CONFIGURATION_GENERATION_LABEL, SERVICE_LABEL, SOURCE_ANNOTATION, UPSTREAM_ANNOTATION, hashOf, revisionNameFor } from './names.ts'
import { makeRevision, servingContainer, withRevisionStatus, type Readiness } from './revision.ts'
import { condition } from './status.ts'

/** Revisions kept per configuration beyond those still in use (Knative's min-non-active-revisions). */
export const RETAINED_REVISIONS = 20

export interface ConfigContext {
  readonly settings: Settings
  readonly now: string
  /** who else holds this revision name in the namespace, if anyone (other configurations, declared revisions) */
  nameTaken(name: string): string | undefined
  /** revision names that routes refer to by name: never pruned */
  readonly pinned: ReadonlySet<string>
  readiness(rev: Revision): Readiness
  /** the YAML file the template was written in: sluice.dev/source is relative to it */
  readonly declaredIn?: string
}

export interface ConfigOutcome {
  readonly configuration: Configuration
  /** this configuration's revisions (remembered and declared), with status */
  readonly revisions: Revision[]
  readonly state: ConfigurationState
}

interface Candidate {
  readonly rev: Revision
  readonly generation: number
  readonly ready: Readiness
}

/**
 * @param declared Revisions written in the input with label serving.knative.dev/configuration=<this config>
 */
export function reconcileConfiguration(cfg: Configuration, prev: ConfigurationState | undefined, declared: readonly Revision[], ctx: ConfigContext): ConfigOutcome {
  const { name, namespace } = cfg.metadata
  const template = cfg.spec.template
  const hash = hashOf(template)
  const generation = prev === undefined ? 1 : prev.templateHash === hash ? prev.generation : prev.generation + 1
  const byoName = template.metadata?.name || undefined
  let stored: StoredRevision[] = [...(prev?.revisions ?? [])]

  // 1. Find or create the revision of the current generation.
  let current: string | undefined
  let createError: string | undefined
  const existing = stored.find((r) => r.generation === generation)
  if (existing !== undefined) {
    current = existing.name
  } else {
    const wanted = byoName ?? revisionNameFor(name, generation)
    const own = stored.find((r) => r.name === wanted)
    const holder = own !== undefined ? `it is generation ${own.generation} of this configuration` : ctx.nameTaken(wanted)
    if (byoName !== undefined && !byoName.startsWith(`${name}-`)) {
      createError = `spec.template.metadata.name ${JSON.stringify(byoName)} must start with "${name}-"`
    } else if (declared.some((r) => r.metadata.name === wanted)) {
      current = wanted
    } else if (holder !== undefined) {
      createError = `revisions.serving.knative.dev ${JSON.stringify(wanted)} already exists (${holder}); ` +
        'a template change needs a new spec.template.metadata.name'
    } else {
      const created: StoredRevision = { name: wanted, generation, templateHash: hash, template: structuredClone(template), createdAt: ctx.now }
      // The folder is fixed when the revision is created; its snapshot is recorded once built (control/build).
      const source = template.metadata?.annotations?.[SOURCE_ANNOTATION]
      if (source !== undefined && ctx.declaredIn !== undefined && template.metadata?.annotations?.[UPSTREAM_ANNOTATION] === undefined) {
        const ownCommand = (servingContainer(template.spec ?? {})?.command?.length ?? 0) > 0
        created.source = { dir: resolve(dirname(ctx.declaredIn), source), ...(ownCommand ? { command: true } : {}) }
      }
      stored.push(created)
      current = wanted
    }
  }

  // 2. Keep the history bounded: the newest revisions plus any still in use.
  const lrrBefore = prev?.latestReadyRevisionName
  const keep = new Set([current, lrrBefore, ...ctx.pinned])
  stored = stored
    .sort((a, b) => b.generation - a.generation)
    .filter((r, i) => i < RETAINED_REVISIONS || keep.has(r.name))
    .sort((a, b) => a.generation - b.generation)

  const owner = { namespace, configuration: name, service: cfg.metadata.labels[SERVICE_LABEL] }
  const candidates: Candidate[] = [
    ...stored.map((r) => makeRevision(owner, r.name, r.generation, r.template, r.createdAt, ctx.settings)),
    ...declared,
  ].map((rev) => ({
    rev,
    // A declared revision chosen by name stands for the current generation.
    generation: rev.metadata.name === current ? generation : generationOf(rev),
    ready: ctx.readiness(rev),
  }))
  if (createError !== undefined && current === undefined) {
    // Knative leaves latestCreatedRevisionName where it was; the newest existing revision is that.
    current = [...candidates].sort((a, b) => b.generation - a.generation)[0]?.rev.metadata.name
  }

  // 3. latestReady: the newest ready revision between the previous latest-ready and now.
  const lrrPrev = candidates.find((c) => c.rev.metadata.name === lrrBefore)
  const floor = lrrPrev?.generation ?? Number.NEGATIVE_INFINITY
  const newestReady = candidates
    .filter((c) => c.generation >= floor && c.generation <= generation)
    .sort((a, b) => byoFirst(a, b, byoName) || b.generation - a.generation)
    .find((c) => c.ready.status === 'True')
  const latestReady = newestReady?.rev.metadata.name ?? lrrPrev?.rev.metadata.name

  const ready = readyCondition(ctx.now, createError, candidates.find((c) => c.rev.metadata.name === current), latestReady)
  const status: Record<string, unknown> = { observedGeneration: generation, conditions: [ready] }
  if (current !== undefined) status.latestCreatedRevisionName = current
  if (latestReady !== undefined) status.latestReadyRevisionName = latestReady

  const state: ConfigurationState = { generation, templateHash: hash, revisions: stored }
  if (latestReady !== undefined) state.latestReadyRevisionName = latestReady
  return {
    configuration: { ...cfg, metadata: { ...cfg.metadata, generation }, status },
    revisions: candidates.map((c) => withRevisionStatus(c.rev, c.ready)),
    state,
  }
}

function readyCondition(now: string, createError: string | undefined, latestCreated: Candidate | undefined, latestReady: string | undefined): Condition {
  if (createError !== undefined) {
    return condition('Ready', 'False', now, 'RevisionFailed', `Revision creation failed with message: ${createError}.`)
  }
  if (latestCreated === undefined) return condition('Ready', 'Unknown', now)
  const r = latestCreated.ready
  const name = latestCreated.rev.metadata.name
  if (r.status === 'False') {
    // Knative's MarkLatestCreatedFailed: traffic stays on the previous latest-ready revision.
    return condition('Ready', 'False', now, 'RevisionFailed', `Revision ${JSON.stringify(name)} failed with message: ${r.message ?? r.reason ?? 'unknown'}.`)
  }
  if (r.status === 'True' && latestReady === name) return condition('Ready', 'True', now)
  // Knative leaves the reason empty here; Sluice passes the revision's on so users see why.
  return condition('Ready', 'Unknown', now, r.reason, r.message)
}

function byoFirst(a: Candidate, b: Candidate, byo: string | undefined): number {
  if (byo === undefined) return 0
  return (a.rev.metadata.name === byo ? -1 : 0) + (b.rev.metadata.name === byo ? 1 : 0)
}

function generationOf(rev: Revision): number {
  const v = Number(rev.metadata.labels?.[CONFIGURATION_GENERATION_LABEL])
  return Number.isInteger(v) && v > 0 ? v : 0
}

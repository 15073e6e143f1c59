// Revisions: how they are built from a template, defaulted, and judged ready.
import type { Condition, Container, Revision, RevisionSpec, RevisionTemplate } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import type { UpstreamProtocol } from '../model.ts'
import { condition, withReady } from './status.ts'
import { CONFIGURATION_GENERATION_LABEL, CONFIGURATION_LABEL, SERVICE_LABEL, SOURCE_ANNOTATION, UPSTREAM_ANNOTATION } from './names.ts'

export interface Readiness {
  readonly status: Condition['status']
  readonly reason?: string
  readonly message?: string
  /** ResourcesAvailable, ContainerHealthy, Ready and Active, sorted by type */
  readonly conditions: readonly Condition[]
  /** where requests go when ready (from sluice.dev/upstream) */
  readonly origins: readonly string[]
  /** run by the local runtime: instances are pushed to the gateway as they become ready */
  readonly managed?: boolean
  readonly replicas?: { readonly desired: number; readonly actual: number }
  /** a Ready revision whose new instances the runtime reports failing (crash loop, progress deadline) */
  readonly failure?: { readonly reason: string; readonly message: string }
}

/** What the local process runtime and the autoscaler know about a revision with a command. */
export interface RuntimeView {
  /** an instance has passed its readiness probe at least once: the revision is Ready */
  readonly everReady: boolean
  readonly ready: number
  readonly desired: number
  readonly failure?: { readonly reason: string; readonly message: string }
  /** initial-scale is 0: the revision is ready without an instance, and starts one on demand */
  readonly startsAtZero?: boolean
  /** Knative's PodAutoscaler Active condition */
  readonly active?: { readonly status: Condition['status']; readonly reason?: string; readonly message?: string }
}

export interface ReadinessContext {
  readonly now?: string
  /** config-defaults max-revision-timeout-seconds; timeouts above it make the revision fail */
  readonly maxRevisionTimeoutSeconds?: number
  /** the runtime's view of revisions it runs, by `namespace/name` */
  readonly runtime?: (key: string) => RuntimeView | undefined
  /** builds of revisions with sluice.dev/source, by `namespace/name` (Knative Build's BuildSucceeded) */
  readonly build?: (key: string) => BuildStatus | undefined
}

/** A source build as the revision's BuildSucceeded condition shows it. */
export interface BuildStatus {
  readonly status: Condition['status']
  readonly reason?: string
  readonly message?: string
}

/** Knative's serving container: the only one, else the one that declares ports, else the first. */
export function servingContainer(spec: RevisionSpec): Container | undefined {
  const cs = spec.containers ?? []
  return cs.length === 1 ? cs[0] : cs.find((c) => (c.ports?.length ?? 0) > 0) ?? cs[0]
}

/** The first port's name selects the protocol (`h2c`), as in Knative's Revision.GetProtocol. */
export function revisionProtocol(rev: Revision): UpstreamProtocol {
  return servingContainer(rev.spec)?.ports?.[0]?.name === 'h2c' ? 'h2c' : 'http1'
}

/** Parses `http://host:port[,http://…]`; throws with a message naming the bad entry. */
export function parseUpstreams(value: string): string[] {
  const out: string[] = []
  for (const raw of value.split(',')) {
    const s = raw.trim()
    if (s === '') continue
    let u: URL
    try {
      u = new URL(s)
    } catch {
      throw new Error(`${JSON.stringify(s)} is not a URL; expected http://host:port`)
    }
    if (u.protocol !== 'http:' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '') {
      throw new Error(`${JSON.stringify(s)} must be a plain http://host:port origin (no path, query or credentials)`)
    }
    if (!out.includes(u.origin)) out.push(u.origin)
  }
  if (out.length === 0) throw new Error('the list is empty; expected http://host:port[,http://host:port…]')
  return out
}

/**
 * The one place that decides whether a revision can take traffic. Today: fixed upstreams are
 * Ready; a container command waits for the local process runtime (a later piece); anything else
 * has nowhere to send requests.
 */
export function revisionReadiness(rev: Revision, ctx: ReadinessContext = {}): Readiness {
  const now = ctx.now ?? ''
  const key = `${rev.metadata.namespace}/${rev.metadata.name}`
  // sluice.dev/source: the build comes first; until it succeeded nothing runs (Knative Build's BuildSucceeded)
  // (a fixed upstream wins over a source: nothing is built for it)
  const source = rev.metadata.annotations?.[UPSTREAM_ANNOTATION] === undefined ? rev.metadata.annotations?.[SOURCE_ANNOTATION] : undefined
  const build = source !== undefined ? ctx.build?.(key) : undefined
  const built = build?.status === 'True'
  const buildCond = source === undefined ? []
    : [condition('BuildSucceeded', build?.status ?? 'Unknown', now, build?.reason ?? 'Building', build?.message ?? `waiting for the build of ${source}`)]
  const make = (status: Condition['status'], reason?: string, message?: string, origins: string[] = []): Readiness => {
    const healthy = status === 'True' ? condition('ContainerHealthy', 'True', now) : condition('ContainerHealthy', 'Unknown', now, reason, message)
    const conditions = withReady(
      [...buildCond, condition('ResourcesAvailable', status, now, reason, message), healthy],
      now,
      [status === 'True' ? condition('Active', 'True', now) : condition('Active', status === 'False' ? 'False' : 'Unknown', now, reason, message)],
    ).map((c) => (now === '' ? stripTime(c) : c))
    return { status, reason, message, conditions, origins }
  }
  const max = ctx.maxRevisionTimeoutSeconds
  for (const key of ['timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds'] as const) {
    const v = rev.spec[key]
    if (max !== undefined && typeof v === 'number' && (v < 0 || v > max)) {
      return make('False', 'InvalidTimeout', `spec.${key} is ${v}; it must be between 0 and max-revision-timeout-seconds (${max})`)
    }
  }
  const upstream = rev.metadata.annotations?.[UPSTREAM_ANNOTATION]
  if (upstream !== undefined) {
    try {
      return make('True', undefined, undefined, parseUpstreams(upstream))
    } catch (err) {
      return make('False', 'InvalidUpstream', `annotation ${UPSTREAM_ANNOTATION}: ${(err as Error).message}`)
    }
  }
  if (buildCond.length > 0 && !built) {
    return build?.status === 'False' ? make('False', 'BuildFailed', build.message) : make('Unknown', 'Building', buildCond[0]!.message)
  }
  const command = servingContainer(rev.spec)?.command
  if (built || (command !== undefined && command.length > 0)) {
    const view = ctx.runtime?.(key)
    const replicas = { desired: view?.desired ?? 0, actual: view?.ready ?? 0 }
    if (view?.everReady === true || (view?.startsAtZero === true && view.failure === undefined)) {
      // Ready stays true at zero instances: a ready revision can be scaled to zero (Active says so).
      const active = view.active ?? (view.ready > 0 ? { status: 'True' as const } : { status: 'False' as const, reason: 'NoTraffic', message: 'The target is not receiving traffic.' })
      const conditions = withReady(
        [...buildCond, condition('ResourcesAvailable', 'True', now), condition('ContainerHealthy', 'True', now)],
        now,
        [condition('Active', active.status, now, active.reason, active.message)],
      ).map((c) => (now === '' ? stripTime(c) : c))
      return { status: 'True', conditions, origins: [], managed: true, replicas, ...(view.failure !== undefined ? { failure: view.failure } : {}) }
    }
    if (view?.failure !== undefined) {
      return { ...make('False', view.failure.reason, view.failure.message), managed: true, replicas }
    }
    return { ...make('Unknown', 'Deploying', 'waiting for the first instance to pass its readiness probe'), managed: true, replicas }
  }
  const image = servingContainer(rev.spec)?.image
  return make('False', 'NoUpstream', image !== undefined && image !== ''
    ? `revision ${rev.metadata.name} has an image but no command: Sluice pulls no images; give the container the command ` +
      `the image would run, or add the annotation ${UPSTREAM_ANNOTATION}: http://host:port to spec.template.metadata.annotations`
    : `revision ${rev.metadata.name} has nothing to send requests to: add the annotation ${UPSTREAM_ANNOTATION}: http://host:port ` +
      'to spec.template.metadata.annotations, or give the container a command so Sluice runs it as a local process')
}

function stripTime(c: Condition): Condition {
  const { lastTransitionTime: _, ...rest } = c
  return rest
}

/** Knative's RevisionSpec.SetDefaults for the fields Sluice uses. */
export function defaultRevisionSpec(spec: RevisionSpec, s: Settings): RevisionSpec {
  const out: RevisionSpec = { ...spec, containers: spec.containers ?? [] }
  if (out.timeoutSeconds === undefined) out.timeoutSeconds = s.revisionTimeoutSeconds
  const timeout = out.timeoutSeconds
  // Defaults below are written only when non-zero and shorter than the overall timeout.
  if (out.responseStartTimeoutSeconds === undefined && s.revisionResponseStartTimeoutSeconds !== 0 && s.revisionResponseStartTimeoutSeconds < timeout) {
    out.responseStartTimeoutSeconds = s.revisionResponseStartTimeoutSeconds
  }
  if (out.idleTimeoutSeconds === undefined && s.revisionIdleTimeoutSeconds !== 0 && s.revisionIdleTimeoutSeconds < timeout) {
    out.idleTimeoutSeconds = s.revisionIdleTimeoutSeconds
  }
  if (out.containerConcurrency === undefined) out.containerConcurrency = s.containerConcurrency
  return out
}

export interface RevisionOwner {
  readonly namespace: string
  readonly configuration: string
  readonly service?: string
}

/** A Revision object for one generation of a configuration's template. */
export function makeRevision(owner: RevisionOwner, name: string, generation: number, template: RevisionTemplate, createdAt: string, s: Settings): Revision {
  const labels: Record<string, string> = {
    ...(template.metadata?.labels ?? {}),
    [CONFIGURATION_LABEL]: owner.configuration,
    [CONFIGURATION_GENERATION_LABEL]: String(generation),
  }
  if (owner.service !== undefined) labels[SERVICE_LABEL] = owner.service
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Revision',
    metadata: {
      name,
      namespace: owner.namespace,
      labels,
      annotations: { ...(template.metadata?.annotations ?? {}) },
      creationTimestamp: createdAt,
      generation: 1,
    },
    spec: defaultRevisionSpec(template.spec, s),
  }
}

/** The revision with its computed status (a new object; the input is not changed). */
export function withRevisionStatus(rev: Revision, r: Readiness): Revision {
  return {
    ...rev,
    status: {
      observedGeneration: rev.metadata.generation ?? 1,
      conditions: r.conditions,
      ...(r.replicas !== undefined ? { desiredReplicas: r.replicas.desired, actualReplicas: r.replicas.actual } : {}),
    },
  }
}

// Why a declared host cannot be served right now, in one line: the answer the gateway gives with
// 503 and Retry-After instead of `404 no route for host` (and instead of a wait that ends in 504
// when the runtime already knows the revision is failing). The one place this wording is made:
// Route hosts without an ingress (their revision is starting, failed, or has nothing to run) and
// ready revisions whose instances stopped coming up both get their line here.
import type { Revision, Route } from '../resources/types.ts'
import type { Settings } from '../settings/types.ts'
import type { UnavailableHost } from '../model.ts'
import type { RouteHosts } from './domains.ts'
import { expandedHosts } from './domains.ts'
import { UPSTREAM_ANNOTATION } from './names.ts'
import { servingContainer } from './revision.ts'
import type { TargetError, TrafficLookup } from './route.ts'
import { getCondition } from './status.ts'

/** Longer messages (a crash's last output) are cut here: the line is an answer, not a log. */
const MAX_LINE = 400

/** One line of at most MAX_LINE characters. */
function oneLine(s: string): string {
  const line = s.replace(/\s*[\r\n]+\s*/g, ' ').trim()
  return line.length <= MAX_LINE ? line : `${line.slice(0, MAX_LINE - 1)}…`
}

/** A revision the runtime reports failing: `revision hello-00001 failed: ExitCode1: …`. */
export function revisionFailedLine(name: string, reason: string | undefined, message: string | undefined): string {
  const why = [reason, message].filter((x) => x !== undefined && x !== '').join(': ')
  return oneLine(why === '' ? `revision ${name} failed` : `revision ${name} failed: ${why}`)
}

/** Why a revision that is not Ready takes no requests; undefined when it is Ready. */
export function revisionLine(rev: Revision): string | undefined {
  const ready = getCondition(rev, 'Ready')
  const name = rev.metadata.name
  if (ready?.status === 'True') return undefined
  if (ready === undefined || ready.status === 'Unknown') return `revision ${name} is starting`
  if (ready.reason === 'NoUpstream') {
    const image = servingContainer(rev.spec)?.image
    return image !== undefined && image !== ''
      ? `revision ${name} has an image but no command: add command or ${UPSTREAM_ANNOTATION}`
      : `revision ${name} has no command: add command or ${UPSTREAM_ANNOTATION}`
  }
  return revisionFailedLine(name, ready.reason, ready.message)
}

/**
 * The revision that keeps the Route from being served: the first traffic target that is not
 * ready, in spec order (for a configuration target: its latest created revision, when it has
 * no ready one to fall back on).
 */
function blockingRevision(route: Route, lookup: TrafficLookup): Revision | undefined {
  for (const tt of route.spec.traffic ?? []) {
    let name = tt.revisionName
    if (!name && tt.configurationName) {
      const cfg = lookup.configuration(tt.configurationName)
      if (cfg === undefined || cfg.status?.latestReadyRevisionName) continue
      name = cfg.status?.latestCreatedRevisionName as string | undefined
    }
    if (!name) continue
    const rev = lookup.revision(name)
    if (rev !== undefined && getCondition(rev, 'Ready')?.status !== 'True') return rev
  }
  return undefined
}

export interface RouteUnavailableInput {
  readonly route: Route
  readonly hosts: RouteHosts
  /** why traffic could not be assigned (Knative's AllTrafficAssigned reason and message) */
  readonly error: TargetError | undefined
  readonly lookup: TrafficLookup
  readonly settings: Settings
}

/**
 * Every host of a Route that has no ingress (no ready traffic), with the line it answers: the
 * default host and each tag's, public and cluster-local as its ingress would have them.
 */
export function routeUnavailable(i: RouteUnavailableInput): UnavailableHost[] {
  const { route, hosts } = i
  const key = `${route.metadata.namespace}/${route.metadata.name}`
  const reason = i.error?.reason ?? ((route.spec.traffic ?? []).length === 0 ? 'NoTraffic' : 'RevisionMissing')
  const rev = blockingRevision(route, i.lookup)
  const message = (rev !== undefined ? revisionLine(rev) : undefined)
    ?? oneLine(`route ${key} is not ready: ${reason}${i.error !== undefined ? `: ${i.error.message}` : ': spec.traffic is empty'}`)
  const out: UnavailableHost[] = []
  const tags = new Set([''])
  for (const tt of route.spec.traffic ?? []) if (tt.tag) tags.add(tt.tag)
  for (const tag of tags) {
    try {
      if (!hosts.clusterLocal) out.push({ host: hosts.external(tag)!, visibility: 'ExternalIP', route: key, reason, message })
      for (const host of expandedHosts(hosts.local(tag), i.settings.clusterDomain)) out.push({ host, visibility: 'ClusterLocal', route: key, reason, message })
    } catch {
      // a tag whose host name cannot be made: the Route's status says so
    }
  }
  return out
}

// `sluice get`, `sluice describe service`, `sluice logs`: kn-like views of a running Sluice, read
// through its admin API. Columns and wording follow `kn service list`, `kn revision list`,
// `kn route list`, `kubectl get king`, `kn broker list`, `kn trigger list`, `kn source ping list`
// and `kn service describe`.
import { parseArgs } from 'node:util'
import { stringify } from 'yaml'
import { AdminClient, DEFAULT_ADMIN } from './admin-client.ts'
import {
  age, condition, conditionCounts, createdAt, listedKind, ofKind, ready, reason, revisionTraffic, serviceOf, sinkText, table as textTable,
  type Condition, type ListedKind, type ResourcesDocument, type ViewObject,
} from './resources-view.ts'

export const KN_COMMANDS = new Set(['get', 'describe', 'logs'])

export const KN_HELP = `  sluice get services|revisions|routes|ingresses|brokers|triggers|pingsources [-n NS | -A]
             [-o table|json|yaml] [--no-headers] [--admin URL]
  sluice describe service NAME [-n NS] [--admin URL]
  sluice logs SERVICE|REVISION [-n NS] [-f] [--tail N] [--admin URL]
`

export const KN_HELP_DETAIL = `get        List objects of a running Sluice like kn: services (NAME URL LATEST AGE CONDITIONS
           READY REASON), revisions (with their TRAFFIC and TAGS), routes, ingresses, brokers,
           triggers (BROKER and SINK), pingsources (SCHEDULE and SINK).
           -n NS (default "default"), -A for every namespace; -o json|yaml prints the objects;
           --no-headers leaves the column names out.
describe   A Service: URL, revisions with traffic and tags, ready state, instances,
           concurrency, conditions.
logs       What a revision's processes (or every revision of a Service) wrote; -f follows.
           These commands read the admin API: --admin URL (default ${DEFAULT_ADMIN}), and the
           token from SLUICE_ADMIN_TOKEN when the server has one.
`

interface Out { write(s: string): unknown }

export async function runKnCommand(argv: string[], out: Out = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      output: { type: 'string', short: 'o' },
      admin: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      'no-headers': { type: 'boolean' },
    },
  })
  const [command, ...rest] = positionals
  const client = new AdminClient(values.admin ?? process.env.SLUICE_ADMIN ?? DEFAULT_ADMIN)
  const namespace = values['all-namespaces'] ? null : (values.namespace ?? 'default')
  switch (command) {
    case 'get': {
      const kind = rest[0] === undefined ? undefined : listedKind(rest[0])
      if (kind === undefined) throw new UsageError(`get what? services, revisions, routes, ingresses, brokers, triggers or pingsources${rest[0] === undefined ? '' : `, not ${JSON.stringify(rest[0])}`}`)
      const format = values.output ?? 'table'
      if (!['table', 'json', 'yaml'].includes(format)) throw new UsageError(`-o must be table, json or yaml, got ${JSON.stringify(format)}`)
      const doc = await client.json<ResourcesDocument>('/debug/resources')
      const objects = ofKind(doc, kind, namespace)
      if (format !== 'table') {
        const list = { apiVersion: 'v1', kind: 'List', items: objects }
        out.write(format === 'json' ? JSON.stringify(list, null, 2) + '\n' : stringify(list))
        return 0
      }
      if (objects.length === 0) {
        out.write(`No ${kind} found${namespace === null ? '' : ` in namespace ${namespace}`}.\n`)
        return 0
      }
      out.write(listTable(kind, objects, ofKind(doc, 'services', null), namespace === null, values['no-headers'] !== true))
      return 0
    }
    case 'describe': {
      const what = rest[0] === undefined ? undefined : listedKind(rest[0])
      const name = rest[1]
      if (what !== 'services' || name === undefined) throw new UsageError('describe service NAME')
      const ns = namespace ?? 'default'
      const doc = await client.json<ResourcesDocument>('/debug/resources')
      const svc = ofKind(doc, 'services', ns).find((o) => o.metadata.name === name)
      if (svc === undefined) throw new Error(`no service ${name} in namespace ${ns}; \`sluice get services -A\` lists them`)
      const instances = await client.json<{ revisions?: Record<string, InstancesView> }>('/debug/instances')
      const autoscaler = await client.json<Record<string, AutoscalerView>>('/debug/autoscaler')
      out.write(describeService(svc, ofKind(doc, 'revisions', ns).filter((r) => serviceOf(r) === name), instances.revisions ?? {}, autoscaler))
      return 0
    }
    case 'logs': {
      const name = rest[0]
      if (name === undefined) throw new UsageError('logs SERVICE|REVISION')
      const ns = namespace ?? 'default'
      const tail = values.tail ?? '100'
      if (!/^\d+$/.test(tail)) throw new UsageError(`--tail must be a whole number, got ${JSON.stringify(tail)}`)
      const doc = await client.json<ResourcesDocument>('/debug/resources')
      const revisions = ofKind(doc, 'revisions', ns)
      const named = revisions.filter((r) => r.metadata.name === name || serviceOf(r) === name).map((r) => `${ns}/${r.metadata.name}`)
      if (named.length === 0) throw new Error(`no service or revision ${name} in namespace ${ns}; \`sluice get revisions -n ${ns}\` lists them`)
      const query = named.map((r) => `revision=${encodeURIComponent(r)}`).join('&') + `&tail=${tail}${values.follow ? '&follow=1' : ''}`
      const body = await client.stream(`/debug/logs?${query}`)
      let pending = ''
      for await (const chunk of body) {
        pending += chunk.toString('utf8')
        let nl: number
        while ((nl = pending.indexOf('\n')) !== -1) {
          const l = JSON.parse(pending.slice(0, nl)) as { instance: string; line: string }
          pending = pending.slice(nl + 1)
          out.write(`[${l.instance}] ${l.line}\n`)
        }
      }
      return 0
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

export class UsageError extends Error {}

function listTable(kind: ListedKind, objects: readonly ViewObject[], services: readonly ViewObject[], withNamespace: boolean, withHead: boolean): string {
  const ns = (o: ViewObject): string[] => withNamespace ? [o.metadata.namespace] : []
  const table = (head: readonly string[], rows: readonly (readonly string[])[]): string => textTable(head, rows, withHead)
  const nsHead = withNamespace ? ['NAMESPACE'] : []
  switch (kind) {
    case 'services':
      return table([...nsHead, 'NAME', 'URL', 'LATEST', 'AGE', 'CONDITIONS', 'READY', 'REASON'], objects.map((o) => [
        ...ns(o), o.metadata.name, o.status?.url ?? '', o.status?.latestReadyRevisionName ?? '', age(createdAt(o)), conditionCounts(o), ready(o), reason(o),
      ]))
    case 'revisions':
      return table([...nsHead, 'NAME', 'SERVICE', 'TRAFFIC', 'TAGS', 'GENERATION', 'AGE', 'CONDITIONS', 'READY', 'REASON'], objects.map((o) => {
        const owner = services.filter((s) => s.metadata.namespace === o.metadata.namespace && s.metadata.name === serviceOf(o))
        const { percent, tags } = revisionTraffic(o, owner)
        return [
          ...ns(o), o.metadata.name, serviceOf(o), percent > 0 ? `${percent}%` : '', tags.join(','),
          o.metadata.labels?.['serving.knative.dev/configurationGeneration'] ?? '', age(createdAt(o)), conditionCounts(o), ready(o), reason(o),
        ]
      }))
    case 'routes':
      return table([...nsHead, 'NAME', 'URL', 'READY'], objects.map((o) => [...ns(o), o.metadata.name, o.status?.url ?? '', ready(o)]))
    case 'ingresses':
      return table([...nsHead, 'NAME', 'READY', 'REASON'], objects.map((o) => [...ns(o), o.metadata.name, ready(o), reason(o)]))
    case 'brokers':
      return table([...nsHead, 'NAME', 'URL', 'AGE', 'CONDITIONS', 'READY', 'REASON'], objects.map((o) => [
        ...ns(o), o.metadata.name, o.status?.address?.url ?? '', age(createdAt(o)), conditionCounts(o), ready(o), reason(o),
      ]))
    case 'triggers':
      return table([...nsHead, 'NAME', 'BROKER', 'SINK', 'AGE', 'CONDITIONS', 'READY', 'REASON'], objects.map((o) => [
        ...ns(o), o.metadata.name, String(o.spec?.broker ?? ''), sinkText(o.spec?.subscriber), age(createdAt(o)), conditionCounts(o), ready(o), reason(o),
      ]))
    case 'pingsources':
      return table([...nsHead, 'NAME', 'SCHEDULE', 'SINK', 'AGE', 'CONDITIONS', 'READY', 'REASON'], objects.map((o) => [
        ...ns(o), o.metadata.name, String(o.spec?.schedule ?? ''), sinkText(o.spec?.sink), age(createdAt(o)), conditionCounts(o), ready(o), reason(o),
      ]))
  }
}

interface InstancesView { desired?: number; ready?: number; starting?: number; instances?: { id: string; state: string; inflight?: number }[] }
interface AutoscalerView { containerConcurrency?: number; stableAverage?: number; panic?: boolean; desired?: number; scale?: number }

function describeService(svc: ViewObject, revisions: readonly ViewObject[], instances: Record<string, InstancesView>, autoscaler: Record<string, AutoscalerView>): string {
  const lines: string[] = []
  const field = (k: string, v: string): void => { lines.push(`${(k + ':').padEnd(12)}${v}`) }
  field('Name', svc.metadata.name)
  field('Namespace', svc.metadata.namespace)
  field('Age', age(createdAt(svc)))
  field('URL', svc.status?.url ?? '')
  lines.push('', 'Revisions:')
  const byName = new Map(revisions.map((r) => [r.metadata.name, r]))
  const traffic = svc.status?.traffic ?? []
  const shown = new Set<string>()
  for (const t of traffic) {
    const name = t.revisionName ?? ''
    const rev = byName.get(name)
    shown.add(name)
    const label = t.latestRevision ? `@latest (${name})` : name
    const tag = t.tag ? ` #${t.tag}` : ''
    lines.push(`  ${`${t.percent ?? 0}%`.padStart(4)}  ${label}${tag}${rev ? ` [${rev.metadata.labels?.['serving.knative.dev/configurationGeneration'] ?? '?'}] (${age(createdAt(rev))})` : ''}`)
    // a tag's own URL (as served: /debug/resources gives it with the public port), as kn prints it
    if (t.tag && t.url) lines.push(`        URL:          ${t.url}`)
    if (rev !== undefined) lines.push(...revisionDetail(rev, instances, autoscaler))
  }
  for (const rev of revisions) {
    if (shown.has(rev.metadata.name)) continue
    lines.push(`    0%  ${rev.metadata.name} [${rev.metadata.labels?.['serving.knative.dev/configurationGeneration'] ?? '?'}] (${age(createdAt(rev))})`)
    lines.push(...revisionDetail(rev, instances, autoscaler))
  }
  lines.push('', 'Conditions:', '  OK TYPE                   AGE REASON')
  for (const c of knConditionOrder(svc.status?.conditions ?? [])) {
    const ok = conditionMark(c)
    lines.push(`  ${ok} ${c.type.padEnd(20)} ${age(c.lastTransitionTime).padStart(5)} ${c.reason ?? ''}${c.message ? ` (${c.message})` : ''}`.trimEnd())
  }
  return lines.join('\n') + '\n'
}

const SEVERITY_RANK: Record<string, number> = { '': 0, Error: 0, Warning: 1, Info: 2 }

/** kn's order in `describe`: Ready first, then by severity (Error, Warning, Info), then by type. */
export function knConditionOrder(conditions: readonly Condition[]): Condition[] {
  return [...conditions].sort((a, b) => {
    if (a.type === 'Ready' || b.type === 'Ready') return a.type === b.type ? 0 : a.type === 'Ready' ? -1 : 1
    const rank = (SEVERITY_RANK[a.severity ?? ''] ?? 0) - (SEVERITY_RANK[b.severity ?? ''] ?? 0)
    return rank !== 0 ? rank : a.type < b.type ? -1 : a.type > b.type ? 1 : 0
  })
}

/** kn's OK column: ++ True; a False one by its severity (!! error, W warning, I info); ?? Unknown. */
export function conditionMark(c: Condition): string {
  if (c.status === 'True') return '++'
  if (c.status !== 'False') return '??'
  return c.severity === 'Warning' ? ' W' : c.severity === 'Info' ? ' I' : '!!'
}

function revisionDetail(rev: ViewObject, instances: Record<string, InstancesView>, autoscaler: Record<string, AutoscalerView>): string[] {
  const key = `${rev.metadata.namespace}/${rev.metadata.name}`
  const inst = instances[key]
  const scale = autoscaler[key]
  const out: string[] = []
  const r = condition(rev, 'Ready')
  out.push(`        Ready:        ${r?.status ?? 'Unknown'}${r?.status !== 'True' && r?.reason ? ` ${r.reason}${r.message ? `: ${r.message}` : ''}` : ''}`)
  const up = inst?.ready ?? rev.status?.actualReplicas ?? 0
  const want = inst?.desired ?? rev.status?.desiredReplicas ?? 0
  out.push(`        Instances:    ${up}/${Math.max(want, 0)}${inst?.starting ? ` (${inst.starting} starting)` : ''}`)
  const inflight = (inst?.instances ?? []).reduce((n, i) => n + (i.inflight ?? 0), 0)
  const cc = scale?.containerConcurrency
  out.push(`        Concurrency:  ${inflight} in flight${cc ? `, limit ${cc} per instance` : ''}${scale?.stableAverage !== undefined ? `, average ${scale.stableAverage.toFixed(1)}` : ''}${scale?.panic ? ' (panic)' : ''}`)
  return out
}

// Load YAML as the file source does, then reconcile and compile eventing, for the status and compile tables.
import { load } from '../sources/fixtures/load-helpers.ts'
import { formatError } from '../../../control/sources/format-error.ts'
import { readSettings } from '../../../control/settings/read-settings.ts'
import { reconcile, type ReconcileOutput } from '../../../control/reconcile/index.ts'
import { compileEventing } from '../../../control/compile/eventing.ts'
import type { Condition, KObject } from '../../../control/resources/types.ts'
import type { EventingTable } from '../../../gateway/eventing/types.ts'

export const NOW = new Date('2026-03-01T12:00:00.000Z')
export const ORIGIN = 'http://127.0.0.1:18081'

export function run(...docs: string[]): { out: ReconcileOutput; table: EventingTable } {
  const r = load(docs.join('---\n'))
  if (r.errors.length > 0) throw new Error(r.errors.map(formatError).join('\n'))
  const s = readSettings(r.resources.configMaps)
  if (s.errors.length > 0) throw new Error(s.errors.map(formatError).join('\n'))
  const out = reconcile({ resources: r.resources, settings: s.settings, state: { version: 1, configurations: {} }, now: NOW, internalOrigin: ORIGIN })
  return { out, table: compileEventing(out.eventing, s.settings, 7) }
}

export function obj(out: ReconcileOutput, kind: string, name: string, ns = 'default'): KObject & { status: Record<string, unknown> } {
  const o = out.objects.find((x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === ns)
  if (o === undefined) throw new Error(`${kind} ${ns}/${name} not in the output`)
  return o as KObject & { status: Record<string, unknown> }
}

/** `Type=Status[/Reason][: message]` per condition, in Knative's (sorted) order */
export function conds(o: KObject): string[] {
  return ((o.status?.conditions ?? []) as Condition[]).map((c) =>
    `${c.type}=${c.status}${c.reason !== undefined ? `/${c.reason}` : ''}${c.message !== undefined ? `: ${c.message}` : ''}`)
}

export const broker = (name: string, extra: string[] = []): string =>
  ['apiVersion: eventing.knative.dev/v1', 'kind: Broker', 'metadata:', `  name: ${name}`, ...extra, ''].join('\n')

export const trigger = (name: string, spec: string[], meta: string[] = []): string =>
  ['apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata:', `  name: ${name}`, ...meta, 'spec:', ...spec.map((l) => `  ${l}`), ''].join('\n')

export const ksvc = (name: string): string =>
  ['apiVersion: serving.knative.dev/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  template:', '    spec:',
    '      containers:', '        - image: ghcr.io/me/app', ''].join('\n')

export const configSluice = (data: Record<string, string>): string =>
  ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-sluice', 'data:', ...Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`), ''].join('\n')

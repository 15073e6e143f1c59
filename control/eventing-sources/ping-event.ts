// The CloudEvent a PingSource sends on each tick, as knative/eventing pkg/adapter/mtping/runner.go
// makeEvent + cronTick build it: type dev.knative.sources.ping, source
// /apis/v1/namespaces/<ns>/pingsources/<name>, a fresh UUID id, time = when it is sent,
// datacontenttype = spec.contentType, data = spec.data or decoded spec.dataBase64, ceOverrides as extensions.
import { randomUUID } from 'node:crypto'
import type { PingSource } from '../resources/eventing.ts'
import type { OutgoingEvent } from './sender.ts'

export const PING_EVENT_TYPE = 'dev.knative.sources.ping'

/** sourcesv1.PingSourceSource */
export function pingSourceSource(namespace: string, name: string): string {
  return `/apis/v1/namespaces/${namespace}/pingsources/${name}`
}

/** What every tick shares, computed once per configuration. */
export interface PingTemplate {
  readonly attributes: Readonly<Record<string, string>>
  readonly data: Buffer | null
}

export function pingTemplate(ps: PingSource): PingTemplate {
  const attributes: Record<string, string> = {}
  // extensions first: they may not replace the required attributes below
  for (const [k, v] of Object.entries(ps.spec.ceOverrides?.extensions ?? {})) attributes[k.toLowerCase()] = v
  attributes['specversion'] = '1.0'
  attributes['type'] = PING_EVENT_TYPE
  attributes['source'] = pingSourceSource(ps.metadata.namespace, ps.metadata.name)
  let data: Buffer | null = null
  if (ps.spec.dataBase64) data = Buffer.from(ps.spec.dataBase64, 'base64')
  else if (ps.spec.data) data = Buffer.from(ps.spec.data, 'utf8')
  if (ps.spec.contentType) attributes['datacontenttype'] = ps.spec.contentType
  return { attributes, data }
}

/** One tick's event: the template plus a fresh id and the send time (RFC 3339). */
export function pingEvent(t: PingTemplate, now: number): OutgoingEvent {
  return { attributes: { ...t.attributes, id: randomUUID(), time: new Date(now).toISOString() }, data: t.data }
}

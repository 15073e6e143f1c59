// cloudevents/conformance v1 cases (test/fixtures/cloudevents-conformance, copied from the Go
// tool's yaml/) replayed against the broker ingress the way `cloudevents invoke` sends them
// (pkg/http/http.go: binary → ce-* headers without percent-encoding, structured → JSON with `data`
// embedded raw, Content-Type `application/cloudevents+json; charset=UTF-8`), received at a sink
// behind a trigger and compared with `cloudevents diff` subset semantics: every attribute and
// extension the case names arrives with the same value (additions such as knativearrivaltime are
// allowed). Transport extensions (user-agent) are not compared: a broker forwards only its
// pass-through headers (eventing.md §1.8).
import t from 'tap'
import type { Test } from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { decodeHeaderValue, isJsonType } from '../../../gateway/eventing/cloudevent-http.ts'
import { broker, dest, gatewayWith, post, sink, table, trigger } from './helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/cloudevents-conformance')

interface Case {
  file: string
  Mode?: string
  ContextAttributes: Record<string, string> & { Extensions?: Record<string, string> }
  TransportExtensions?: Record<string, string>
  Data?: string
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f)
    return statSync(p).isDirectory() ? files(p) : f.endsWith('.yaml') ? [p] : []
  })
}

// failsafe: every scalar stays a string (`specversion: 1.0` is "1.0", not the number 1)
const cases: Case[] = files(DIR).flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => ({ file: path.relative(DIR, f), ...(d.toJS({}) as object) } as Case)))
  .filter((c) => c.ContextAttributes !== undefined)
const reparsed = files(DIR).flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8'), { schema: 'failsafe' }).map((d) => d.toJS() as Case)).filter((c) => c?.ContextAttributes !== undefined)
for (let i = 0; i < cases.length; i++) cases[i] = { ...reparsed[i]!, file: cases[i]!.file }

const ATTRS = ['specversion', 'type', 'time', 'id', 'source', 'subject', 'schemaurl', 'dataschema']

function binaryRequest(c: Case): { headers: Record<string, string>; body: string } {
  const a = c.ContextAttributes
  const headers: Record<string, string> = {}
  for (const k of ATTRS) if (a[k]) headers['ce-' + k] = String(a[k]).trim()
  if (a.datacontenttype) headers['content-type'] = a.datacontenttype
  for (const [k, v] of Object.entries(a.Extensions ?? {})) headers['ce-' + k] = String(v).trim()
  for (const [k, v] of Object.entries(c.TransportExtensions ?? {})) headers[k] = v
  return { headers, body: c.Data ?? '' }
}

function structuredRequest(c: Case): { headers: Record<string, string>; body: string } | null {
  if (c.Data !== undefined && !isJson(c.Data)) return null // the Go tool embeds Data raw: JSON only
  const a = c.ContextAttributes
  const parts: string[] = []
  for (const k of [...ATTRS, 'datacontenttype']) if (a[k] && String(a[k]).trim() !== '') parts.push(`${JSON.stringify(k)}:${JSON.stringify(String(a[k]).trim())}`)
  for (const [k, v] of Object.entries(a.Extensions ?? {})) parts.push(`${JSON.stringify(k)}:${JSON.stringify(String(v).trim())}`)
  if (c.Data !== undefined) parts.push(`"data":${c.Data}`)
  return { headers: { 'content-type': 'application/cloudevents+json; charset=UTF-8', ...c.TransportExtensions }, body: `{${parts.join(',')}}` }
}

function isJson(s: string): boolean {
  try { JSON.parse(s); return true } catch { return false }
}

/** `cloudevents diff` subset check of what the sink got against the case. */
function diff(t: Test, c: Case, got: { headers: Record<string, unknown>; body: Buffer }, what: string): void {
  const a = c.ContextAttributes
  const attr = (k: string) => {
    const v = got.headers['ce-' + k]
    return v === undefined ? undefined : decodeHeaderValue(String(v))
  }
  for (const k of ATTRS) if (a[k]) t.equal(attr(k), String(a[k]).trim(), `${what}: ${k}`)
  if (a.datacontenttype) t.equal(got.headers['content-type'], a.datacontenttype, `${what}: datacontenttype`)
  for (const [k, v] of Object.entries(a.Extensions ?? {})) t.equal(attr(k), String(v).trim(), `${what}: extension ${k}`)
  if (c.Data !== undefined) {
    const body = got.body.toString('utf8')
    if ((a.datacontenttype === undefined || isJsonType(a.datacontenttype)) && isJson(c.Data)) t.same(JSON.parse(body), JSON.parse(c.Data), `${what}: data (JSON)`)
    else t.equal(body, c.Data, `${what}: data`)
  }
}


t.test('conformance cases replayed in binary and structured mode', async (t) => {
  t.ok(cases.length >= 8, `${cases.length} cases read`)
  const sub = await sink()
  const { internalPort } = await gatewayWith(table([broker('conformance/default', [trigger('all', dest(sub.url), { namespace: 'conformance', broker: 'conformance/default' })])]))
  let n = 0
  for (const c of cases) {
    const requests: [string, { headers: Record<string, string>; body: string } | null][] = [['binary', binaryRequest(c)], ['structured', structuredRequest(c)]]
    for (const [mode, req] of requests) {
      if (req === null) continue
      const what = `${c.file} ${c.ContextAttributes.id} (${mode})`
      const r = await post(internalPort, '/conformance/default', req.headers, req.body)
      t.equal(r.status, 202, `${what}: accepted`)
      n++
      await waitFor(() => sub.seen.length === n, { what: `${what} delivered` })
      diff(t, c, sub.seen[n - 1]!, what)
    }
  }
})

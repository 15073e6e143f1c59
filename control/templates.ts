// A tiny evaluator for the Go text/template forms Knative's domain-template and tag-template
// use. Not a template engine: only field references and `index` over two maps are understood,
// so a template that parses here is one Knative would evaluate the same way.

export type TemplateField = 'Name' | 'Namespace' | 'Domain' | 'Tag' | 'Annotations' | 'Labels'

export interface TemplateValues {
  Name?: string
  Namespace?: string
  Domain?: string
  Tag?: string
  Annotations?: Readonly<Record<string, string>>
  Labels?: Readonly<Record<string, string>>
}

type Part =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'field'; readonly field: 'Name' | 'Namespace' | 'Domain' | 'Tag' }
  /** `.Labels.x` fails when x is absent (Go prints `<no value>`); `index` yields '' (Go's zero value) */
  | { readonly kind: 'map'; readonly map: 'Annotations' | 'Labels'; readonly key: string; readonly viaIndex: boolean }

export interface Template {
  readonly source: string
  readonly parts: readonly Part[]
  /** every field the template reads, e.g. Name, Labels */
  readonly fields: ReadonlySet<TemplateField>
}

export class TemplateError extends Error {
  override name = 'TemplateError'
}

const SCALARS = new Set(['Name', 'Namespace', 'Domain', 'Tag'])
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Parses `src`, allowing only references to `allowed` fields. Throws TemplateError. */
export function parseTemplate(src: string, allowed: readonly TemplateField[]): Template {
  const parts: Part[] = []
  const fields = new Set<TemplateField>()
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    if (open === -1) {
      parts.push({ kind: 'text', text: src.slice(i) })
      break
    }
    if (open > i) parts.push({ kind: 'text', text: src.slice(i, open) })
    const close = src.indexOf('}}', open + 2)
    if (close === -1) throw new TemplateError(`unclosed action starting at offset ${open}: ${JSON.stringify(src.slice(open))}`)
    const action = src.slice(open + 2, close).trim()
    const part = parseAction(action)
    const field = part.kind === 'field' ? part.field : part.kind === 'map' ? part.map : undefined
    if (field !== undefined && !allowed.includes(field)) {
      throw new TemplateError(`{{${action}}} is not available here; allowed: ${allowed.map((f) => `.${f}`).join(', ')}`)
    }
    if (field !== undefined) fields.add(field)
    parts.push(part)
    i = close + 2
  }
  return { source: src, parts, fields }
}

function parseAction(action: string): Part {
  const unsupported = () => new TemplateError(
    `unsupported template action {{${action}}}; Sluice understands {{.Name}}, {{.Namespace}}, {{.Domain}}, {{.Tag}}, ` +
    '{{.Annotations.key}}, {{.Labels.key}}, {{index .Annotations "key"}} and {{index .Labels "key"}}')
  if (action.startsWith('.')) {
    const path = action.slice(1).split('.')
    if (path.length === 1 && SCALARS.has(path[0]!)) return { kind: 'field', field: path[0] as 'Name' }
    if (path.length === 2 && (path[0] === 'Annotations' || path[0] === 'Labels') && IDENT.test(path[1]!)) {
      return { kind: 'map', map: path[0], key: path[1]!, viaIndex: false }
    }
    throw unsupported()
  }
  const m = /^index\s+\.(Annotations|Labels)\s+("(?:[^"\\]|\\.)*"|`[^`]*`)$/.exec(action)
  if (m !== null) {
    const lit = m[2]!
    let key: string
    try {
      key = lit.startsWith('`') ? lit.slice(1, -1) : JSON.parse(lit) as string
    } catch {
      throw new TemplateError(`bad string literal ${lit} in {{${action}}}`)
    }
    return { kind: 'map', map: m[1] as 'Annotations' | 'Labels', key, viaIndex: true }
  }
  throw unsupported()
}

/** Evaluates a parsed template. Throws TemplateError when a dotted map key is absent. */
export function renderTemplate(t: Template, v: TemplateValues): string {
  let out = ''
  for (const p of t.parts) {
    if (p.kind === 'text') out += p.text
    else if (p.kind === 'field') out += v[p.field] ?? ''
    else {
      const value = v[p.map]?.[p.key]
      if (value === undefined && !p.viaIndex) {
        throw new TemplateError(`${p.map.toLowerCase().replace(/s$/, '')} "${p.key}" used by template ${JSON.stringify(t.source)} is not set`)
      }
      out += value ?? ''
    }
  }
  return out
}

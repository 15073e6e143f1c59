// Parse one file's text into YAML documents, keeping the node tree so that any field path of a
// document can be mapped back to a 1-based line and column for error messages.
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml'
import type { Document, Node as YamlNode } from 'yaml'
import type { ConfigError } from '../resources/types.ts'

export type FieldPath = readonly (string | number)[]

export interface Position { line: number; column: number }

export interface ParsedDocument {
  /** index of the document in its file, 0-based, counting empty documents too */
  readonly index: number
  /** the document as plain JS data (mappings are objects, sequences arrays) */
  readonly value: unknown
  /** where the document's content starts */
  readonly line: number
  readonly column: number
  /**
   * Where a field path points: the value for scalars, the key for collections (or for any value
   * when `atKey`), else the nearest parent that exists.
   */
  locate(path: FieldPath, atKey?: boolean): Position
}

export interface ParsedFile {
  /** non-empty documents without syntax errors, in file order */
  readonly documents: ParsedDocument[]
  /** syntax errors (a document with one is left out of `documents`) */
  readonly errors: ConfigError[]
}

export function parseYamlFile(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter()
  const documents: ParsedDocument[] = []
  const errors: ConfigError[] = []
  const at = (offset: number): Position => {
    const p = lineCounter.linePos(offset)
    return { line: p.line, column: p.col }
  }
  // `merge` because kubectl (go-yaml) honours `<<` merge keys; pretty errors off so the message
  // stays one line and we compute the position ourselves.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, merge: true })
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push({ file, ...at(e.pos[0]), path: '', message: `invalid YAML: ${e.message}` })
      return
    }
    const root = doc.contents
    if (root === null || (isScalar(root) && root.value === null)) return // empty document
    const start = at(root.range?.[0] ?? 0)
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: 100 })
    } catch (err) {
      errors.push({ file, ...start, path: '', message: `invalid YAML: ${(err as Error).message}` })
      return
    }
    documents.push({
      index, value, line: start.line, column: start.column,
      locate: (path, atKey = false) => at(locateOffset(doc, root, path, atKey)),
    })
  })
  return { documents, errors }
}

/** Offset in the text that `path` points at; falls back to the deepest ancestor that exists. */
function locateOffset(doc: Document, root: YamlNode, path: FieldPath, atKey: boolean): number {
  let node: unknown = root
  let offset = root.range?.[0] ?? 0
  let keyOffset: number | undefined // set when the last step went through a mapping key
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc)
    if (isMap(node) && typeof seg === 'string') {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg)
      if (pair === undefined) return offset
      keyOffset = isScalar(pair.key) ? (pair.key.range?.[0] ?? offset) : offset
      offset = keyOffset
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg]
      if (item === undefined || item === null) return offset
      keyOffset = undefined
      node = item
      offset = rangeStart(item) ?? offset
    } else {
      return offset
    }
  }
  // A scalar value is where the mistake is; a collection (or an empty value) is best shown at its key.
  if (!atKey && isScalar(node) && node.value !== null) return node.range?.[0] ?? offset
  if (keyOffset === undefined) return rangeStart(node) ?? offset
  return keyOffset
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] } | null)?.range
  return r?.[0]
}

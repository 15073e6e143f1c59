// Load a directory (or given texts) of Knative YAML into one ResourceSet plus located errors.
// A `kind: List` document contributes each of its items.
// Only objects without errors are kept; whether a bad load replaces the last good state is the
// caller's decision.
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { emptyResourceSet } from '../resources/types.ts'
import type { ConfigError, KObject, ResourceSet, SourceRef } from '../resources/types.ts'
import { Issues, checkFields, formatPath, isObj, missing, readList, readMap } from './fields.ts'
import { validateDocument } from './validate.ts'
import { parseYamlFile } from './yaml-documents.ts'
import type { FieldPath, ParsedDocument } from './yaml-documents.ts'

export interface LoadResult {
  resources: ResourceSet
  errors: ConfigError[]
  /** the files read, in load order */
  files: string[]
}

export interface SourceText { file: string; text: string }

/** Pure: parses and validates `files` in the order given (declaration order follows it). */
export function loadFiles(files: readonly SourceText[]): LoadResult {
  const resources = emptyResourceSet()
  const errors: ConfigError[] = []
  const firstSeen = new Map<string, SourceRef>()
  for (const { file, text } of files) {
    const parsed = parseYamlFile(file, text.startsWith('\uFEFF') ? text.slice(1) : text)
    const fileErrors = [...parsed.errors]
    for (const doc of parsed.documents) {
      for (const entry of documentEntries(file, doc, fileErrors)) {
        // Paths are the object's own (as in later errors about it); the position tells List items apart.
        const { locate } = entry
        const at = (path: FieldPath, atKey?: boolean): Omit<ConfigError, 'message'> =>
          ({ file, ...locate(path, atKey), path: formatPath(path) })
        const start = locate([])
        const source = sourceRef(file, doc.index, start.line, start.column, locate)
        const v = validateDocument(entry.value, { file, doc: doc.index, ...(entry.item !== undefined ? { item: entry.item } : {}) })
        const docErrors: ConfigError[] = v.issues.map((i) => ({ ...at(i.path, i.atKey), message: i.message }))
        if (v.identity !== undefined) {
          const first = firstSeen.get(v.identity)
          if (first === undefined) {
            firstSeen.set(v.identity, source)
          } else {
            const [, kind, ns, name] = v.identity.split('/')
            docErrors.push({
              ...at(['metadata', 'name']),
              message: `duplicate ${kind} ${ns}/${name}, first declared at ${first.file}:${first.line}; rename one of them`,
            })
          }
        }
        if (docErrors.length > 0 || v.object === undefined || v.bucket === undefined) {
          fileErrors.push(...docErrors)
          continue
        }
        const object: KObject = v.object
        object.source = source
        ;(resources[v.bucket] as KObject[]).push(object)
      }
    }
    // syntax errors and document errors in reading order
    fileErrors.sort((a, b) => a.line - b.line || a.column - b.column)
    errors.push(...fileErrors)
  }
  return { resources, errors, files: files.map((f) => f.file) }
}

interface DocumentEntry {
  readonly value: unknown
  /** index in a `kind: List`'s items, undefined for a plain document */
  readonly item?: number
  readonly locate: ParsedDocument['locate']
}

/**
 * The objects a document declares: itself, or each of its `items` when it is a `kind: List` (what
 * `kubectl get -o yaml` prints), every item loaded as if it were its own document.
 */
function documentEntries(file: string, doc: ParsedDocument, errors: ConfigError[]): DocumentEntry[] {
  const v = doc.value
  if (!isObj(v) || v['apiVersion'] !== 'v1' || v['kind'] !== 'List') return [{ value: v, locate: doc.locate }]
  const is = new Issues()
  checkFields(is, v, [], ['apiVersion', 'kind', 'metadata', 'items'])
  readMap(is, v['metadata'], ['metadata'])
  const items = readList(is, v['items'], ['items'])
  if (items === undefined) missing(is, v['items'], ['items'], 'a List holds its objects in items: [...]')
  for (const i of is.list) errors.push({ file, ...doc.locate(i.path, i.atKey), path: formatPath(i.path), message: i.message })
  return (items ?? []).map((value, item) => ({
    value, item,
    locate: (path, atKey) => doc.locate(['items', item, ...path], atKey),
  }))
}

/**
 * Reads every `*.yaml`/`*.yml` under `dir` (recursively, sorted by path; hidden files and editor
 * leftovers skipped). `dir` may also name a single file. Never throws for user mistakes.
 */
export function loadDirectory(dir: string): LoadResult {
  const texts: SourceText[] = []
  const errors: ConfigError[] = []
  let isDir: boolean
  try {
    isDir = statSync(dir).isDirectory()
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'config directory does not exist; create it or point --config at another directory'
      : `cannot read config directory: ${(err as Error).message}`
    return { resources: emptyResourceSet(), errors: [{ file: dir, line: 1, column: 1, path: '', message }], files: [] }
  }
  const paths = isDir ? listYamlFiles(dir, errors) : [dir]
  for (const file of paths) {
    try {
      texts.push({ file, text: readFileSync(file, 'utf8') })
    } catch (err) {
      // A file that vanished between listing and reading was deleted or renamed mid-save: the
      // watcher will reload again once the directory settles.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      errors.push({ file, line: 1, column: 1, path: '', message: `cannot read file: ${(err as Error).message}` })
    }
  }
  const result = loadFiles(texts)
  result.errors.unshift(...errors)
  return result
}

/** whether a directory entry is a config file rather than a hidden file or an editor leftover */
export function isConfigFileName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('#') || name.endsWith('~')) return false
  return /\.ya?ml$/i.test(name)
}

function listYamlFiles(dir: string, errors: ConfigError[]): string[] {
  const out: string[] = []
  const visited = new Set<string>()
  const walk = (d: string): void => {
    let real: string
    try { real = realpathSync(d) } catch { return }
    if (visited.has(real)) return // a symlink loop
    visited.add(real)
    let names: string[]
    try {
      names = readdirSync(d)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        errors.push({ file: d, line: 1, column: 1, path: '', message: `cannot read directory: ${(err as Error).message}` })
      }
      return
    }
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue // hidden, including Kubernetes' ..data ConfigMap mount dirs
      const full = join(d, name)
      let st
      try { st = statSync(full) } catch { continue } // broken symlink or deleted meanwhile
      if (st.isDirectory()) walk(full)
      else if (st.isFile() && isConfigFileName(name)) out.push(full)
    }
  }
  walk(dir)
  // sorted by full path so declaration order does not depend on how directories nest
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

function sourceRef(file: string, doc: number, line: number, column: number, locate: SourceRef['locate']): SourceRef {
  // toJSON keeps /debug output readable: the position instead of a function-less object
  return { file, doc, line, column, locate, toJSON: () => `${file}:${line}:${column}` } as SourceRef
}

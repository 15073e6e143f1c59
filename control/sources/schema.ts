// A declarative shape for nested manifest fields (a PodSpec, a core Service spec) and one walker
// that checks it: every unknown field is a located error with a did-you-mean or moved-field hint,
// every known field has the right type. Rules beyond shape (ranges with meaning, required fields,
// cross-field checks) stay in the per-kind validators; the same readers report a shared mistake once.
import {
  checkFields, describe, formatPath, readBool, readInt, readIntOrString, readList, readMap, readString, readStringList, readStringMap,
} from './fields.ts'
import type { Issues } from './fields.ts'
import type { FieldPath } from './yaml-documents.ts'

export type Leaf =
  | 'string' | 'bool' | 'intOrString' | 'strings' | 'stringMap'
  /** an integer >= 0 */
  | 'int'
  /** a Kubernetes quantity: `500m`, `1Gi` or a plain number */
  | 'quantity'
  /** a mapping whose content Sluice does not look at (affinity, volume sources…) */
  | 'map'
  /** a list whose content Sluice does not look at (tolerations…) */
  | 'list'
export interface IntShape { readonly int: readonly [min: number, max: number] }
export interface ObjectShape { readonly fields: Readonly<Record<string, Shape>> }
export interface ListShape { readonly items: Shape }
/** a mapping with free keys whose values all have one shape */
export interface MapShape { readonly values: Shape }
export type Shape = Leaf | IntShape | ObjectShape | ListShape | MapShape

export const obj = (fields: Record<string, Shape>): ObjectShape => ({ fields })
export const list = (items: Shape): ListShape => ({ items })
export const mapOf = (values: Shape): MapShape => ({ values })
export const int = (min: number, max: number): IntShape => ({ int: [min, max] })

/** the object around the one being checked, for "it belongs one level up" hints */
interface Parent { readonly shape: ObjectShape; readonly path: FieldPath }

/** Checks `v` at `path` against `shape`; absent (or null) values are fine at every level. */
export function checkShape(is: Issues, v: unknown, path: FieldPath, shape: Shape, parent?: Parent): void {
  if (typeof shape === 'string') return checkLeaf(is, v, path, shape)
  if ('int' in shape) { readInt(is, v, path, shape.int[0], shape.int[1]); return }
  if ('items' in shape) {
    readList(is, v, path)?.forEach((item, i) => checkShape(is, item, [...path, i], shape.items, parent))
    return
  }
  const m = readMap(is, v, path)
  if (m === undefined) return
  if ('values' in shape) {
    for (const [k, val] of Object.entries(m)) checkShape(is, val, [...path, k], shape.values)
    return
  }
  checkFields(is, m, path, Object.keys(shape.fields), (key) => placement(key, shape, path, parent))
  for (const [k, child] of Object.entries(shape.fields)) {
    if (k in m) checkShape(is, m[k], [...path, k], child, { shape, path })
  }
}

function checkLeaf(is: Issues, v: unknown, path: FieldPath, leaf: Leaf): void {
  switch (leaf) {
    case 'string': readString(is, v, path); return
    case 'bool': readBool(is, v, path); return
    case 'int': readInt(is, v, path, 0); return
    case 'intOrString': readIntOrString(is, v, path); return
    case 'strings': readStringList(is, v, path); return
    case 'stringMap': readStringMap(is, v, path, 'values'); return
    case 'map': readMap(is, v, path); return
    case 'list': readList(is, v, path); return
    case 'quantity':
      if (v !== undefined && v !== null && typeof v !== 'string' && typeof v !== 'number') {
        is.add(path, `must be a quantity such as 500m, 128Mi or 2, got ${describe(v)}`)
      }
  }
}

/**
 * Where an unknown `key` belongs if a neighbouring object has it: the parent first (a revision
 * field written in a container), then a child (`env` written beside `containers`).
 */
function placement(key: string, shape: ObjectShape, path: FieldPath, parent: Parent | undefined): string | undefined {
  if (parent?.shape.fields[key] !== undefined) return `it belongs one level up, in ${formatPath(parent.path) || 'the top level'}; move it there`
  for (const [name, child] of Object.entries(shape.fields)) {
    if (objectOf(child)?.fields[key] === undefined) continue
    const where = formatPath([...path, name])
    return typeof child !== 'string' && 'items' in child
      ? `it belongs one level down, in each entry of ${where}; move it there`
      : `it belongs one level down, in ${where}; move it there`
  }
  return undefined
}

function objectOf(s: Shape): ObjectShape | undefined {
  if (typeof s === 'string') return undefined
  if ('fields' in s) return s
  if ('items' in s && typeof s.items !== 'string' && 'fields' in s.items) return s.items
  return undefined
}

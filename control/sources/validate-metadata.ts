// metadata: names (or generateName), namespace defaulting, labels and annotations.
import { createHash } from 'node:crypto'
import type { ObjectMeta } from '../resources/types.ts'
import { Issues, absent, checkFields, missing, readInt, readMap, readString, readStringMap } from './fields.ts'
import type { Obj } from './fields.ts'
import { checkLabelValue, checkName, checkQualifiedKey, dns1123Label } from './names.ts'
import type { NameRule } from './names.ts'
import type { FieldPath } from './yaml-documents.ts'

/** where a document came from; seeds generated names so they are stable across reloads */
export interface DocContext {
  readonly file: string
  readonly doc: number
  /** index in a `kind: List`'s items */
  readonly item?: number
}

export interface MetaResult {
  readonly meta: ObjectMeta
  /** the name was derived from metadata.generateName */
  readonly generated: boolean
}

export const DEFAULT_NAMESPACE = 'default'

/** ObjectMeta fields a manifest may carry (server-set ones included, for pasted `kubectl get -o yaml`) */
export const META_FIELDS = [
  'name', 'generateName', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'ownerReferences', 'finalizers',
  'managedFields', 'selfLink',
] as const

export function readMetadata(is: Issues, raw: Obj, ctx: DocContext, rule: NameRule): MetaResult {
  const path = ['metadata']
  const m = readMap(is, raw['metadata'], path)
  if (m === undefined) {
    missing(is, raw['metadata'], path, 'every object needs metadata.name')
    return { meta: { name: '', namespace: DEFAULT_NAMESPACE, labels: {}, annotations: {} }, generated: false }
  }
  checkFields(is, m, path, META_FIELDS)
  let namespace = readString(is, m['namespace'], [...path, 'namespace']) ?? ''
  if (namespace === '') namespace = DEFAULT_NAMESPACE
  else nameError(is, [...path, 'namespace'], dns1123Label(namespace))

  let name = readString(is, m['name'], [...path, 'name']) ?? ''
  const generateName = readString(is, m['generateName'], [...path, 'generateName'])
  let generated = false
  if (name !== '') {
    nameError(is, [...path, 'name'], checkName(rule, name))
  } else if (generateName !== undefined && generateName !== '') {
    name = generatedName(namespace, generateName, ctx)
    generated = true
    const bad = checkName(rule, name)
    if (bad !== undefined) is.add([...path, 'generateName'], `generates invalid names: ${bad}`)
  } else if (typeof m['name'] === 'string' || absent(m['name'])) {
    is.add([...path, 'name'], 'missing field; give the object a name (or set metadata.generateName)')
  }

  const labels = readStringMap(is, m['labels'], [...path, 'labels'], 'label values') ?? {}
  for (const [k, v] of Object.entries(labels)) {
    nameError(is, [...path, 'labels', k], checkQualifiedKey(k) ?? checkLabelValue(v))
  }
  const annotations = readStringMap(is, m['annotations'], [...path, 'annotations'], 'annotation values') ?? {}
  for (const k of Object.keys(annotations)) nameError(is, [...path, 'annotations', k], checkQualifiedKey(k))

  const meta: ObjectMeta = { name, namespace, labels, annotations }
  if (generateName !== undefined) meta.generateName = generateName
  const creationTimestamp = readString(is, m['creationTimestamp'], [...path, 'creationTimestamp'])
  if (creationTimestamp !== undefined) meta.creationTimestamp = creationTimestamp
  const generation = readInt(is, m['generation'], [...path, 'generation'], 0)
  if (generation !== undefined) meta.generation = generation
  const uid = readString(is, m['uid'], [...path, 'uid'])
  if (uid !== undefined) meta.uid = uid
  const resourceVersion = readString(is, m['resourceVersion'], [...path, 'resourceVersion'])
  if (resourceVersion !== undefined) meta.resourceVersion = resourceVersion
  return { meta, generated }
}

// Kubernetes' suffix alphabet: no vowels (no accidental words) and no look-alike digits.
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'

/**
 * generateName plus 5 characters, like the API server, but derived from a hash of where the
 * object was declared instead of randomness, so a reload does not rename (and redeploy) it.
 */
export function generatedName(namespace: string, generateName: string, ctx: DocContext): string {
  const digest = createHash('sha256').update(`${namespace}\0${generateName}\0${ctx.file}\0${ctx.doc}${ctx.item !== undefined ? `\0${ctx.item}` : ''}`).digest()
  let suffix = ''
  for (let i = 0; i < 5; i++) suffix += ALPHABET[digest[i]! % ALPHABET.length]
  return generateName.slice(0, 58) + suffix
}

function nameError(is: Issues, path: FieldPath, message: string | undefined): void {
  if (message !== undefined) is.add(path, message)
}

// `sluice.dev/source: ./app` on a revision template: a folder, relative to the YAML file, that
// Sluice builds into a snapshot when the revision is created (control/build). Checked at load
// time so a typo is a located error, not a failed build later.
import { statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Issues } from './fields.ts'
import type { FieldPath } from './yaml-documents.ts'
import { CLUSTER_FILE_PREFIX } from './kubernetes/cluster-objects.ts'

/** Whether the annotation is present (valid or not, so the container rules it relaxes add no more errors). */
export function checkSource(is: Issues, annotations: Record<string, string>, path: FieldPath, file: string | undefined): boolean {
  const value = annotations[path[path.length - 1] as string]
  if (value === undefined) return false
  if (file === undefined || file.startsWith(CLUSTER_FILE_PREFIX)) {
    is.add(path, 'is only understood in YAML files given to sluice serve --config (the folder is relative to the file); in a cluster, name an image')
    return true
  }
  if (value.trim() === '') {
    is.add(path, 'is empty; name the app\'s folder relative to this file, e.g. ./app')
    return true
  }
  const dir = resolve(dirname(file), value)
  let isDir = false
  try { isDir = statSync(dir).isDirectory() } catch { isDir = false }
  if (!isDir) is.add(path, `folder ${JSON.stringify(value)} (${dir}) does not exist; create it or fix the path (it is relative to ${file})`)
  return true
}

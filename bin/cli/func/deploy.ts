// `sluice func deploy DIR --config CONFIGDIR`: writes or updates CONFIGDIR/<name>.yaml, a Knative
// Service for the function. Every deploy changes the revision template (annotation
// sluice.dev/deployed-at), so a running `sluice serve --config CONFIGDIR` rolls out a new revision;
// everything else in the file (traffic, tags, env, other documents) is kept as the user left it.
// The file names the function by sluice.dev/source, relative to the file, and nothing else: the
// build sees func.yaml and starts Sluice's function runtime on the snapshot (control/build/
// function-builder.ts), so CONFIGDIR and DIR can move or be committed together.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Document, isMap, isSeq, parseAllDocuments, type YAMLMap, type YAMLSeq } from 'yaml'
import { UsageError } from '../kn-commands.ts'
import { isRuntimeCommand } from '../../../control/functions/runtimes.ts'
import { SOURCE_ANNOTATION } from '../../../control/reconcile/names.ts'
import { readFuncYaml } from './project.ts'

export const DEPLOYED_AT_ANNOTATION = 'sluice.dev/deployed-at'
/** What earlier deploys wrote (an absolute path), removed on the next deploy. */
const FUNCTION_DIR_ENV = 'SLUICE_FUNCTION_DIR'

export interface DeployResult { name: string; file: string; created: boolean }

export function deployFunction(dirArg: string, configArg: string, now: Date = new Date()): DeployResult {
  const dir = path.resolve(dirArg)
  const func = readFuncYaml(dir)
  const configDir = path.resolve(configArg)
  mkdirSync(configDir, { recursive: true })
  const file = path.join(configDir, `${func.name}.yaml`)
  const created = !existsSync(file)
  const docs: Document[] = created ? [] : [parseAllDocuments(readFileSync(file, 'utf8'))].flat() as Document[]
  for (const d of docs) {
    if (!(d instanceof Document)) throw new UsageError(`${file}: not a YAML stream sluice func deploy can update; fix it or remove it`)
    if (d.errors.length > 0) throw new UsageError(`${file}: ${d.errors[0]!.message}; fix the file or remove it to deploy anew`)
  }
  let doc = docs.find((d) => d.get('kind') === 'Service' && d.getIn(['metadata', 'name']) === func.name)
  if (doc === undefined) {
    doc = new Document({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: func.name }, spec: { template: { metadata: { annotations: {} }, spec: { containers: [{}] } } } })
    doc.commentBefore = ` Written by \`sluice func deploy\` for the function in ${path.relative(configDir, dir) || '.'} (${func.runtime}).\n` +
      ` Deploying again updates the template (a new revision) and keeps the rest of this file: add\n traffic, tags or env here. ${SOURCE_ANNOTATION} (relative to this file) is built into a snapshot\n` +
      ` that Sluice's function runtime serves; keep this file and the function folder together.`
    docs.push(doc)
  }
  const source = path.relative(configDir, dir) || '.'
  const tpl = ['spec', 'template']
  const previous = doc.getIn([...tpl, 'metadata', 'annotations', DEPLOYED_AT_ANNOTATION])
  let stamp = now.toISOString()
  if (stamp === previous) stamp = new Date(now.getTime() + 1).toISOString() // two deploys in one millisecond still differ
  doc.setIn([...tpl, 'metadata', 'annotations', SOURCE_ANNOTATION], source.startsWith('.') ? source : `./${source}`)
  doc.setIn([...tpl, 'metadata', 'annotations', DEPLOYED_AT_ANNOTATION], stamp)
  if (!isSeq(doc.getIn([...tpl, 'spec', 'containers'])) || (doc.getIn([...tpl, 'spec', 'containers']) as YAMLSeq).items.length === 0) {
    doc.setIn([...tpl, 'spec', 'containers'], doc.createNode([{}]))
  }
  const container = (doc.getIn([...tpl, 'spec', 'containers']) as YAMLSeq).items[0]
  if (!isMap(container)) throw new UsageError(`${file}: spec.template.spec.containers[0] is not a mapping; fix it or remove the file`)
  // the build starts the runtime; a runtime command an earlier deploy wrote (absolute paths) goes
  const command = container.get('command')
  if (isSeq(command) && isRuntimeCommand(command.toJSON() as unknown[])) container.delete('command')
  removeEnv(container, FUNCTION_DIR_ENV)
  // the runtime's readiness endpoint (locally a process is restarted when it exits, so no liveness
  // probe); a probe the user set is kept
  if (!container.has('readinessProbe')) container.set('readinessProbe', doc.createNode({ httpGet: { path: '/health/readiness' } }))
  const tmp = path.join(configDir, `.${func.name}.yaml.tmp-${process.pid}`)
  writeFileSync(tmp, docs.map((d) => String(d)).join('---\n'))
  renameSync(tmp, file) // the file watcher never sees half a file
  return { name: func.name, file, created }
}

function removeEnv(container: YAMLMap, name: string): void {
  const env = container.get('env')
  if (!isSeq(env)) return
  env.items = env.items.filter((e) => !(isMap(e) && e.get('name') === name))
  if (env.items.length === 0) container.delete('env')
}

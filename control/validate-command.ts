// `sluice validate DIR`: the same load, settings and reconcile as serve, without serving.
import { loadDirectory } from './sources/load.ts'
import { formatError } from './sources/format-error.ts'
import { readSettings } from './settings.ts'
import { reconcile } from './reconcile/index.ts'
import { loadState, emptyState } from './state.ts'
import { readAutoscalerSettings } from './autoscaler/settings.ts'
import { scalingErrors } from './scaling/validate-scaling.ts'
import { PluginRegistry } from './plugins/registry.ts'
import { pluginModules, resolvePlugins } from './plugins/resolve.ts'
import { buildCertTable } from './tls/certificates.ts'

interface Out { write(s: string): unknown }

/** Resolves to the exit code: 0 valid, 1 errors. */
export async function validate(dir: string, stateDir: string, stdout: Out, stderr: Out): Promise<number> {
  const loaded = loadDirectory(dir)
  const errors = [...loaded.errors]
  if (errors.length === 0) {
    const autoscaler = readAutoscalerSettings(loaded.resources.configMaps)
    errors.push(...readSettings(loaded.resources.configMaps).errors, ...autoscaler.errors)
    if (errors.length === 0) errors.push(...scalingErrors(loaded.resources, autoscaler.settings))
    if (errors.length === 0) {
      const registry = new PluginRegistry()
      await registry.load(pluginModules(loaded.resources, registry))
      errors.push(...resolvePlugins(loaded.resources, registry).errors)
    }
    if (errors.length === 0) errors.push(...buildCertTable(loaded.resources).errors)
  }
  if (errors.length > 0) {
    for (const e of errors) stderr.write(formatError(e) + '\n')
    stderr.write(`${errors.length} error${errors.length === 1 ? '' : 's'} in ${dir}\n`)
    return 1
  }
  let state
  try { state = loadState(stateDir) } catch { state = emptyState() }
  const { settings } = readSettings(loaded.resources.configMaps)
  // Revisions with a command are judged as if their first instance became ready, which is what
  // serve would route once it has started them.
  const out = reconcile({ resources: loaded.resources, settings, state, now: new Date(), runtime: () => ({ everReady: true, ready: 0, desired: 0 }) })
  const s = out.summary
  stdout.write(`${dir}: valid — ${loaded.files.length} files, ${s.services} services, ${s.routes} routes, ${s.ingresses} ingresses, ${s.hosts.length} hosts\n`)
  for (const h of s.hosts) stdout.write(`  ${h}\n`)
  return 0
}

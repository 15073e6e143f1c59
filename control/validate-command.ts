// `sluice validate DIR`: the same load, settings and reconcile as serve, without serving.
import { loadDirectory } from './sources/load.ts'
import { configPathProblem } from './sources/config-path.ts'
import { envErrors } from './sources/env-refs.ts'
import { formatError } from './sources/format-error.ts'
import { localRunWarnings } from './sources/local-run-warnings.ts'
import { readSettings } from './settings/read-settings.ts'
import { reconcile, type ReconcileOutput } from './reconcile/index.ts'
import { loadState, emptyState } from './state.ts'
import { readAutoscalerSettings } from './settings/autoscaler.ts'
import { scalingErrors } from './scaling/validate-scaling.ts'
import { outlierAnnotationErrors } from './settings/outlier-keys.ts'
import { PluginRegistry } from './plugins/registry.ts'
import { PluginCreateError, pluginModules, resolvePlugins } from './plugins/resolve.ts'
import { PluginInstances } from './plugins/instances.ts'
import { compile } from './compile/compile.ts'
import { RouteSlots } from '../gateway/metrics/route-slots.ts'
import type { ConfigError, ResourceSet } from './resources/types.ts'
import { buildCertTable } from './tls/certificates.ts'
import { readInternalTrust } from './tls/internal-trust.ts'
import { buildInternalCertTable } from './tls/internal-certificates.ts'
import { CertContextCache } from './tls/context-cache.ts'

interface Out { write(s: string): unknown }

/** Resolves to the exit code: 0 valid, 1 errors. */
export async function validate(dir: string, stateDir: string, stdout: Out, stderr: Out): Promise<number> {
  const problem = configPathProblem(dir)
  if (problem !== undefined) {
    stderr.write(`sluice: ${problem}\n`)
    return 1
  }
  const loaded = loadDirectory(dir)
  const errors = [...loaded.errors]
  if (errors.length === 0) {
    const autoscaler = readAutoscalerSettings(loaded.resources.configMaps)
    errors.push(...readSettings(loaded.resources.configMaps).errors, ...autoscaler.errors)
    if (errors.length === 0) errors.push(...scalingErrors(loaded.resources, autoscaler.settings), ...outlierAnnotationErrors(loaded.resources), ...envErrors(loaded.resources))
    let resolution: ReturnType<typeof resolvePlugins> | undefined
    if (errors.length === 0) {
      const registry = new PluginRegistry()
      await registry.load(pluginModules(loaded.resources, registry))
      resolution = resolvePlugins(loaded.resources, registry)
      errors.push(...resolution.errors)
    }
    if (errors.length === 0) errors.push(...buildCertTable(loaded.resources).errors)
    if (errors.length === 0) {
      const clusterLocalDomainTls = readSettings(loaded.resources.configMaps).settings.clusterLocalDomainTls
      errors.push(...buildInternalCertTable(loaded.resources, { cache: new CertContextCache(), clusterLocalDomainTls }).errors)
    }
    const trust = errors.length === 0 && readSettings(loaded.resources.configMaps).settings.systemInternalTls ? readInternalTrust(loaded.resources) : undefined
    if (trust !== undefined) errors.push(...trust.errors)
    if (errors.length === 0) errors.push(...compileErrors(loaded.resources, stateDir, resolution!, trust?.pem))
  }
  if (errors.length > 0) {
    for (const e of errors) stderr.write(formatError(e) + '\n')
    stderr.write(`${errors.length} error${errors.length === 1 ? '' : 's'} in ${dir}\n`)
    return 1
  }
  const s = reconcileAsServe(loaded.resources, stateDir).summary
  stdout.write(`${dir}: valid — ${loaded.files.length} files, ${s.services} services, ${s.routes} routes, ${s.ingresses} ingresses, ${s.hosts.length} hosts\n`)
  for (const h of s.hosts) stdout.write(`  ${h}\n`)
  const warnings = localRunWarnings(loaded.resources)
  for (const w of warnings) stdout.write(`warning: ${formatError(w)}\n`)
  if (warnings.length > 0) stdout.write(`${warnings.length} warning${warnings.length === 1 ? '' : 's'}: valid, but not everything above runs as it would on Knative (docs/configuration.md#what-sluice-ignores-locally)\n`)
  return 0
}

function reconcileAsServe(resources: ResourceSet, stateDir: string): ReconcileOutput {
  let state
  try { state = loadState(stateDir) } catch { state = emptyState() }
  const { settings } = readSettings(resources.configMaps)
  // Revisions with a command are judged as if their first instance became ready, which is what
  // serve would route once it has started them.
  return reconcile({ resources, settings, state, now: new Date(), runtime: () => ({ everReady: true, ready: 0, desired: 0 }) })
}

/**
 * Compiles the route table as serve would, creating every plugin instance, so that what only
 * create() can find (a key file that cannot be read) is reported here too. The instances are
 * closed again right after.
 */
function compileErrors(resources: ResourceSet, stateDir: string, resolution: ReturnType<typeof resolvePlugins>, internalTrust?: string): ConfigError[] {
  const out = reconcileAsServe(resources, stateDir)
  const silent = { debug() {}, info() {}, warn() {}, error() {} }
  const instances = new PluginInstances(silent)
  instances.begin()
  try {
    compile(out.model, new RouteSlots(), 1,
      (ing) => resolution.forOwner(ing.ownerKind, ing.namespace, ing.name).map((p) => instances.entry(ing.namespace, ing.name, p)),
      internalTrust === undefined ? {} : { internalTrust })
    return []
  } catch (err) {
    if (err instanceof PluginCreateError) return [err.error]
    throw err
  } finally {
    instances.abort()
  }
}

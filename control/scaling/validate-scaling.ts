// autoscaling.knative.dev/* annotations are checked where they are written (Service and
// Configuration templates, declared Revisions), so errors carry file:line:column like any other.
import type { ConfigError, ResourceSet, SourceRef } from '../resources/types.ts'
import type { AutoscalerSettings } from '../autoscaler/config.ts'
import { revisionScaling } from '../settings/autoscaler.ts'

const GROUP = 'autoscaling.knative.dev/'

function locator(source: SourceRef | undefined, prefix: readonly string[]) {
  return (key: string) => {
    const pos = source?.locate([...prefix, key]) ?? { line: 0, column: 0 }
    return { file: source?.file ?? '', line: pos.line, column: pos.column, path: `${prefix.join('.')}[${JSON.stringify(key)}]` }
  }
}

export function scalingErrors(rs: ResourceSet, settings: AutoscalerSettings): ConfigError[] {
  const errors: ConfigError[] = []
  const check = (annotations: Record<string, string> | undefined, cc: number | undefined, source: SourceRef | undefined, prefix: readonly string[]): void => {
    if (annotations === undefined || !Object.keys(annotations).some((k) => k.startsWith(GROUP))) return
    errors.push(...revisionScaling(annotations, cc ?? 0, settings, locator(source, prefix)).errors)
  }
  const templatePath = ['spec', 'template', 'metadata', 'annotations']
  for (const o of [...rs.services, ...rs.configurations]) {
    check(o.spec.template?.metadata?.annotations, o.spec.template?.spec?.containerConcurrency, o.source, templatePath)
  }
  for (const r of rs.revisions) check(r.metadata.annotations, r.spec.containerConcurrency, r.source, ['metadata', 'annotations'])
  return errors
}

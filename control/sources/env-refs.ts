// Secret and ConfigMap references in container env (see resources/env.ts) checked where they are
// written, so a missing object or key is a file:line:column error like any other and keeps the
// last good table.
import type { ConfigError, Container, ResourceSet, SourceRef } from '../resources/types.ts'
import { envObjects, resolveEnv } from '../resources/env.ts'
import { formatPath } from './fields.ts'
import type { FieldPath } from './yaml-documents.ts'

/**
 * Located errors for every reference that cannot be resolved, in the templates of Services and
 * Configurations and in declared Revisions, so a bad reference keeps the last good table.
 */
export function envErrors(rs: ResourceSet): ConfigError[] {
  const objs = envObjects(rs)
  const errors: ConfigError[] = []
  const check = (containers: readonly Container[] | undefined, namespace: string, source: SourceRef | undefined, prefix: FieldPath): void => {
    containers?.forEach((c, i) => {
      for (const p of resolveEnv(c, namespace, objs).problems) {
        const path = [...prefix, 'containers', i, ...p.path]
        const pos = source?.locate(path) ?? { line: 0, column: 0 }
        errors.push({ file: source?.file ?? '', line: pos.line, column: pos.column, path: formatPath(path), message: p.message })
      }
    })
  }
  for (const o of [...rs.services, ...rs.configurations]) check(o.spec.template?.spec?.containers, o.metadata.namespace, o.source, ['spec', 'template', 'spec'])
  for (const r of rs.revisions) check(r.spec.containers, r.metadata.namespace, r.source, ['spec'])
  return errors
}

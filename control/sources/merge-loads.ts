// `--config DIR` with `--kubernetes`: files and cluster objects land in one load. An object both
// declare (same kind, namespace and name) is an error at the file's position: which one to serve
// would otherwise depend on nothing the user can see.
import { emptyResourceSet, type ConfigError, type KObject, type ResourceSet } from '../resources/types.ts'
import type { LoadResult } from './load.ts'
import type { ClusterLoad } from './kubernetes/kubernetes-source.ts'

/** the API group of each kind the cluster source may reject (it validates these as files are) */
const REJECTED_GROUP: Readonly<Record<string, string>> = {
  Ingress: 'networking.internal.knative.dev', Plugin: 'sluice.dev',
  Broker: 'eventing.knative.dev', Trigger: 'eventing.knative.dev', PingSource: 'sources.knative.dev',
}
const identity = (o: KObject): string => `${o.apiVersion.replace(/\/[^/]*$/, '')}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`

export function mergeLoads(files: LoadResult, cluster: ClusterLoad): ClusterLoad {
  const resources: ResourceSet = emptyResourceSet()
  const errors: ConfigError[] = [...files.errors, ...cluster.errors]
  const inCluster = new Set<string>()
  for (const list of Object.values(cluster.resources) as KObject[][]) for (const o of list) inCluster.add(identity(o))
  for (const r of cluster.rejected) inCluster.add(`${REJECTED_GROUP[r.kind] ?? 'sluice.dev'}/${r.kind}/${r.namespace}/${r.name}`)
  for (const key of Object.keys(resources) as (keyof ResourceSet)[]) {
    const fromFiles = files.resources[key] as KObject[]
    for (const o of fromFiles) {
      if (!inCluster.has(identity(o))) continue
      const at = o.source?.locate(['metadata', 'name']) ?? { line: 0, column: 0 }
      errors.push({
        file: o.source?.file ?? '', line: at.line, column: at.column, path: 'metadata.name',
        message: `${o.kind} ${o.metadata.namespace}/${o.metadata.name} also exists in the Kubernetes cluster; an object is either in files or in the cluster: rename or delete one`,
      })
    }
    ;(resources[key] as KObject[]).push(...fromFiles, ...(cluster.resources[key] as KObject[]))
  }
  return { resources, errors, files: files.files, rejected: cluster.rejected }
}

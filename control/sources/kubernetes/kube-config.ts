// Where Sluice finds its cluster, in kubectl's order: --kubeconfig when given; inside a pod, the
// service account client-go's rest.InClusterConfig uses; otherwise $KUBECONFIG or ~/.kube/config.
import { existsSync } from 'node:fs'
import { KubeConfig } from '@kubernetes/client-node'

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig()
  if (file !== undefined) {
    if (!existsSync(file)) throw new Error(`--kubeconfig ${file} does not exist; give the path of a kubeconfig file, or leave the flag out to use the pod's service account or $KUBECONFIG`)
    kc.loadFromFile(file)
  } else if (process.env.KUBERNETES_SERVICE_HOST !== undefined && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster()
  } else {
    kc.loadFromDefault()
  }
  if (kc.getCurrentCluster() === null) {
    throw new Error('no Kubernetes cluster configured: not in a pod, and $KUBECONFIG / ~/.kube/config name no current cluster; pass --kubeconfig FILE')
  }
  return kc
}

// Fields of the core kinds Sluice reads (k8s.io/api core/v1 ServiceSpec, EndpointSubset,
// discovery/v1 Endpoint), for the unknown-field check. Fields Sluice ignores are listed too, so a
// pasted `kubectl get -o yaml` stays valid.
import { int, list, obj } from './schema.ts'
import type { ObjectShape } from './schema.ts'

const PORT = int(1, 65535)
const objectRef = obj({
  kind: 'string', namespace: 'string', name: 'string', uid: 'string', apiVersion: 'string', resourceVersion: 'string', fieldPath: 'string',
})

export const CORE_SERVICE_SPEC: ObjectShape = obj({
  type: 'string',
  ports: list(obj({ name: 'string', protocol: 'string', appProtocol: 'string', port: PORT, targetPort: 'intOrString', nodePort: 'int' })),
  selector: 'stringMap',
  clusterIP: 'string',
  clusterIPs: 'strings',
  externalName: 'string',
  externalIPs: 'strings',
  externalTrafficPolicy: 'string',
  internalTrafficPolicy: 'string',
  sessionAffinity: 'string',
  sessionAffinityConfig: 'map',
  loadBalancerIP: 'string',
  loadBalancerSourceRanges: 'strings',
  loadBalancerClass: 'string',
  allocateLoadBalancerNodePorts: 'bool',
  healthCheckNodePort: 'int',
  publishNotReadyAddresses: 'bool',
  ipFamilies: 'strings',
  ipFamilyPolicy: 'string',
  trafficDistribution: 'string',
})

const ENDPOINT_PORT = obj({ name: 'string', port: PORT, protocol: 'string', appProtocol: 'string' })
const ENDPOINT_ADDRESS = obj({ ip: 'string', hostname: 'string', nodeName: 'string', targetRef: objectRef })

/** Endpoints' top-level `subsets` */
export const ENDPOINT_SUBSETS = list(obj({ addresses: list(ENDPOINT_ADDRESS), notReadyAddresses: list(ENDPOINT_ADDRESS), ports: list(ENDPOINT_PORT) }))

/** EndpointSlice's top-level `endpoints` and `ports` */
export const SLICE_ENDPOINTS = list(obj({
  addresses: 'strings',
  conditions: obj({ ready: 'bool', serving: 'bool', terminating: 'bool' }),
  hostname: 'string',
  targetRef: objectRef,
  nodeName: 'string',
  zone: 'string',
  hints: 'map',
  deprecatedTopology: 'stringMap',
}))
export const SLICE_PORTS = list(ENDPOINT_PORT)

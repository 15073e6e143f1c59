// The Revision spec Knative accepts: a PodSpec subset plus containerConcurrency and the timeouts,
// as masked by knative/serving pkg/apis/serving/fieldmask.go (PodSpecMask, ContainerMask,
// ProbeMask, EnvVarMask…), with every feature-flagged field accepted (podspec-affinity,
// -nodeselector, -securitycontext…). Locally most of it is ignored; listing it keeps a manifest
// that runs on Knative valid here while a typo (`comand`, `envv`) is an error.
import { int, list, mapOf, obj } from './schema.ts'
import type { ObjectShape } from './schema.ts'

const objectRef = obj({ name: 'string', optional: 'bool' })
const keyRef = obj({ name: 'string', key: 'string', optional: 'bool' })
const port = 'intOrString' as const

export const ENV_VAR = obj({
  name: 'string',
  value: 'string',
  valueFrom: obj({
    secretKeyRef: keyRef,
    configMapKeyRef: keyRef,
    fieldRef: obj({ apiVersion: 'string', fieldPath: 'string' }),
    resourceFieldRef: obj({ containerName: 'string', resource: 'string', divisor: 'quantity' }),
  }),
})

export const ENV_FROM = obj({ prefix: 'string', configMapRef: objectRef, secretRef: objectRef })

const PROBE = obj({
  httpGet: obj({ path: 'string', port, host: 'string', scheme: 'string', httpHeaders: list(obj({ name: 'string', value: 'string' })) }),
  tcpSocket: obj({ port, host: 'string' }),
  exec: obj({ command: 'strings' }),
  grpc: obj({ port: int(1, 65535), service: 'string' }),
  initialDelaySeconds: 'int',
  periodSeconds: 'int',
  timeoutSeconds: 'int',
  successThreshold: 'int',
  failureThreshold: 'int',
})

const SECCOMP = obj({ type: 'string', localhostProfile: 'string' })

const CONTAINER = obj({
  name: 'string',
  image: 'string',
  command: 'strings',
  args: 'strings',
  workingDir: 'string',
  env: list(ENV_VAR),
  envFrom: list(ENV_FROM),
  ports: list(obj({ name: 'string', containerPort: int(1, 65535), protocol: 'string' })),
  resources: obj({ limits: mapOf('quantity'), requests: mapOf('quantity') }),
  readinessProbe: PROBE,
  livenessProbe: PROBE,
  startupProbe: PROBE,
  securityContext: obj({
    runAsUser: 'int', runAsGroup: 'int', runAsNonRoot: 'bool', readOnlyRootFilesystem: 'bool',
    allowPrivilegeEscalation: 'bool', capabilities: obj({ add: 'strings', drop: 'strings' }), seccompProfile: SECCOMP,
  }),
  volumeMounts: list(obj({ name: 'string', mountPath: 'string', readOnly: 'bool', subPath: 'string' })),
  imagePullPolicy: 'string',
  terminationMessagePath: 'string',
  terminationMessagePolicy: 'string',
})

export const REVISION_SPEC: ObjectShape = obj({
  containers: list(CONTAINER),
  containerConcurrency: int(0, 1000),
  timeoutSeconds: 'int',
  responseStartTimeoutSeconds: 'int',
  idleTimeoutSeconds: 'int',
  serviceAccountName: 'string',
  automountServiceAccountToken: 'bool',
  enableServiceLinks: 'bool',
  imagePullSecrets: list(obj({ name: 'string' })),
  volumes: list(obj({
    name: 'string', secret: 'map', configMap: 'map', projected: 'map', emptyDir: 'map', persistentVolumeClaim: 'map', csi: 'map', hostPath: 'map',
  })),
  securityContext: obj({
    runAsUser: 'int', runAsGroup: 'int', runAsNonRoot: 'bool', fsGroup: 'int', fsGroupChangePolicy: 'string',
    supplementalGroups: list('int'), seccompProfile: SECCOMP,
  }),
  // feature-flagged scheduling and pod-level fields: accepted, meaningless for local processes
  affinity: 'map',
  nodeSelector: 'stringMap',
  tolerations: 'list',
  topologySpreadConstraints: 'list',
  hostAliases: list(obj({ ip: 'string', hostnames: 'strings' })),
  runtimeClassName: 'string',
  priorityClassName: 'string',
  schedulerName: 'string',
  initContainers: 'list',
  shareProcessNamespace: 'bool',
  hostIPC: 'bool',
  hostPID: 'bool',
  hostNetwork: 'bool',
  dnsPolicy: 'string',
  dnsConfig: 'map',
})

// env[].valueFrom and envFrom: resolved from the Secrets and ConfigMaps of the config directory,
// and every reference that cannot be resolved is a located error unless it is optional.
import t from 'tap'
import { envErrors } from '../../../control/sources/env-refs.ts'
import { envObjects, resolveEnv, withLiteralEnv } from '../../../control/resources/env.ts'
import { formatError } from '../../../control/sources/format-error.ts'
import type { Revision } from '../../../control/resources/types.ts'
import { load, yaml } from './fixtures/load-helpers.ts'

const objects = yaml(
  'apiVersion: v1', 'kind: Secret', 'metadata: {name: db}',
  'data: {password: c2VjcmV0}', //    "secret"
  'stringData: {user: app}',
  '---',
  'apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: app}',
  'data: {LEVEL: debug, color: blue, "not a name": x}',
  '---',
  'apiVersion: v1', 'kind: Secret', 'metadata: {name: db, namespace: other}', 'stringData: {password: elsewhere}',
)

function service(...envLines: string[]): string {
  return yaml(
    'apiVersion: serving.knative.dev/v1', //    1
    'kind: Service', //                         2
    'metadata: {name: hello}', //               3
    'spec:', //                                 4
    '  template:', //                           5
    '    spec:', //                             6
    '      containers:', //                     7
    '        - command: [app]', //              8
    ...envLines, //                             9…
  )
}

t.test('references resolve in Kubernetes order: envFrom, then env; later wins', async (t) => {
  const r = load(service(
    '          envFrom:',
    '            - configMapRef: {name: app}',
    '            - secretRef: {name: db}',
    '              prefix: DB_',
    '          env:',
    '            - {name: LEVEL, value: info}',
    '            - name: PASSWORD',
    '              valueFrom: {secretKeyRef: {name: db, key: password}}',
    '            - name: COLOR',
    '              valueFrom: {configMapKeyRef: {name: app, key: color}}',
    '            - name: MAYBE',
    '              valueFrom: {secretKeyRef: {name: nope, key: x, optional: true}}',
    '            - name: POD',
    '              valueFrom: {fieldRef: {fieldPath: metadata.name}}',
  ) + '---\n' + objects)
  t.same(r.errors, [])
  t.same(envErrors(r.resources), [])
  const objs = envObjects(r.resources)
  const { env, problems } = resolveEnv(r.resources.services[0]!.spec.template.spec.containers[0]!, 'default', objs)
  t.same(problems, [])
  t.same(env, [
    { name: 'LEVEL', value: 'info' },
    { name: 'color', value: 'blue' },
    { name: 'DB_password', value: 'secret' },
    { name: 'DB_user', value: 'app' },
    { name: 'PASSWORD', value: 'secret' },
    { name: 'COLOR', value: 'blue' },
  ], 'optional missing and fieldRef stay unset; invalid names from envFrom are skipped')

  const rev = { apiVersion: 'serving.knative.dev/v1', kind: 'Revision', metadata: { name: 'hello-00001', namespace: 'default', labels: {}, annotations: {} },
    spec: r.resources.services[0]!.spec.template.spec } as Revision
  const literal = withLiteralEnv(rev, objs)
  t.same(literal.spec.containers[0]!.env, env, 'the runtime gets literal values')
  t.equal(literal.spec.containers[0]!.envFrom, undefined)
  t.ok(rev.spec.containers[0]!.env!.some((e) => e.valueFrom !== undefined), 'the input keeps its references')
  const other = resolveEnv({ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }, 'other', objs)
  t.same(other.env, [{ name: 'P', value: 'elsewhere' }], 'the same namespace only')
})

t.test('a missing object or key is a located error unless optional', async (t) => {
  const r = load(service(
    '          envFrom:', //                                                       9
    '            - secretRef: {name: missing}', //                                 10
    '            - configMapRef: {name: missing, optional: true}', //              11
    '          env:', //                                                           12
    '            - name: A', //                                                    13
    '              valueFrom: {secretKeyRef: {name: db, key: pasword}}', //        14
    '            - name: B', //                                                    15
    '              valueFrom: {configMapKeyRef: {name: ap, key: color}}', //       16
    '            - name: C', //                                                    17
    '              valueFrom: {secretKeyRef: {name: db, key: pasword, optional: true}}', // 18
    '            - name: D', //                                                    19
    '              valueFrom: {secretKeyRef: {name: db}}', //                      20
  ) + '---\n' + objects)
  t.same(r.errors, [])
  t.same(envErrors(r.resources).map(formatError), [
    'hello.yaml:10:33 spec.template.spec.containers[0].envFrom[0].secretRef.name: Secret "missing" not found in namespace default; declare it (kind: Secret, namespace: default) in the config directory, or set optional: true',
    'hello.yaml:14:57 spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key: Secret default/db has no key "pasword" (it has password, user); add the key or set optional: true',
    'hello.yaml:16:51 spec.template.spec.containers[0].env[1].valueFrom.configMapKeyRef.name: ConfigMap "ap" not found in namespace default; declare it (kind: ConfigMap, namespace: default) in the config directory, or set optional: true',
    'hello.yaml:20:27 spec.template.spec.containers[0].env[3].valueFrom.secretKeyRef.key: missing field; name the key whose value the variable takes',
  ])
  // declared Revisions are checked too
  const rev = load(yaml('apiVersion: serving.knative.dev/v1', 'kind: Revision', 'metadata: {name: r-1}', 'spec:', '  containers:',
    '    - command: [app]', '      env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]'))
  t.match(envErrors(rev.resources).map(formatError), [/^hello\.yaml:7:56 spec\.containers\[0\]\.env\[0\]\.valueFrom\.secretKeyRef\.name: Secret "s" not found/])
})

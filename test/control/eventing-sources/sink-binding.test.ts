// SinkBinding subjects (by name, by labels; Service, Configuration, Revision) and the env they inject; source statuses.
import t from 'tap'
import { bindingEnv, ceOverridesEnv, withBindingEnv } from '../../../control/eventing-sources/sink-binding.ts'
import { containerSourceWithStatus, pingSourceWithStatus, sinkBindingWithStatus } from '../../../control/reconcile/event-sources.ts'
import type { KObject, Revision } from '../../../control/resources/types.ts'
import type { ContainerSource, PingSource, SinkBinding } from '../../../control/resources/eventing.ts'

const sv = 'serving.knative.dev/v1'
const obj = (kind: string, name: string, labels: Record<string, string> = {}): KObject =>
  ({ apiVersion: sv, kind, metadata: { name, namespace: 'default', labels }, spec: kind === 'Revision' ? { containers: [{ command: ['x'], env: [{ name: 'K_SINK', value: 'mine' }, { name: 'A', value: '1' }] }] } : {} }) as KObject
const binding = (name: string, subject: SinkBinding['spec']['subject'], extensions?: Record<string, string>): SinkBinding =>
  ({ apiVersion: 'sources.knative.dev/v1', kind: 'SinkBinding', metadata: { name, namespace: 'default' }, spec: { subject, sink: {}, ...(extensions ? { ceOverrides: { extensions } } : {}) } }) as SinkBinding

const objects = [
  obj('Service', 'web', { team: 'a' }), obj('Configuration', 'web'), obj('Configuration', 'jobs', { team: 'b' }),
  obj('Revision', 'web-00001', { 'serving.knative.dev/service': 'web', 'serving.knative.dev/configuration': 'web' }),
  obj('Revision', 'jobs-00001', { 'serving.knative.dev/configuration': 'jobs' }),
  obj('Revision', 'lone', { tier: 'x' }),
]

t.test('subjects by name and by labels', async (t) => {
  const env = bindingEnv([
    { binding: binding('b1', { apiVersion: sv, kind: 'Service', namespace: 'default', selector: { matchLabels: { team: 'a' } } }, { k: 'v' }), sinkUrl: 'http://s1' },
    { binding: binding('b2', { apiVersion: sv, kind: 'Configuration', namespace: 'default', name: 'jobs' }), sinkUrl: 'http://s2' },
    { binding: binding('b3', { apiVersion: sv, kind: 'Revision', namespace: 'default', selector: { matchLabels: { tier: 'x' } } }), sinkUrl: 'http://s3' },
  ], objects)
  t.same(Object.fromEntries(env), {
    'default/web-00001': { K_SINK: 'http://s1', K_CE_OVERRIDES: '{"extensions":{"k":"v"}}' },
    'default/jobs-00001': { K_SINK: 'http://s2', K_CE_OVERRIDES: '' },
    'default/lone': { K_SINK: 'http://s3', K_CE_OVERRIDES: '' },
  })
  const bound = withBindingEnv(objects, env).find((o) => o.metadata.name === 'web-00001') as Revision
  t.same(bound.spec.containers[0]!.env, [{ name: 'A', value: '1' }, { name: 'K_SINK', value: 'http://s1' }, { name: 'K_CE_OVERRIDES', value: '{"extensions":{"k":"v"}}' }], 'replaces the container\'s own K_SINK')
  t.equal(ceOverridesEnv({}), '{}')
  t.equal(ceOverridesEnv(undefined), '')
})

t.test('statuses', async (t) => {
  const now = '2026-01-01T00:00:00Z'
  const ok = { ok: true as const, destination: { url: 'http://sink', connectTo: null } }
  const missing = { ok: false as const, path: 'ref', message: 'Broker default/b not found' }
  const meta = { name: 'x', namespace: 'default' }
  const ps = pingSourceWithStatus({ apiVersion: 'sources.knative.dev/v1', kind: 'PingSource', metadata: meta, spec: { sink: {} } } as PingSource, ok, now)
  t.same(ps.status, { observedGeneration: 1, sinkUri: 'http://sink', conditions: [
    { type: 'Deployed', status: 'True', lastTransitionTime: now },
    { type: 'Ready', status: 'True', lastTransitionTime: now },
    { type: 'SinkProvided', status: 'True', lastTransitionTime: now },
  ] })
  const bad = pingSourceWithStatus({ apiVersion: 'sources.knative.dev/v1', kind: 'PingSource', metadata: meta, spec: { sink: {} } } as PingSource, missing, now)
  t.same((bad.status!['conditions'] as { type: string; status: string; reason?: string; message?: string }[]).find((c) => c.type === 'Ready'),
    { type: 'Ready', status: 'False', lastTransitionTime: now, reason: 'NotFound', message: 'Sink not found: spec.sink.ref: Broker default/b not found' })
  t.equal(bad.status!['sinkUri'], undefined)
  const cs = (adapter: { running: boolean; lastExit: string | undefined } | undefined) =>
    (containerSourceWithStatus({ apiVersion: 'sources.knative.dev/v1', kind: 'ContainerSource', metadata: meta, spec: { template: { spec: {} }, sink: {} } } as ContainerSource, ok, adapter, now).status!['conditions'] as { type: string; status: string; reason?: string }[])
  t.equal(cs({ running: true, lastExit: undefined }).find((c) => c.type === 'Ready')!.status, 'True')
  t.same(cs({ running: false, lastExit: 'exited with code 1' }).find((c) => c.type === 'ReceiveAdapterReady')!.reason, 'ProcessExited')
  t.equal(cs(undefined).find((c) => c.type === 'Ready')!.status, 'Unknown')
  const sb = sinkBindingWithStatus(binding('b', { apiVersion: sv, kind: 'Service', namespace: 'default', name: 'gone' }), ok, 0, now)
  t.same((sb.status!['conditions'] as { type: string; status: string; reason?: string }[]).map((c) => [c.type, c.status, c.reason]),
    [['Ready', 'False', 'SubjectMissing'], ['SinkBindingAvailable', 'False', 'SubjectMissing'], ['SinkProvided', 'True', undefined]])
})

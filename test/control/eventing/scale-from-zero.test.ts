// A Trigger's subscriber that is a Sluice Service at zero, in a real `sluice serve`: the first event
// POSTed to the broker ingress goes through the activator, which starts an instance, and the event
// is delivered to it (the example's event-display app logs it).
import t from 'tap'
import { eventually, startSluice } from '../../fixtures/sluice.ts'
import { post } from '../../gateway/eventing/helpers.ts'
import { cond, configMapYaml, resource, revisionInstances } from '../../activator/fixtures/helpers.ts'

const files = {
  'autoscaler.yaml': configMapYaml('config-autoscaler', { 'allow-zero-initial-scale': 'true' }),
  'eventing.yaml': `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: to-display}
spec:
  broker: default
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: display}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: display}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/initial-scale: "0"}
    spec:
      containers:
        - image: example.dev/event-display
          command: [node, config/examples/app/event-display.mjs]
`,
}

interface LogLine { revision: string; line: string }

t.test('the first event wakes a subscriber at zero and is delivered to it', async (t) => {
  const s = await startSluice(files)
  t.teardown(() => s.stop())
  t.ok(await eventually(async () => cond(await resource(s, 'Trigger', 'to-display'), 'Ready')?.status === 'True', 60_000, 100), 'Trigger Ready')
  t.ok(await eventually(async () => cond(await resource(s, 'Revision', 'display-00001'), 'Ready')?.status === 'True', 60_000, 100), 'Revision Ready')
  t.equal((await revisionInstances(s, 'display-00001'))?.instances.length ?? 0, 0, 'no instance before the event')

  const res = await post(s.port, '/default/default', {
    host: 'broker-ingress.localhost', 'ce-specversion': '1.0', 'ce-type': 'com.example.wake', 'ce-source': '/test', 'ce-id': 'wake-1',
    'content-type': 'application/json',
  }, '{"hello":"zero"}')
  t.equal(res.status, 202, 'accepted at once: the producer does not wait for the subscriber')

  const logged = async (): Promise<LogLine[]> => (await s.admin('/debug/logs?revision=default/display-00001')).body
    .split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogLine)
  t.ok(await eventually(async () => (await logged()).some((l) => l.line.includes('data: {"hello":"zero"}')), 30_000, 100),
    'the subscriber logged the event')
  const lines = (await logged()).map((l) => l.line).join('\n')
  t.match(lines, /id: wake-1/)
  t.match(lines, /type: com\.example\.wake/)
  t.equal((await revisionInstances(s, 'display-00001'))?.instances.length, 1, 'one instance, started by the event')
})

// Event sources in a real `sluice serve`: a PingSource ticking every second into an HTTP sink, a
// ContainerSource process delivering to it, a SinkBinding whose K_SINK reaches a Service's
// process, and their statuses on /debug/resources.
import t from 'tap'
import path from 'node:path'
import { ROOT, eventually, request, startSluice } from '../../fixtures/sluice.ts'
import { cond, resource } from '../../activator/fixtures/helpers.ts'
import { waitFor } from '../../fixtures/wait.ts'
import { startEventSink } from './helpers.ts'

const echoEnv = `require('http').createServer((q, s) => s.end(JSON.stringify({ sink: process.env.K_SINK ?? null, ce: process.env.K_CE_OVERRIDES ?? null }))).listen(process.env.PORT)`

t.test('PingSource, ContainerSource and SinkBinding in sluice serve', async (t) => {
  const sink = await startEventSink()
  t.teardown(() => sink.close())
  const files = {
    'ping.yaml': `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: every-second}
spec:
  schedule: "* * * * * *"
  timezone: Europe/Paris
  contentType: application/json
  data: '{"message": "tick"}'
  ceOverrides: {extensions: {origin: sluice}}
  sink: {uri: "${sink.url}"}
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: nowhere}
spec:
  sink:
    ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: absent}
`,
    'container.yaml': `apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: {name: heart}
spec:
  ceOverrides: {extensions: {team: blue}}
  sink: {uri: "${sink.origin}/from-container"}
  template:
    spec:
      containers:
        - command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(ROOT, 'test/fixtures/k-sink-source.mjs'))}]
          env: [{name: GREETING, value: hi}, {name: NODE_OPTIONS, value: ""}]
`,
    'binding.yaml': `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: bound}
spec:
  template:
    spec:
      containers:
        - command: [${JSON.stringify(process.execPath)}, -e, ${JSON.stringify(echoEnv)}]
          env: [{name: K_SINK, value: overridden}, {name: NODE_OPTIONS, value: ""}]
---
apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata: {name: bind}
spec:
  subject: {apiVersion: serving.knative.dev/v1, kind: Service, name: bound}
  ceOverrides: {extensions: {via: binding}}
  sink: {uri: "${sink.origin}/from-binding"}
`,
    'display.yaml': `apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: display}
spec:
  template:
    spec:
      containers:
        - command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(ROOT, 'config/examples/app/event-display.mjs'))}]
          env: [{name: NODE_OPTIONS, value: ""}]
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: to-service}
spec:
  schedule: "*/2 * * * * *"
  data: hello service
  sink:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: display}
---
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata: {name: heart-to-service}
spec:
  sink:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: display}
  template:
    spec:
      containers:
        - command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(ROOT, 'test/fixtures/k-sink-source.mjs'))}]
          env: [{name: GREETING, value: to-service}, {name: NODE_OPTIONS, value: ""}]
`,
  }
  const s = await startSluice(files)
  t.teardown(() => s.stop())

  // PingSource: ticks arrive, one per second, binary mode
  await waitFor(() => sink.events.filter((e) => e.url === '/events').length >= 2, { what: 'two ping ticks', timeoutMs: 20_000 })
  const ticks = sink.events.filter((e) => e.url === '/events')
  for (const e of ticks) {
    t.equal(e.headers['ce-type'], 'dev.knative.sources.ping')
    t.equal(e.headers['ce-source'], '/apis/v1/namespaces/default/pingsources/every-second')
    t.equal(e.headers['ce-origin'], 'sluice')
    t.equal(e.headers['content-type'], 'application/json')
    t.same(JSON.parse(e.body.toString()), { message: 'tick' })
  }
  t.not(ticks[0]!.headers['ce-id'], ticks[1]!.headers['ce-id'])
  const ping = await resource(s, 'PingSource', 'every-second')
  t.equal(cond(ping, 'Ready')?.status, 'True')
  t.equal(cond(ping, 'SinkProvided')?.status, 'True')
  t.equal(cond(ping, 'Deployed')?.status, 'True')
  t.equal((ping?.status as Record<string, unknown>)['sinkUri'], sink.url)
  const nowhere = await resource(s, 'PingSource', 'nowhere')
  t.equal(cond(nowhere, 'Ready')?.status, 'False')
  t.equal(cond(nowhere, 'SinkProvided')?.reason, 'NotFound')
  t.match(cond(nowhere, 'SinkProvided')?.message, /brokers.eventing.knative.dev "absent" not found in namespace default/)

  // ContainerSource: the process sent with K_SINK and K_CE_OVERRIDES
  await waitFor(() => sink.events.find((e) => e.url === '/from-container'), { what: 'the container source event', timeoutMs: 20_000 })
  const fromContainer = sink.events.find((e) => e.url === '/from-container')!
  t.equal(fromContainer.headers['ce-team'], 'blue')
  t.equal(JSON.parse(fromContainer.body.toString()).greeting, 'hi')
  t.ok(await eventually(async () => cond(await resource(s, 'ContainerSource', 'heart'), 'Ready')?.status === 'True', 20_000, 50), 'ContainerSource Ready')
  const heart = await resource(s, 'ContainerSource', 'heart')
  t.equal(cond(heart, 'SinkBindingReady')?.status, 'True')
  t.equal(cond(heart, 'ReceiveAdapterReady')?.status, 'True')

  // SinkBinding: the Service's process sees the binding's env, which replaces its own K_SINK
  const r = await request(s.port, 'bound.default.localhost')
  t.equal(r.status, 200)
  t.same(JSON.parse(r.body), { sink: `${sink.origin}/from-binding`, ce: '{"extensions":{"via":"binding"}}' })
  const bind = await resource(s, 'SinkBinding', 'bind')
  t.equal(cond(bind, 'Ready')?.status, 'True')
  t.equal(cond(bind, 'SinkBindingAvailable')?.status, 'True')
  const revision = JSON.parse((await s.admin('/debug/resources')).body).objects.find((o: { kind: string }) => o.kind === 'Revision')
  t.notMatch(JSON.stringify(revision), /from-binding/, 'the binding env is for the process, not shown on the revision')

  // a Knative Service sink is reached through the gateway's internal listener (and woken by the activator)
  await waitFor(() => s.logs().includes('source: /apis/v1/namespaces/default/pingsources/to-service'), { what: 'event-display logging the tick', timeoutMs: 30_000 })
  t.match(s.logs(), /data: hello service/)
  const toService = await resource(s, 'PingSource', 'to-service')
  t.equal((toService?.status as Record<string, unknown>)['sinkUri'], 'http://display.default.svc.cluster.local')

  // a process's K_SINK for a Service ref goes through the loopback sink proxy to the same Service
  await waitFor(() => s.logs().includes('"greeting":"to-service"'), { what: 'event-display logging the container source event', timeoutMs: 30_000 })
  t.match(s.logs(), /source: test\/k-sink-source/)
  t.match(s.logs(), /sent to http:\/\/127\.0\.0\.1:\d+\/display\.default\.svc\.cluster\.local\/: 202/)

  // deleting the PingSource unschedules it (that no tick follows is checked with an injected clock in ping-scheduler.test.ts)
  s.write('ping.yaml', '')
  await waitFor(async () => (await resource(s, 'PingSource', 'every-second')) === undefined, { what: 'the PingSource gone' })
})

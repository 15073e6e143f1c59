// A CloudEvents function deployed with `sluice func deploy` as a Trigger's subscriber: its reply goes
// back into the Broker, and a second Trigger delivers the reply to a sink.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { eventually, runSluice, startSluice } from '../fixtures/sluice.ts'
import { CE_HEADERS, createProject, send } from './helpers.ts'

t.test('a CloudEvents function replies into the broker', async (t) => {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = []
  const sink = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(202).end()
    })
  })
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { sink.close() })
  const sinkPort = (sink.address() as AddressInfo).port

  const s = await startSluice({
    'eventing.yaml': [
      'apiVersion: eventing.knative.dev/v1', 'kind: Broker', 'metadata: {name: default}', '---',
      'apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata: {name: pings}', 'spec:', '  broker: default',
      '  filter: {attributes: {type: example.ping}}',
      '  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: echo}}', '---',
      'apiVersion: eventing.knative.dev/v1', 'kind: Trigger', 'metadata: {name: replies}', 'spec:', '  broker: default',
      '  filter: {attributes: {type: echo.response}}',
      `  subscriber: {uri: "http://127.0.0.1:${sinkPort}/replies"}`, ''].join('\n'),
  })
  t.teardown(() => s.stop())
  const dir = await createProject('node', 'cloudevents', 'echo')
  const r = await runSluice(['func', 'deploy', dir, '--config', s.configDir])
  t.equal(r.code, 0, r.stderr)
  t.ok(await eventually(async () => JSON.parse((await s.admin('/debug/eventing')).body).brokers[0]?.triggers.every((x: { ready: boolean }) => x.ready) === true, 60_000),
    `triggers ready: ${(await s.admin('/debug/eventing')).body}`)

  const accepted = await send(s.port, '/default/default', { host: 'broker-ingress.localhost', headers: CE_HEADERS, body: '{"n":7}' })
  t.equal(accepted.status, 202, accepted.body)
  t.ok(await eventually(() => received.length > 0, 60_000), `the reply reached the sink: ${s.logs().slice(-3000)}`)
  const reply = received[0]!
  t.match(reply.headers, { 'ce-type': 'echo.response', 'ce-source': 'echo', 'ce-specversion': '1.0' })
  t.same(JSON.parse(reply.body), { received: { n: 7 } })
})

// config-tracing's `backend: zipkin` exports with the SDK's Zipkin exporter: a real HTTP server
// takes the JSON v2 spans a Tracing (the gateway's holder) sends after one request's spans end.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Tracing } from '../../gateway/tracing/tracing.ts'
import { TracingCounters } from '../../gateway/tracing/tracing-counters.ts'
import { createLogger } from '../../gateway/log.ts'
import { TRACING_OFF } from '../../gateway/tracing/tracing-config.ts'
import type { RequestTracer } from '../../gateway/tracing/request-trace.ts'
import type { DownstreamRequest } from '../../gateway/downstream.ts'
import { eventually } from '../fixtures/sluice.ts'

t.test('zipkin: spans arrive as Zipkin JSON v2', async (t) => {
  const received: { traceId: string; id: string; parentId?: string; kind?: string; name: string; localEndpoint?: { serviceName?: string }; tags?: Record<string, string> }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => { if (req.url === '/api/v2/spans') received.push(...JSON.parse(body)); res.writeHead(202).end() })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => { server.close() })
  const counters = new TracingCounters()
  const tracing = new Tracing(counters)
  let tracer: RequestTracer | null = null
  const log = createLogger()
  await tracing.configure({ protocol: 'zipkin', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/spans`, samplingRate: 1, serviceName: 'sluice' }, log, (x) => { tracer = x })
  t.ok(tracer, 'a tracer')
  const req = { method: 'GET', url: '/z', headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } } as unknown as DownstreamRequest
  const trace = tracer!.start(req, 'z.example', 'default/z', 'default/z-1', performance.now(), false)
  const headers = ['host', 'z.example']
  trace.send(headers, 'http://127.0.0.1:1', performance.now())
  trace.end(200, performance.now())
  // Turning tracing off flushes the exporter it replaces.
  await tracing.configure(TRACING_OFF, log, (x) => { tracer = x })
  t.equal(tracer, null, 'off again')
  t.ok(await eventually(() => received.length === 2, 10_000), 'both spans received')
  const server_ = received.find((s) => s.kind === 'SERVER')!
  const client = received.find((s) => s.kind === 'CLIENT')!
  t.equal(server_.traceId, '0af7651916cd43dd8448eb211c80319c')
  t.equal(server_.parentId, 'b7ad6b7169203331')
  t.equal(client.parentId, server_.id)
  t.equal(server_.localEndpoint?.serviceName, 'sluice')
  t.equal(server_.tags?.['sluice.route'], 'default/z')
  t.equal(headers[3], `00-0af7651916cd43dd8448eb211c80319c-${client.id}-01`, 'the upstream header names the client span')
  // counted when the exporter has the collector's answer, which comes after the collector has the spans
  t.ok(await eventually(() => counters.exported === 2, 10_000), 'counted as exported')
})

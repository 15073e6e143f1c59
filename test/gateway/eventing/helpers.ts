// Shared pieces of the eventing data-plane tests: hand-built EventingTables (no control/), a
// subscriber sink on a real socket that records every request and answers as told, a Gateway
// with a table installed, a POST helper, and fake timers for retry timing.
import t from 'tap'
import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Gateway } from '../../../gateway/gateway.ts'
import type { CompiledBroker, CompiledTrigger, DeliverySpec, Destination, EventFilter, EventingTable } from '../../../gateway/eventing/types.ts'
import type { Timers } from '../../../gateway/eventing/delivery.ts'

export const INGRESS_HOST = 'broker-ingress.knative-eventing.svc.cluster.local'

export function delivery(over: Partial<DeliverySpec> = {}): DeliverySpec {
  return { retry: 0, backoffPolicy: null, backoffDelayMs: 0, backoffMaxMs: Infinity, timeoutMs: 0, retryAfterMaxMs: null, format: 'binary', deadLetterSink: null, ...over }
}

export function dest(url: string, connectTo: string | null = null): Destination {
  return { url, connectTo }
}

export function trigger(name: string, subscriber: Destination, opts: { broker?: string; delivery?: Partial<DeliverySpec>; filter?: EventFilter; namespace?: string } = {}): CompiledTrigger {
  const namespace = opts.namespace ?? 'default'
  return { namespace, name, uid: `uid-${name}`, broker: opts.broker ?? 'default/default', filter: opts.filter ?? (() => true), subscriber, delivery: delivery(opts.delivery) }
}

export function broker(key: string, triggers: CompiledTrigger[], backing: 'memory' | 'jetstream' = 'memory'): CompiledBroker {
  const [namespace, name] = key.split('/') as [string, string]
  return { key, namespace, name, backing, delivery: delivery(), triggers }
}

export function table(brokers: CompiledBroker[], over: Partial<EventingTable> = {}): EventingTable {
  return {
    version: 1, brokers: new Map(brokers.map((b) => [b.key, b])), natsUrl: null, queueLimit: 10_000, maxTtl: 255,
    ingressHosts: { internal: [INGRESS_HOST], external: ['broker-ingress.localhost'] }, ...over,
  }
}

export interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface Sink {
  url: string
  origin: string
  seen: Seen[]
  /** answer for the next requests; default 200 with an empty body */
  answer: (req: Seen, res: ServerResponse) => void
  close(): Promise<void>
}

export async function sink(): Promise<Sink> {
  const s: Sink = {
    url: '', origin: '', seen: [],
    answer: (_req, res) => { res.writeHead(200, { 'content-length': '0' }); res.end() },
    close: async () => undefined,
  }
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) }
      s.seen.push(seen)
      s.answer(seen, res)
    })
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  s.origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
  s.url = s.origin + '/'
  s.close = () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()) })
  t.teardown(() => s.close())
  return s
}

/** A Gateway listening on 127.0.0.1 (public and internal ports) with `tab` installed. */
export async function gatewayWith(tab: EventingTable): Promise<{ g: Gateway; port: number; internalPort: number }> {
  const g = new Gateway()
  const { port, internalPort } = await g.listen({ port: 0, internalPort: 0, host: '127.0.0.1' })
  await g.swapEventing(tab)
  t.teardown(() => g.close())
  return { g, port, internalPort }
}

export interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

export function post(port: number, path: string, headers: http.OutgoingHttpHeaders, body: string | Buffer = '', method = 'POST'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers: { host: INGRESS_HOST, ...headers } }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** binary-mode headers of a minimal valid event */
export function ceHeaders(id = 'e1', extra: Record<string, string> = {}): Record<string, string> {
  return { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/test', 'ce-type': 'dev.sluice.test', 'content-type': 'application/json', ...extra }
}

/** Timers driven by hand: advance() runs what falls due, in order. */
export class FakeTimers implements Timers {
  at = 0
  #seq = 0
  readonly pending = new Map<number, { at: number; fn: () => void }>()
  now(): number { return this.at }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.pending.set(id, { at: this.at + ms, fn })
    return id
  }
  clearTimeout(h: unknown): void { this.pending.delete(h as number) }
  /** delays of the timers now pending, relative to now */
  delays(): number[] { return [...this.pending.values()].map((p) => p.at - this.at) }
  advance(ms: number): void {
    const until = this.at + ms
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null
      for (const e of this.pending) if (e[1].at <= until && (next === null || e[1].at < next[1].at)) next = e
      if (next === null) break
      this.pending.delete(next[0])
      this.at = next[1].at
      next[1].fn()
    }
    this.at = until
  }
}

// Shared pieces of the JetStream backing tests: a compiled table with one jetstream broker, a real
// HTTP subscriber on 127.0.0.1 that records what it got and answers as told, and a small test
// Deliverer (POST the event as JSON, classify like Knative's SelectiveRetry). The real Deliverer
// (binary mode, knativeerror* extensions, replies) is tested on its own; this one only has to be honest.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import type {
  AttemptOutcome, CloudEventRecord, CompiledBroker, CompiledTrigger, Deliverer, DeliverySpec, EventingTable,
} from '../../../../gateway/eventing/types.ts'

export function deliverySpec(over: Partial<DeliverySpec> = {}): DeliverySpec {
  return {
    retry: 3, backoffPolicy: 'linear', backoffDelayMs: 100, backoffMaxMs: Infinity, timeoutMs: 5000,
    retryAfterMaxMs: null, format: 'json', deadLetterSink: null, ...over,
  }
}

export interface TriggerSpec {
  name: string
  uid?: string
  subscriber: string
  delivery?: DeliverySpec
  filter?: (e: CloudEventRecord) => boolean
}

export function broker(namespace: string, name: string, triggers: TriggerSpec[], backing: 'jetstream' | 'memory' = 'jetstream'): CompiledBroker {
  const key = `${namespace}/${name}`
  const compiled: CompiledTrigger[] = triggers.map((t) => ({
    namespace, name: t.name, uid: t.uid ?? `uid-${namespace}-${name}-${t.name}`, broker: key,
    filter: t.filter ?? (() => true),
    subscriber: { url: t.subscriber, connectTo: null },
    delivery: t.delivery ?? deliverySpec(),
  }))
  return { key, namespace, name, backing, delivery: deliverySpec(), triggers: compiled }
}

export function table(natsUrl: string, brokers: CompiledBroker[], version = 1): EventingTable {
  return {
    version, brokers: new Map(brokers.map((b) => [b.key, b])), natsUrl, queueLimit: 10_000, maxTtl: 255,
    ingressHosts: { internal: ['broker-ingress.knative-eventing.svc.cluster.local'], external: [] },
  }
}

export function event(id: string, source = '/test', type = 'dev.sluice.test', data: string | null = `{"n":"${id}"}`): CloudEventRecord {
  return {
    attributes: { specversion: '1.0', id, source, type, ...(data === null ? {} : { datacontenttype: 'application/json' }) },
    data: data === null ? null : Buffer.from(data),
  }
}

/** What the subscriber saw of one event. */
export interface Seen {
  id: string
  source: string
  attributes: Record<string, string>
  at: number
  status: number
}

export type Answer = number | 'hold'

export interface Subscriber {
  readonly url: string
  /** every request, in arrival order */
  readonly seen: Seen[]
  /** decide the answer from the event and how many times its id was seen before (0 on the first) */
  answer: (e: Seen, before: number) => Answer
  /** answer every held request with `status` */
  release(status: number): void
  held(): number
  /** ids answered with 2xx, with how many times */
  deliveredCounts(): Map<string, number>
  close(): Promise<void>
}

export async function startSubscriber(answer: (e: Seen, before: number) => Answer = () => 200): Promise<Subscriber> {
  const seen: Seen[] = []
  const counts = new Map<string, number>()
  const ok = new Map<string, number>()
  const held: Array<{ res: http.ServerResponse, s: Seen }> = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { attributes: Record<string, string> }
      const s: Seen = { id: body.attributes.id, source: body.attributes.source, attributes: body.attributes, at: performance.now(), status: 0 }
      seen.push(s)
      const key = `${s.source} ${s.id}`
      const before = counts.get(key) ?? 0
      counts.set(key, before + 1)
      const a = sub.answer(s, before)
      if (a === 'hold') { held.push({ res, s }); return }
      reply(res, s, a)
    })
  })
  function reply(res: http.ServerResponse, s: Seen, status: number): void {
    s.status = status
    if (status >= 200 && status < 300) ok.set(s.id, (ok.get(s.id) ?? 0) + 1)
    res.writeHead(status, { 'content-length': '0' }).end()
  }
  server.keepAliveTimeout = 60_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const sub: Subscriber = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    seen, answer,
    release(status) { for (const h of held.splice(0)) if (!h.res.destroyed) reply(h.res, h.s, status) },
    held: () => held.length,
    deliveredCounts: () => ok,
    async close() {
      for (const h of held.splice(0)) h.res.destroy()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
  return sub
}

const RETRYABLE = new Set([404, 408, 409, 429])

function outcome(status: number, error: string | null): AttemptOutcome {
  return { status, retryable: status === 0 || status >= 500 || RETRYABLE.has(status), retryAfterMs: null, body: null, reply: null, error }
}

/** A test Deliverer: the event as JSON `{attributes, data_base64}`; counts dead letters it sent. */
export class TestDeliverer implements Deliverer {
  readonly dispatcher = new Agent({ connections: 128, keepAliveTimeout: 30_000 })
  deadLetters: Array<{ trigger: string, id: string, status: number }> = []

  async #post(url: string, e: CloudEventRecord, timeoutMs: number): Promise<AttemptOutcome> {
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ attributes: e.attributes, data_base64: e.data?.toString('base64') ?? null }),
        signal: timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined,
        dispatcher: this.dispatcher,
      })
      await res.body.dump()
      return outcome(res.statusCode, null)
    } catch (err) {
      return outcome(0, (err as Error).message)
    }
  }

  attempt(trigger: CompiledTrigger, e: CloudEventRecord): Promise<AttemptOutcome> {
    return this.#post(trigger.subscriber.url, e, trigger.delivery.timeoutMs)
  }

  async deadLetter(trigger: CompiledTrigger, e: CloudEventRecord, last: AttemptOutcome): Promise<boolean> {
    const dls = trigger.delivery.deadLetterSink
    if (dls === null) return false
    const r = await this.#post(dls.url, { attributes: { ...e.attributes, knativeerrorcode: String(last.status) }, data: e.data }, trigger.delivery.timeoutMs)
    const ok = r.status >= 200 && r.status < 300
    if (ok) this.deadLetters.push({ trigger: trigger.name, id: e.attributes.id, status: last.status })
    return ok
  }

  async reply(): Promise<boolean> { return true }

  close(): Promise<void> { return this.dispatcher.close() }
}

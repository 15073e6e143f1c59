// The eventing data plane as the gateway sees it: the EventingTable in force, the broker ingress,
// one Deliverer, and a backing per broker (memory by default; `sluice.dev/jetstream` brokers go to
// NATS JetStream, loaded on first use when config-sluice `nats-url` is set). install() takes a new
// table whole; queues of triggers that stay keep their events.
import type { AcceptResult, BrokerStats, CloudEventRecord, CompiledBroker, Deliverer, EventBacking, EventingTable } from './types.ts'
import { emptyEventingTable } from './types.ts'
import { BrokerIngress } from './broker-ingress.ts'
import { HttpDeliverer, type Timers } from './delivery.ts'
import { MemoryBacking } from './memory-backing.ts'
import type { BrokerSlot, EventingMetrics } from './eventing-metrics.ts'
import type { DownstreamRequest } from '../downstream.ts'
import type { Logger } from '../log.ts'
import type { Dispatcher } from 'undici'

export interface EventingPlaneOptions {
  metrics: EventingMetrics
  log?: Logger
  timers?: Timers
  dispatcher?: Dispatcher
  maxBodyBytes?: number
  /** attempts in flight per trigger (memory backing) */
  concurrency?: number
  /** wall-clock ms for knativearrivaltime (tests) */
  wallClock?: () => number
}

/** What the JetStream module exports (gateway/eventing/jetstream-backing.ts, loaded lazily). */
interface JetStreamModule {
  JetStreamBacking: new (opts: { servers: string; deliverer: Deliverer; log?: Logger }) => EventBacking
}
// A variable keeps the NATS client out of the start-up import graph; the checkout runs .ts, the
// packed package the .js that prepack compiled (a computed path is not rewritten by tsc).
const JETSTREAM_MODULE = `./jetstream-backing${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`

export class EventingPlane {
  readonly ingress: BrokerIngress
  readonly deliverer: HttpDeliverer
  readonly #metrics: EventingMetrics
  readonly #log: Logger | undefined
  readonly #memory: MemoryBacking
  #table: EventingTable = emptyEventingTable()
  #internalHosts: ReadonlySet<string> = new Set()
  #externalHosts: ReadonlySet<string> = new Set()
  #jetstream: EventBacking | null = null
  #jetstreamUrl: string | null = null
  #jetstreamLoading: Promise<void> | null = null
  #jetstreamChain: Promise<void> = Promise.resolve()
  #jetstreamProblem: string | null = null
  readonly #brokerSlots = new WeakMap<CompiledBroker, BrokerSlot>()

  constructor(opts: EventingPlaneOptions) {
    this.#metrics = opts.metrics
    this.#log = opts.log
    this.ingress = new BrokerIngress({ host: this, maxBodyBytes: opts.maxBodyBytes, wallClock: opts.wallClock })
    this.deliverer = new HttpDeliverer({
      ingest: (key, event) => this.ingress.ingest(key, event), metrics: opts.metrics, timers: opts.timers,
      dispatcher: opts.dispatcher, maxReplyBytes: opts.maxBodyBytes, log: opts.log,
    })
    this.#memory = new MemoryBacking({ deliverer: this.deliverer, timers: opts.timers, concurrency: opts.concurrency, slot: (t) => this.deliverer.slot(t), log: opts.log })
    opts.metrics.stats = () => this.stats()
  }

  get table(): EventingTable { return this.#table }

  /**
   * Install a new table: hosts, metric slots and memory queues at once (the ingress sees the new
   * brokers from the next request); JetStream streams and consumers in order, one install at a time.
   */
  install(table: EventingTable): Promise<void> {
    this.#table = table
    this.#internalHosts = new Set(table.ingressHosts.internal)
    this.#externalHosts = new Set(table.ingressHosts.external)
    this.#metrics.install(table)
    void this.#memory.install(table) // synchronous body
    let durable = false
    for (const b of table.brokers.values()) if (b.backing === 'jetstream') durable = true
    if (!durable && this.#jetstream === null) return this.#jetstreamChain
    this.#jetstreamChain = this.#jetstreamChain.then(() => this.#installJetStream(table, durable)).catch((err: Error) => {
      this.#jetstreamProblem = `JetStream install failed: ${err.message}`
      this.#log?.error('durable brokers: install failed', { error: err.message })
    })
    return this.#jetstreamChain
  }

  /** Is `host` (a Host header or :authority) a broker-ingress host on this listener? */
  serves(host: string | undefined, internal: boolean): boolean {
    if (host === undefined) return false
    const hosts = internal ? this.#internalHosts : this.#externalHosts
    if (hosts.size === 0) return false
    let h = host
    const colon = h.lastIndexOf(':')
    if (colon !== -1 && h.indexOf(']') < colon) h = h.slice(0, colon)
    return hosts.has(h) || hosts.has(h.toLowerCase())
  }

  /** the host a request names (HTTP/2 :authority, else Host) */
  static hostOf(req: DownstreamRequest): string | undefined {
    return (req.headers[':authority'] as string | undefined) ?? req.headers.host
  }

  accept(broker: CompiledBroker, event: CloudEventRecord): AcceptResult | Promise<AcceptResult> {
    if (broker.backing === 'memory') return this.#memory.accept(broker, event)
    const js = this.#jetstream
    // No durable store to write to: refuse as "try later" rather than accept and lose it.
    if (js === null) return 'full'
    return js.accept(broker, event)
  }

  brokerSlot(broker: CompiledBroker): BrokerSlot {
    let s = this.#brokerSlots.get(broker)
    if (s === undefined) {
      s = this.#metrics.broker(broker.namespace, broker.name)
      this.#brokerSlots.set(broker, s)
    }
    return s
  }

  stats(): readonly BrokerStats[] {
    const out = [...this.#memory.stats()]
    if (this.#jetstream !== null) out.push(...this.#jetstream.stats())
    else if (this.#jetstreamProblem !== null) {
      for (const b of this.#table.brokers.values()) {
        if (b.backing === 'jetstream') out.push({ broker: b.key, backing: 'jetstream', depth: 0, retriesInFlight: 0, lastError: this.#jetstreamProblem })
      }
    }
    return out
  }

  async close(): Promise<void> {
    await this.#memory.close()
    await this.#jetstreamChain
    await this.#jetstream?.close()
    this.#jetstream = null
    await this.deliverer.close()
  }

  async #installJetStream(table: EventingTable, durable: boolean): Promise<void> {
    const url = table.natsUrl
    if (this.#jetstream !== null && (url !== this.#jetstreamUrl || !durable)) {
      // The server changed (or no durable broker is left): start over with the new one.
      const old = this.#jetstream
      this.#jetstream = null
      await old.close()
    }
    if (!durable) return
    if (url === null) {
      this.#jetstreamProblem = 'config-sluice nats-url is not set: sluice.dev/jetstream brokers answer 503 until it is'
      this.#log?.error('durable brokers need NATS', { problem: this.#jetstreamProblem })
      return
    }
    if (this.#jetstream === null) {
      const load = this.#loadJetStream(url)
      this.#jetstreamLoading = load
      await load
    }
    await this.#jetstream?.install(table)
  }

  async #loadJetStream(url: string): Promise<void> {
    try {
      const mod = await import(JETSTREAM_MODULE) as JetStreamModule
      this.#jetstream = new mod.JetStreamBacking({ servers: url, deliverer: this.deliverer, log: this.#log })
      this.#jetstreamUrl = url
      this.#jetstreamProblem = null
    } catch (err) {
      this.#jetstreamProblem = `the JetStream backing could not be loaded (${(err as Error).message}): sluice.dev/jetstream brokers answer 503`
      this.#log?.error('durable brokers unavailable', { problem: this.#jetstreamProblem })
    }
  }
}

/** One broker as /debug/eventing shows it: its triggers' resolved delivery and its live counters. */
export interface BrokerDescription {
  readonly broker: string
  readonly backing: 'memory' | 'jetstream'
  readonly depth: number
  readonly retriesInFlight: number
  readonly lastError: string | null
  readonly triggers: readonly {
    readonly trigger: string
    readonly subscriber: string
    /** the origin connected to (the gateway's internal listener for Sluice Services), or null */
    readonly via: string | null
    readonly retry: number
    readonly backoffPolicy: string | null
    readonly backoffDelayMs: number
    readonly timeoutMs: number
    readonly format: string
    readonly deadLetterSink: string | null
  }[]
}

/** The table in force joined with the backings' stats, for operators. */
export function describeEventing(table: EventingTable, stats: readonly BrokerStats[]): { ingressHosts: EventingTable['ingressHosts']; queueLimit: number; brokers: BrokerDescription[] } {
  const byKey = new Map(stats.map((s) => [s.broker, s]))
  const brokers: BrokerDescription[] = []
  for (const b of table.brokers.values()) {
    const s = byKey.get(b.key)
    brokers.push({
      broker: b.key, backing: b.backing, depth: s?.depth ?? 0, retriesInFlight: s?.retriesInFlight ?? 0, lastError: s?.lastError ?? null,
      triggers: b.triggers.map((t) => ({
        trigger: `${t.namespace}/${t.name}`, subscriber: t.subscriber.url, via: t.subscriber.connectTo,
        retry: t.delivery.retry, backoffPolicy: t.delivery.backoffPolicy, backoffDelayMs: t.delivery.backoffDelayMs,
        timeoutMs: t.delivery.timeoutMs, format: t.delivery.format, deadLetterSink: t.delivery.deadLetterSink?.url ?? null,
      })),
    })
  }
  return { ingressHosts: table.ingressHosts, queueLimit: table.queueLimit, brokers }
}

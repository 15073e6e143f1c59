// The durable broker backing on NATS JetStream (broker class `sluice.dev/jetstream`), after
// knative-extensions/eventing-natss: one stream per broker (Nats-Msg-Id dedup), one durable pull
// consumer per trigger (explicit acks, max_deliver from the retry count, ack wait ≥ the per-attempt
// timeout), retries as `nak(delay)` with the delay computed here by the one retry formula
// (backoff.ts) — a consumer `backoff` list made 2.9 redeliver late. accept() answers 'accepted'
// only after JetStream's PubAck, so a 202 means the event is stored.
//
// Retention is Interest retention done here rather than by the server: the stream has Limits
// retention and is purged below the lowest ack floor of its consumers. nats-server 2.9.10 with
// Interest retention acknowledges publishes that arrive during its shutdown (consumers already
// stopped, stream not yet) and then drops them for want of interest — accepted events lost on a
// clean restart (test/gateway/eventing/jetstream/restart.test.ts caught it); with Limits the event
// stays and the recovered consumer delivers it.
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, ReplayPolicy, RetentionPolicy, StorageType,
  jetstream, jetstreamManager,
} from '@nats-io/jetstream'
import type { ConsumerConfig, JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from '../log.ts'
import { consumerName, encodeEvent, messageId, streamName, streamSubject } from './jetstream-names.ts'
import { PubAckPipeline } from './jetstream-publisher.ts'
import type { PubAckSink } from './jetstream-publisher.ts'
import { TriggerRunner, newDeliveryCounters } from './jetstream-trigger.ts'
import type { DeliveryCounters } from './jetstream-trigger.ts'
import type { AcceptResult, BrokerStats, CloudEventRecord, CompiledBroker, CompiledTrigger, Deliverer, EventBacking, EventingTable } from './types.ts'

export interface JetStreamBackingOptions {
  /** config-sluice `nats-url`: one URL or several comma-separated (a cluster's seed servers) */
  readonly servers: string
  readonly deliverer: Deliverer
  readonly log?: Logger
  /** a publish not acknowledged within this answers 'failed' (default 5 s) */
  readonly publishTimeoutMs?: number
  /** ack wait = max(this, per-attempt timeout + ackWaitMarginMs) (default 30 s, eventing-natss's) */
  readonly ackWaitMinMs?: number
  readonly ackWaitMarginMs?: number
  /** per trigger: messages handed out and not yet settled, deliveries and waiting retries (default 256) */
  readonly maxAckPending?: number
  /** a consumer whose trigger left the table is deleted after this long absent (default 10 min) */
  readonly retireAfterMs?: number
  /** new streams only (existing ones keep what an operator set): Nats-Msg-Id window (default 2 min) */
  readonly duplicateWindowMs?: number
  /** new streams only: size bound; when full, publishes fail (discard new) → 503 (default 1 GiB) */
  readonly streamMaxBytes?: number
  /** new streams only: replicas (default 1; up to 5 on a JetStream cluster) */
  readonly replicas?: number
  /** how often consumer info is polled for stats() (default 2 s) */
  readonly statsIntervalMs?: number
  /** how long close() waits for deliveries under way (default 10 s) */
  readonly closeGraceMs?: number
}

export interface JetStreamBrokerStats extends BrokerStats {
  /** publishes JetStream stored */
  readonly published: number
  /** publishes JetStream recognised as a duplicate (same source+id within the window); still 202 */
  readonly duplicates: number
  readonly publishFailures: number
  readonly delivered: number
  readonly deadLettered: number
  readonly dropped: number
  readonly redelivered: number
  /** messages that were not an event stored by Sluice (terminated) */
  readonly undecodable: number
}

const NS = 1_000_000

/** One jetstream broker as installed: its stream and the runners of its triggers. */
class BrokerState implements PubAckSink {
  broker: CompiledBroker
  readonly stream: string
  readonly subject: string
  readonly runners = new Map<string, TriggerRunner>()
  readonly counters: DeliveryCounters = newDeliveryCounters()
  published = 0
  duplicates = 0
  publishFailures = 0
  lastPublishError: string | null = null
  /** whether the broker is in the current table (a broker that left keeps its stream; see install) */
  present = true
  /** PubAckSink: counts each publish's fate */
  stored(duplicate: boolean): void {
    if (duplicate) this.duplicates++
    else this.published++
  }

  failed(reason: string): void {
    this.publishFailures++
    this.lastPublishError = reason
  }

  constructor(broker: CompiledBroker) {
    this.broker = broker
    this.stream = streamName(broker.namespace, broker.name)
    this.subject = streamSubject(broker.namespace, broker.name)
  }
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code
}

export class JetStreamBacking implements EventBacking {
  readonly #servers: string[]
  readonly #deliverer: Deliverer
  readonly #log: Logger | null
  readonly #publishTimeoutMs: number
  readonly #ackWaitMinMs: number
  readonly #ackWaitMarginMs: number
  readonly #maxAckPending: number
  readonly #retireAfterMs: number
  readonly #duplicateWindowMs: number
  readonly #streamMaxBytes: number
  readonly #replicas: number
  readonly #closeGraceMs: number
  #nc: NatsConnection | null = null
  #js: JetStreamClient | null = null
  #jsm: JetStreamManager | null = null
  #publisher: PubAckPipeline | null = null
  #connected = false
  #closed = false
  #connectionError: string | null = 'not connected to NATS yet'
  #table: EventingTable | null = null
  readonly #brokers = new Map<string, BrokerState>()
  /** `stream/consumer` → when to delete it, for consumers whose trigger left the table */
  readonly #retiring = new Map<string, number>()
  #syncing: Promise<void> | null = null
  #resyncWanted = false
  #resyncTimer: ReturnType<typeof setTimeout> | null = null
  #resyncDelayMs = 500
  readonly #statsTimer: ReturnType<typeof setInterval>
  #statsBusy = false
  #reconnectAttempt = 0
  #connectAttempts = 0
  #connectTimer: ReturnType<typeof setTimeout> | null = null

  constructor(o: JetStreamBackingOptions) {
    this.#servers = o.servers.split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (this.#servers.length === 0) throw new Error('config-sluice nats-url: no server given; set it to e.g. nats://127.0.0.1:4222 (several comma-separated for a cluster)')
    this.#deliverer = o.deliverer
    this.#log = o.log ?? null
    this.#publishTimeoutMs = o.publishTimeoutMs ?? 5000
    this.#ackWaitMinMs = o.ackWaitMinMs ?? 30_000
    this.#ackWaitMarginMs = o.ackWaitMarginMs ?? 5000
    this.#maxAckPending = o.maxAckPending ?? 256
    this.#retireAfterMs = o.retireAfterMs ?? 600_000
    this.#duplicateWindowMs = o.duplicateWindowMs ?? 120_000
    this.#streamMaxBytes = o.streamMaxBytes ?? 1024 ** 3
    this.#replicas = o.replicas ?? 1
    this.#closeGraceMs = o.closeGraceMs ?? 10_000
    this.#statsTimer = setInterval(() => void this.#pollStats(), o.statsIntervalMs ?? 2000)
    this.#statsTimer.unref()
    void this.#connect()
  }

  /** true while connected to a NATS server */
  get connected(): boolean { return this.#connected }

  // -- connection ------------------------------------------------------------------------------

  async #connect(): Promise<void> {
    let nc: NatsConnection
    try {
      nc = await connect({
        servers: this.#servers,
        name: 'sluice-eventing',
        // never give up: while NATS is away accept() answers 'failed' (ingress 503) and consumers wait
        maxReconnectAttempts: -1,
        timeout: 5000,
        // backoff 250 ms doubling to 5 s, reset on every successful reconnect
        reconnectDelayHandler: () => Math.min(5000, 250 * 2 ** Math.min(this.#reconnectAttempt++, 5)),
        reconnectJitter: 100,
        pingInterval: 10_000,
        maxPingOut: 3,
        // no Error with a stack captured per request just to decorate a failure that may come (with
        // js.publish per event those captures were a fifth of the gateway's CPU)
        noAsyncTraces: true,
      })
    } catch (err) {
      // the first connection is retried here (the client retries only once it has been connected),
      // on a timer close() can cancel, with the same backoff
      this.#connectionError = `connect to ${this.#servers.join(',')}: ${(err as Error).message}`
      if (this.#connectAttempts++ === 0) this.#log?.error('eventing: cannot connect to NATS; retrying for ever', { servers: this.#servers.join(','), error: err })
      if (!this.#closed) this.#connectTimer = setTimeout(() => { this.#connectTimer = null; void this.#connect() }, Math.min(5000, 250 * 2 ** Math.min(this.#connectAttempts, 5)))
      return
    }
    if (this.#closed) {
      await nc.close().catch(() => undefined)
      return
    }
    this.#nc = nc
    this.#js = jetstream(nc, { timeout: this.#publishTimeoutMs })
    this.#publisher = new PubAckPipeline(nc, this.#publishTimeoutMs)
    this.#jsm = await jetstreamManager(nc, { checkAPI: false, timeout: this.#publishTimeoutMs })
    this.#connected = true
    this.#connectionError = null
    this.#log?.info('eventing: connected to NATS', { server: nc.getServer() })
    void this.#watch(nc)
    this.#requestSync()
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false
        this.#connectionError = `disconnected from NATS ${s.server}`
        this.#log?.warn('eventing: disconnected from NATS; brokers answer 503 until it is back', { server: s.server })
      } else if (s.type === 'reconnect') {
        this.#connected = true
        this.#connectionError = null
        this.#reconnectAttempt = 0
        this.#log?.info('eventing: reconnected to NATS', { server: s.server })
        // the server may have come back without its store: recreate what is missing
        this.#requestSync()
      }
    }
  }

  // -- install ---------------------------------------------------------------------------------

  /**
   * Creates or updates streams and consumers for the table's jetstream brokers and starts their
   * triggers. Idempotent. When NATS is not reachable it returns at once and applies the table on
   * connect. What it never does on a table change: delete a stream (a broker that leaves the table
   * only stops being delivered; its events stay stored until it returns or an operator removes
   * the stream), or delete a consumer at once (a trigger that leaves the table — it may just be
   * not Ready for a moment — stops; its consumer is deleted after `retireAfterMs`).
   */
  async install(table: EventingTable): Promise<void> {
    this.#table = table
    if (!this.#connected) return
    this.#requestSync()
    await this.#syncing
  }

  #requestSync(): void {
    if (this.#closed) return
    if (this.#syncing !== null) {
      this.#resyncWanted = true
      return
    }
    this.#syncing = this.#syncLoop().finally(() => { this.#syncing = null })
  }

  async #syncLoop(): Promise<void> {
    do {
      this.#resyncWanted = false
      const table = this.#table
      if (table === null || !this.#connected) return
      try {
        await this.#sync(table)
        this.#resyncDelayMs = 500
      } catch (err) {
        this.#connectionError = `install: ${(err as Error).message}`
        this.#log?.error('eventing: applying brokers to JetStream failed; retrying', { error: err, retryInMs: this.#resyncDelayMs })
        if (this.#resyncTimer === null && !this.#closed) {
          this.#resyncTimer = setTimeout(() => { this.#resyncTimer = null; this.#requestSync() }, this.#resyncDelayMs)
          this.#resyncTimer.unref()
        }
        this.#resyncDelayMs = Math.min(this.#resyncDelayMs * 2, 30_000)
        return
      }
    } while (this.#resyncWanted && !this.#closed)
  }

  async #sync(table: EventingTable): Promise<void> {
    const jsm = this.#jsm
    const js = this.#js
    if (jsm === null || js === null) return
    const wanted = new Set<string>()
    for (const broker of table.brokers.values()) {
      if (broker.backing !== 'jetstream') continue
      wanted.add(broker.key)
      let st = this.#brokers.get(broker.key)
      if (st === undefined) st = new BrokerState(broker)
      st.broker = broker
      await this.#ensureStream(jsm, st)
      this.#brokers.set(broker.key, st)
      st.present = true
      const triggerUids = new Set<string>()
      for (const trigger of broker.triggers) {
        triggerUids.add(trigger.uid)
        const consumer = consumerName(trigger.uid)
        this.#retiring.delete(`${st.stream}/${consumer}`)
        const ackWaitMs = this.#ackWaitMs(trigger)
        await this.#ensureConsumer(jsm, st, trigger, consumer, ackWaitMs)
        const running = st.runners.get(trigger.uid)
        if (running !== undefined) {
          running.trigger = trigger
          continue
        }
        const runner = new TriggerRunner({
          trigger, stream: st.stream, consumer, deliverer: this.#deliverer, ackWaitMs,
          pullBatch: Math.min(this.#maxAckPending, 256), counters: st.counters, log: this.#log,
        })
        st.runners.set(trigger.uid, runner)
        await runner.start(js)
      }
      for (const [uid, runner] of st.runners) {
        if (triggerUids.has(uid)) continue
        st.runners.delete(uid)
        await runner.stop(this.#closeGraceMs)
      }
      // consumers of triggers gone from the table (now, or while Sluice was down) retire later
      const now = Date.now()
      for await (const ci of jsm.consumers.list(st.stream)) {
        const name = ci.name
        if (!name.startsWith('KN_TRIGGER_')) continue
        let mine = false
        for (const uid of triggerUids) if (consumerName(uid) === name) mine = true
        const key = `${st.stream}/${name}`
        if (!mine && !this.#retiring.has(key)) this.#retiring.set(key, now + this.#retireAfterMs)
      }
    }
    for (const [key, st] of this.#brokers) {
      if (wanted.has(key) || !st.present) continue
      st.present = false
      this.#log?.info('eventing: broker left the table; its JetStream stream is kept', { broker: key, stream: st.stream })
      for (const runner of st.runners.values()) await runner.stop(this.#closeGraceMs)
      st.runners.clear()
    }
    await this.#retire(jsm)
  }

  #ackWaitMs(trigger: CompiledTrigger): number {
    const t = trigger.delivery.timeoutMs
    return Math.max(this.#ackWaitMinMs, t > 0 ? t + this.#ackWaitMarginMs : 0)
  }

  async #ensureStream(jsm: JetStreamManager, st: BrokerState): Promise<void> {
    try {
      const info = await jsm.streams.info(st.stream)
      const subjects = info.config.subjects ?? []
      if (!subjects.includes(st.subject)) await jsm.streams.update(st.stream, { ...info.config, subjects: [...subjects, st.subject] })
      return
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err
    }
    await jsm.streams.add({
      name: st.stream,
      subjects: [st.subject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_bytes: this.#streamMaxBytes,
      duplicate_window: this.#duplicateWindowMs * NS,
      num_replicas: this.#replicas,
    })
    this.#log?.info('eventing: created JetStream stream', { broker: st.broker.key, stream: st.stream })
  }

  async #ensureConsumer(jsm: JetStreamManager, st: BrokerState, trigger: CompiledTrigger, consumer: string, ackWaitMs: number): Promise<void> {
    // max_deliver has one spare delivery over retry+1: the runner decides the last attempt itself
    // (deliveryCount ≥ retry+1 → dead letter), and the spare lets a message whose last attempt was
    // cut by a crash come back once more instead of sitting unacked in the stream for ever
    const want: Partial<ConsumerConfig> = {
      ack_wait: ackWaitMs * NS,
      max_deliver: trigger.delivery.retry + 2,
      max_ack_pending: this.#maxAckPending,
    }
    try {
      const info = await jsm.consumers.info(st.stream, consumer)
      const c = info.config
      if (c.ack_wait !== want.ack_wait || c.max_deliver !== want.max_deliver || c.max_ack_pending !== want.max_ack_pending) {
        await jsm.consumers.update(st.stream, consumer, want)
      }
      return
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err
    }
    await jsm.consumers.add(st.stream, {
      ...want,
      durable_name: consumer,
      description: `trigger ${trigger.namespace}/${trigger.name}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      replay_policy: ReplayPolicy.Instant,
      filter_subject: st.subject,
    })
  }

  async #retire(jsm: JetStreamManager): Promise<void> {
    const now = Date.now()
    for (const [key, at] of this.#retiring) {
      if (at > now) continue
      const slash = key.indexOf('/')
      try {
        await jsm.consumers.delete(key.slice(0, slash), key.slice(slash + 1))
        this.#log?.info('eventing: deleted the consumer of a trigger that left the table', { consumer: key })
      } catch (err) {
        if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err
      }
      this.#retiring.delete(key)
    }
  }

  // -- data path -------------------------------------------------------------------------------

  accept(broker: CompiledBroker, event: CloudEventRecord): AcceptResult | Promise<AcceptResult> {
    const st = this.#brokers.get(broker.key)
    const publisher = this.#publisher
    if (st === undefined || !st.present) return 'failed'
    if (publisher === null || !this.#connected) {
      st.publishFailures++
      return 'failed'
    }
    const a = event.attributes
    return publisher.publish(st.subject, encodeEvent(event), messageId(a.source ?? '', a.id ?? ''), st)
  }

  // -- stats -----------------------------------------------------------------------------------

  async #pollStats(): Promise<void> {
    const jsm = this.#jsm
    if (jsm === null || !this.#connected || this.#statsBusy) return
    this.#statsBusy = true
    try {
      for (const st of this.#brokers.values()) {
        for (const runner of st.runners.values()) {
          try {
            const info = await jsm.consumers.info(runner.stream, runner.consumer)
            runner.pending = info.num_pending + info.num_ack_pending
            runner.ackPending = info.num_ack_pending
          } catch { /* next tick */ }
        }
      }
      // retiring is time-based; check it here too so it happens without a table change
      if (this.#retiring.size > 0) await this.#retire(jsm).catch(() => undefined)
      for (const st of this.#brokers.values()) if (st.present) await this.#trim(jsm, st).catch(() => undefined)
    } finally {
      this.#statsBusy = false
    }
  }

  /**
   * Interest retention, client side: every consumer of the stream (ours, retiring ones, an
   * operator's) has settled everything at or below its ack floor, so the stream keeps only what
   * lies above the lowest floor. A stream without consumers keeps nothing (as Interest would).
   */
  async #trim(jsm: JetStreamManager, st: BrokerState): Promise<void> {
    const info = await jsm.streams.info(st.stream)
    if (info.state.messages === 0) return
    let floor = info.state.last_seq
    for await (const ci of jsm.consumers.list(st.stream)) if (ci.ack_floor.stream_seq < floor) floor = ci.ack_floor.stream_seq
    if (floor >= info.state.first_seq) await jsm.streams.purge(st.stream, { seq: floor + 1 })
  }

  stats(): readonly JetStreamBrokerStats[] {
    const out: JetStreamBrokerStats[] = []
    for (const st of this.#brokers.values()) {
      if (!st.present) continue
      let depth = 0
      let retries = 0
      for (const r of st.runners.values()) {
        depth += r.pending
        // handed out by JetStream and not being delivered here: waiting for a delayed nak
        retries += Math.max(0, r.ackPending - r.inflight)
      }
      const c = st.counters
      out.push({
        broker: st.broker.key, backing: 'jetstream', depth, retriesInFlight: retries,
        lastError: this.#connectionError ?? st.lastPublishError ?? c.lastError,
        published: st.published, duplicates: st.duplicates, publishFailures: st.publishFailures,
        delivered: c.delivered, deadLettered: c.deadLettered, dropped: c.dropped, redelivered: c.redelivered, undecodable: c.undecodable,
      })
    }
    return out
  }

  /** Stops pulling, lets deliveries under way settle (bounded by closeGraceMs), drains the connection. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#statsTimer)
    if (this.#resyncTimer !== null) clearTimeout(this.#resyncTimer)
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer)
    await this.#syncing?.catch(() => undefined)
    const stops: Promise<void>[] = []
    for (const st of this.#brokers.values()) for (const r of st.runners.values()) stops.push(r.stop(this.#closeGraceMs))
    await Promise.all(stops)
    // publishes under way get their PubAck (so their producers their 202) before the connection goes
    const publisher = this.#publisher
    if (publisher !== null) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([publisher.settled(), new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#publishTimeoutMs) })])
      clearTimeout(timer)
      publisher.close()
    }
    const nc = this.#nc
    this.#connected = false
    if (nc !== null && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close())
    }
  }
}

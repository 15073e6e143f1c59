// The eventing seams: what control/ compiles from Brokers and Triggers (EventingTable) and the
// shapes the data-plane pieces hand each other (codec → ingress → backing → delivery). Each piece
// lives in its own file under gateway/eventing/; this file only names the contracts between them.

/**
 * One CloudEvent as Sluice carries it. Context attributes and extensions are keyed by their
 * lower-case names and hold their canonical string form (CloudEvents §3: in HTTP binary mode every
 * value travels as that string anyway); `time` is kept exactly as received, never re-rendered.
 * `datacontenttype` is an attribute like any other (binary mode takes it from Content-Type).
 */
export interface CloudEventRecord {
  readonly attributes: Readonly<Record<string, string>>
  /** the data as bytes (`data_base64` decoded; a structured JSON `data` value serialised), or null */
  readonly data: Buffer | null
}

export type BackoffPolicy = 'linear' | 'exponential'

/** A resolved Destination (Knative duck type): where a delivery goes. */
export interface Destination {
  /** the URL as Knative would resolve it; also what `knativeerrordest` reports */
  readonly url: string
  /**
   * The origin actually connected to, or null for `url` itself. A Sluice-served Service is reached
   * through the gateway's own internal listener (`http://127.0.0.1:8081`, Host from `url`) so the
   * activator buffers the event and wakes a subscriber at zero.
   */
  readonly connectTo: string | null
}

/** DeliverySpec, parsed and defaulted once when the table is compiled. */
export interface DeliverySpec {
  /** retries after the first attempt (attempts = retry + 1) */
  readonly retry: number
  /** null: no backoff (retries fire back to back, as Knative does when policy or delay is unset) */
  readonly backoffPolicy: BackoffPolicy | null
  readonly backoffDelayMs: number
  /** Sluice's `backoffMax` cap (knative/eventing#9278); Infinity when unset */
  readonly backoffMaxMs: number
  /** per-attempt timeout; 0 = none */
  readonly timeoutMs: number
  /** honour Retry-After on 429/503 up to this; null = ignore Retry-After (Knative's default) */
  readonly retryAfterMaxMs: number | null
  /** how the event is encoded on delivery */
  readonly format: 'binary' | 'json'
  readonly deadLetterSink: Destination | null
}

/** One element of Trigger `spec.filters` (CloudEvents Subscriptions API): exactly one dialect. */
export interface SubscriptionsApiFilter {
  exact?: Record<string, string>
  prefix?: Record<string, string>
  suffix?: Record<string, string>
  all?: SubscriptionsApiFilter[]
  any?: SubscriptionsApiFilter[]
  not?: SubscriptionsApiFilter
  cesql?: string
}

/** A compiled Trigger filter: pure, synchronous, never throws (an evaluation error is "no match"). */
export type EventFilter = (event: CloudEventRecord) => boolean

export interface CompiledTrigger {
  readonly namespace: string
  readonly name: string
  /** metadata.uid, or a stable hash of namespace/name when absent; names durable consumers */
  readonly uid: string
  /** the broker's key, `namespace/name` */
  readonly broker: string
  readonly filter: EventFilter
  readonly subscriber: Destination
  /** the Trigger's delivery, else the Broker's (wholesale, as Knative); DLS falls back to the Broker's */
  readonly delivery: DeliverySpec
}

export interface CompiledBroker {
  /** `namespace/name`, also the ingress path without its leading slash */
  readonly key: string
  readonly namespace: string
  readonly name: string
  /** `eventing.knative.dev/broker.class`: MTChannelBasedBroker/unset = memory, `sluice.dev/jetstream` = durable */
  readonly backing: 'memory' | 'jetstream'
  readonly delivery: DeliverySpec
  /** Ready triggers of this broker, in a stable order */
  readonly triggers: readonly CompiledTrigger[]
}

export interface EventingTable {
  readonly version: number
  readonly brokers: ReadonlyMap<string, CompiledBroker>
  /** config-sluice `nats-url` (comma-separated servers), null when unset */
  readonly natsUrl: string | null
  /** config-sluice `broker-queue-limit`: events held in memory per broker before ingress answers 503 */
  readonly queueLimit: number
  /** knativebrokerttl given to events that arrive without one (Knative's MAX_TTL, 255) */
  readonly maxTtl: number
  /** Host names (lower case, no port) the broker ingress answers on, per listener */
  readonly ingressHosts: { readonly internal: readonly string[]; readonly external: readonly string[] }
}

export function emptyEventingTable(): EventingTable {
  return Object.freeze({
    version: 0, brokers: new Map(), natsUrl: null, queueLimit: 10_000, maxTtl: 255,
    ingressHosts: { internal: ['broker-ingress.knative-eventing.svc.cluster.local'], external: [] },
  })
}

/** What one delivery attempt to a subscriber (or dead-letter sink) came to. */
export interface AttemptOutcome {
  /** HTTP status; 0 = no response (connect error, reset, timeout) */
  readonly status: number
  /** no response, ≥500, 404, 408, 409, 429 (Knative's SelectiveRetry) */
  readonly retryable: boolean
  /** Retry-After of a 429/503 in ms, when given */
  readonly retryAfterMs: number | null
  /** the failing response body, for `knativeerrordata` */
  readonly body: Buffer | null
  /** a 2xx whose body is a CloudEvent */
  readonly reply: CloudEventRecord | null
  /** why there was no response, for logs and /debug/eventing */
  readonly error: string | null
}

export type AcceptResult = 'accepted' | 'full' | 'failed'

/** Where accepted events wait for their triggers: memory (bounded queues) or NATS JetStream. */
export interface EventBacking {
  /** brokers and triggers changed: create/retire queues, streams and consumers */
  install(table: EventingTable): Promise<void>
  /** store the event for every trigger of the broker; resolves once it is safe to answer 202 */
  accept(broker: CompiledBroker, event: CloudEventRecord): AcceptResult | Promise<AcceptResult>
  stats(): readonly BrokerStats[]
  close(): Promise<void>
}

export interface BrokerStats {
  readonly broker: string
  readonly backing: 'memory' | 'jetstream'
  /** events accepted and not yet settled for every trigger */
  readonly depth: number
  readonly retriesInFlight: number
  readonly lastError: string | null
}

/**
 * Sends events to subscribers; shared by every backing so that retry classification, dead letters
 * and replies are decided in one place. Backings decide *when* to call (timers, JetStream naks).
 */
export interface Deliverer {
  /** one attempt at the trigger's subscriber (per-attempt timeout from its DeliverySpec) */
  attempt(trigger: CompiledTrigger, event: CloudEventRecord): Promise<AttemptOutcome>
  /** after the final failed attempt: the dead-letter sink, with knativeerror* extensions; true when accepted */
  deadLetter(trigger: CompiledTrigger, event: CloudEventRecord, last: AttemptOutcome): Promise<boolean>
  /** a subscriber's reply re-enters the trigger's broker (TTL decremented); false when refused */
  reply(trigger: CompiledTrigger, reply: CloudEventRecord): Promise<boolean>
}

// KIngress readiness probing, as Knative's status prober does it (knative/networking
// pkg/status/status.go): a KIngress is Ready only once every gateway pod answers a probe for every
// host with the hash of the spec it was given, so status never says Ready before traffic can flow.
// One probe is `GET <scheme>://<host>/healthz` sent straight to a pod's ip:port; the gateway's probe
// route echoes the hash it was programmed with (K-Network-Hash), an older config echoes an older one.
import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import type { Logger } from '../../gateway/log.ts'
import { Backoff } from '../runtime/backoff.ts'

/** One gateway pod's probe port and the hosts to probe there (Kourier: ready pods × rule hosts). */
export interface ProbeTarget {
  hosts: readonly string[]
  ip: string
  port: number
  scheme: 'http' | 'https'
}

export interface StatusProberOptions {
  /** called once per round when its last probe succeeds (not for a round with no targets) */
  onReady?: (key: string, hash: string) => void
  log?: Logger
  /** before the first attempt, so the change can reach the gateways (Knative: 200 ms) */
  initialDelayMs?: number
  /** per attempt, connect to last body byte (Knative: 1 s) */
  timeoutMs?: number
  /** per-target retry backoff, doubling from the first value to the cap (Knative: 50 ms → 30 s,
   *  the cap from PROBE_MAX_RETRY_DELAY_SECONDS) */
  firstRetryDelayMs?: number
  maxRetryDelayMs?: number
  /** probes in flight at once (Knative: 15 workers) */
  concurrency?: number
  /** retries across all rounds (Knative: 50/s, burst 100) */
  retriesPerSecond?: number
  retryBurst?: number
  /**
   * Reuse connections between probes (at most `concurrency` per pod, closed after `idleMs`
   * unused). Knative closes each one; Sluice probes its own replicas, where thousands of fresh
   * connections at start-up cost more than the probes. Default off.
   */
  keepAlive?: { idleMs: number }
}

export type Verdict = { ok: true; note?: string } | { ok: false; reason: string }

/**
 * Knative's probeVerifier: 200 with the expected hash is done, 200 with another hash is an older config
 * (retry), 200 without the header is done (best effort); 404/503 mean the route is not there yet
 * (retry); anything else carries no information and counts as done, since a Ready that comes a little
 * early is better than one that never comes.
 */
export function probeVerdict(status: number, hash: string | undefined, expected: string): Verdict {
  if (status === 200) {
    if (hash === undefined || hash === '') return { ok: true, note: 'the response has no K-Network-Hash header' }
    return hash === expected ? { ok: true } : { ok: false, reason: `unexpected hash: want ${expected}, got ${hash}` }
  }
  if (status === 404 || status === 503) return { ok: false, reason: `unexpected status code: want 200, got ${status}` }
  return { ok: true, note: `the response status is ${status}, expected one of 200, 404, 503` }
}

interface Round {
  key: string
  hash: string
  items: Item[]
  pending: Set<Item>
  cancelled: boolean
  ready: boolean
}

interface Item {
  round: Round
  target: ProbeTarget
  host: string
  backoff: Backoff
  timer?: NodeJS.Timeout
  abort?: AbortController
}

export class StatusProber {
  readonly #onReady: (key: string, hash: string) => void
  readonly #log: Logger | undefined
  readonly #initialDelayMs: number
  readonly #timeoutMs: number
  readonly #firstRetryDelayMs: number
  readonly #maxRetryDelayMs: number
  readonly #concurrency: number
  readonly #retryBucket: TokenBucket
  readonly #rounds = new Map<string, Round>()
  /** due items waiting for a free slot, oldest first */
  #runnable: Item[] = []
  #active = 0
  #stopped = false
  readonly #agents: { http: http.Agent; https: https.Agent } | null

  constructor(opts: StatusProberOptions = {}) {
    this.#onReady = opts.onReady ?? (() => {})
    this.#log = opts.log
    this.#initialDelayMs = opts.initialDelayMs ?? 200
    this.#timeoutMs = opts.timeoutMs ?? 1000
    this.#firstRetryDelayMs = opts.firstRetryDelayMs ?? 50
    this.#maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000
    this.#concurrency = opts.concurrency ?? 15
    this.#retryBucket = new TokenBucket(opts.retriesPerSecond ?? 50, opts.retryBurst ?? 100)
    const ka = opts.keepAlive
    this.#agents = ka === undefined ? null : {
      http: new http.Agent({ keepAlive: true, maxSockets: this.#concurrency, maxFreeSockets: this.#concurrency, timeout: ka.idleMs, scheduling: 'lifo' }),
      https: new https.Agent({ keepAlive: true, maxSockets: this.#concurrency, maxFreeSockets: this.#concurrency, timeout: ka.idleMs, scheduling: 'lifo' }),
    }
  }

  /**
   * Starts probing `key` (namespace/name) for `hash`. The same hash again keeps the running round
   * (targets are read once per round, as Knative does); a new hash cancels the old round first.
   */
  probe(key: string, hash: string, targets: readonly ProbeTarget[]): void {
    if (this.#stopped) return
    const old = this.#rounds.get(key)
    if (old !== undefined) {
      if (old.hash === hash) return
      this.#cancelRound(old)
    }
    const round: Round = { key, hash, items: [], pending: new Set(), cancelled: false, ready: false }
    for (const target of targets) {
      for (const host of target.hosts) {
        const item: Item = { round, target, host, backoff: new Backoff(this.#firstRetryDelayMs, this.#maxRetryDelayMs) }
        round.items.push(item)
        round.pending.add(item)
      }
    }
    this.#rounds.set(key, round)
    // nothing to probe: ready at once, like Knative's IsReady returning true without a callback
    if (round.pending.size === 0) round.ready = true
    for (const item of round.items) this.#schedule(item, this.#initialDelayMs)
  }

  /** Whether the round for `key` is for `hash` and every pod × host has answered it. */
  isReady(key: string, hash: string): boolean {
    const round = this.#rounds.get(key)
    return round !== undefined && round.hash === hash && round.ready
  }

  /** Stops probing `key` and forgets it (the KIngress was deleted or is no longer ours). */
  cancel(key: string): void {
    const round = this.#rounds.get(key)
    if (round === undefined) return
    this.#cancelRound(round)
    this.#rounds.delete(key)
  }

  /**
   * A gateway pod went away: its pending probes count as done, as Knative's CancelPodProbing does,
   * so a round does not wait forever for a pod that no longer exists.
   */
  cancelPod(ip: string): void {
    for (const round of this.#rounds.values()) {
      let removed = false
      for (const item of round.pending) {
        if (item.target.ip !== ip) continue
        this.#dropItem(item)
        round.pending.delete(item)
        removed = true
      }
      if (removed) this.#checkReady(round)
    }
  }

  /** Cancels every round; later `probe` calls do nothing. */
  stop(): void {
    this.#stopped = true
    for (const round of this.#rounds.values()) this.#cancelRound(round)
    this.#rounds.clear()
    this.#runnable = []
    this.#agents?.http.destroy()
    this.#agents?.https.destroy()
  }

  #cancelRound(round: Round): void {
    round.cancelled = true
    for (const item of round.items) this.#dropItem(item)
  }

  #dropItem(item: Item): void {
    if (item.timer !== undefined) clearTimeout(item.timer)
    item.timer = undefined
    item.abort?.abort()
  }

  #schedule(item: Item, delayMs: number): void {
    // unref: pending probes alone must not keep the process alive
    item.timer = setTimeout(() => {
      item.timer = undefined
      this.#runnable.push(item)
      this.#pump()
    }, delayMs).unref()
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#runnable.length > 0) {
      const item = this.#runnable.shift()!
      if (item.round.cancelled || !item.round.pending.has(item)) continue
      this.#active++
      void this.#attempt(item).finally(() => {
        this.#active--
        this.#pump()
      })
    }
  }

  async #attempt(item: Item): Promise<void> {
    const abort = new AbortController()
    item.abort = abort
    const agent = this.#agents === null ? undefined : item.target.scheme === 'https' ? this.#agents.https : this.#agents.http
    const verdict = await sendProbe({ target: item.target, host: item.host, expectedHash: item.round.hash, timeoutMs: this.#timeoutMs, signal: abort.signal, ...(agent !== undefined ? { agent } : {}) })
    item.abort = undefined
    const round = item.round
    // cancelled meanwhile (new hash, deleted KIngress, pod gone): the answer no longer matters
    if (round.cancelled || !round.pending.has(item)) return
    const where = { ingress: round.key, url: `${item.target.scheme}://${item.host}/healthz`, pod: `${item.target.ip}:${item.target.port}` }
    if (verdict.ok) {
      if (verdict.note !== undefined) this.#log?.warn('probe abandoned, counting it as ready', { ...where, why: verdict.note })
      round.pending.delete(item)
      this.#checkReady(round)
      return
    }
    // retry: the item's own backoff, but never faster than the shared retry budget allows
    const delay = Math.max(item.backoff.next(), this.#retryBucket.reserve())
    this.#log?.debug('probe failed, retrying', { ...where, why: verdict.reason, retryInMs: Math.round(delay) })
    this.#schedule(item, delay)
  }

  #checkReady(round: Round): void {
    if (round.ready || round.pending.size > 0) return
    round.ready = true
    try {
      this.#onReady(round.key, round.hash)
    } catch (err) {
      this.#log?.error('the probe ready callback failed', { ingress: round.key, err })
    }
  }
}

interface ProbeRequest {
  target: ProbeTarget
  host: string
  expectedHash: string
  timeoutMs: number
  signal: AbortSignal
  /** a keep-alive agent; without one, a fresh connection closed after the answer */
  agent?: http.Agent
}

/**
 * One probe on a fresh connection that is closed afterwards (Knative disables keep-alives: probing
 * every pod × host must not leave sockets behind). Host and SNI are the rule host, the TCP peer is the
 * pod; the certificate is not verified since only the gateway's configuration is being checked.
 * Never rejects: a transport error or a timeout is a verdict to retry.
 */
export function sendProbe(req: ProbeRequest): Promise<Verdict> {
  const { target, host } = req
  return new Promise((resolve) => {
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const finish = (v: Verdict): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(v)
    }
    const options: https.RequestOptions = {
      host: target.ip,
      port: target.port,
      method: 'GET',
      path: '/healthz',
      agent: req.agent ?? false,
      signal: req.signal,
      headers: {
        Host: host,
        'User-Agent': 'Knative-Ingress-Probe',
        'K-Network-Probe': 'probe',
        'K-Network-Hash': 'override',
        ...(req.agent === undefined ? { Connection: 'close' } : {}),
      },
    }
    if (target.scheme === 'https') {
      options.rejectUnauthorized = false
      // SNI carries names only (RFC 6066); a rule host is a name, but be safe
      if (isIP(host) === 0) options.servername = host
    }
    const request = (target.scheme === 'https' ? https : http).request(options, (res) => {
      const hash = res.headersDistinct['k-network-hash']?.[0]
      const status = res.statusCode ?? 0
      // like Go's prober.Do: the verdict comes after the whole body arrived
      res.on('data', () => {})
      res.on('end', () => finish(probeVerdict(status, hash, req.expectedHash)))
      res.on('error', (err) => finish({ ok: false, reason: `error reading body: ${err.message}` }))
      res.on('aborted', () => finish({ ok: false, reason: 'the response was cut short' }))
    })
    timer = setTimeout(() => {
      finish({ ok: false, reason: `no answer within ${req.timeoutMs}ms` })
      request.destroy()
    }, req.timeoutMs)
    request.on('error', (err) => finish({ ok: false, reason: err.message }))
    request.on('close', () => finish({ ok: false, reason: 'the connection closed before a response' }))
    request.end()
  })
}

/**
 * golang.org/x/time/rate's Limiter.Reserve: each call takes a token and says how long to wait for it;
 * the bucket refills at `perSecond` up to `burst` and may go into debt. `now` is in milliseconds.
 */
export class TokenBucket {
  readonly #perMs: number
  readonly #burst: number
  #tokens: number
  #last: number

  constructor(perSecond: number, burst: number, now = performance.now()) {
    this.#perMs = perSecond / 1000
    this.#burst = burst
    this.#tokens = burst
    this.#last = now
  }

  reserve(now = performance.now()): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#perMs)
    this.#last = now
    this.#tokens -= 1
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#perMs
  }
}

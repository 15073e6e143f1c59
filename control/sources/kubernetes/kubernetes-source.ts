// The Kubernetes source: client-node informers over KIngress (our class only), Services,
// EndpointSlices, Secrets, the Knative ConfigMaps, Plugins and the eventing kinds (Brokers of
// Sluice's classes, their Triggers and PingSources: eventing-ownership.ts), turned into the same
// whole-snapshot LoadResult the file source reports, so one reconcile → compile → swap path serves both.
//
// Watching is level-based like client-go's: each informer keeps a cache; any change schedules one
// snapshot (coalesced). Nothing is reported before every informer has listed once, so the first
// table is never partial. An informer that fails (API server down, dropped watch, non-2xx) is
// restarted with backoff forever; its cache, and so the last table, stays while it is down.
import { createHash } from 'node:crypto'
import {
  CoreV1Api, CustomObjectsApi, DiscoveryV1Api, makeInformer,
  type Informer, type KubeConfig, type KubernetesObject, type ObjectCache,
} from '@kubernetes/client-node'
import type { Logger } from '../../../gateway/log.ts'
import { emptyResourceSet, type KObject, type ResourceSet } from '../../resources/types.ts'
import type { LoadResult } from '../load.ts'
import { INGRESS_CLASS_ANNOTATION } from '../validate-ingress.ts'
import { checked, configMap, coreService, endpointSlice, secret, type Checked, type RawObject, type RejectedObject } from './cluster-objects.ts'
import { EVENTING_KINDS, eventingOwner, isNotFound, mapEventing, type EventingBucket } from './eventing-ownership.ts'

export type { RejectedObject }

export const SLUICE_INGRESS_CLASS = 'sluice.ingress.networking.knative.dev'

export interface KubernetesSourceOptions {
  readonly kubeConfig: KubeConfig
  readonly log: Logger
  /** KIngresses whose `networking.knative.dev/ingress.class` is exactly this are ours; others are not read */
  readonly ingressClass?: string
  /** where config-network, config-sluice, … live */
  readonly knativeNamespace?: string
  /** quiet time after a change before a snapshot; bursts (a relist) become one load */
  readonly settleMs?: number
  /** first and longest wait before restarting a failed informer */
  readonly backoffMs?: readonly [number, number]
  /** how often a kind whose CRD is not installed (Knative Eventing absent: 404) is listed again */
  readonly absentRetryMs?: number
}

/** A snapshot of the cluster: what loads, and what was rejected object by object. */
export interface ClusterLoad extends LoadResult {
  readonly rejected: readonly RejectedObject[]
}

type Bucket = 'ingresses' | 'coreServices' | 'endpointSlices' | 'secrets' | 'configMaps' | 'plugins' | EventingBucket

interface Watched {
  readonly bucket: Bucket
  readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>
  /** mapped objects by namespace/name (a KIngress of another class is absent) */
  readonly objects: Map<string, Checked>
  synced: boolean
  /** a kind whose CRD may not be installed: a 404 on list means "none", not a failure */
  readonly optional: boolean
  /** the last list answered 404: the kind counts as empty and is listed again rarely */
  absent: boolean
  /** of Triggers and PingSources: the `namespace/name` of the Broker they belong to, if any */
  readonly owners: Map<string, string>
  /** of KIngresses and eventing objects: a hash of what the mapped object is made of, to tell a status-only update */
  readonly inputs: Map<string, string>
  /** consecutive failures (the backoff); reset by a list that answers */
  failures: number
  /** every failure since start, for the metric */
  failuresTotal: number
  restart: NodeJS.Timeout | undefined
}

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`

/**
 * Everything checked() reads from a KIngress, Plugin, Broker, Trigger or PingSource except
 * resourceVersion (status is not read at all), as a hash: the JSON itself, kept for every object,
 * was a copy of each spec (~0.5 KB per KIngress, more with big annotations).
 */
function ingressInput(raw: RawObject): string {
  const m = raw.metadata ?? {}
  const created = m.creationTimestamp instanceof Date ? m.creationTimestamp.toISOString() : m.creationTimestamp
  return createHash('sha256').update(JSON.stringify([m.uid, m.generation, created, m.labels, m.annotations, raw['spec']])).digest('base64')
}

/**
 * What the informer caches is only read for its spec, metadata and status: managedFields (often
 * larger than the rest of the object) are dropped on arrival, as client-go's informers do with
 * TransformStripManagedFields. The list and watch APIs have no option to leave them out.
 */
function stripManagedFields(o: KubernetesObject): void {
  if (o.metadata?.managedFields !== undefined) delete o.metadata.managedFields
}

export class KubernetesSource {
  readonly #opts: KubernetesSourceOptions
  readonly #class: string
  readonly #watched: Watched[] = []
  #onLoad: ((r: ClusterLoad) => void) | undefined
  /**
   * A KIngress of ours changed only outside what Sluice serves from (its status, resourceVersion,
   * managedFields): no new snapshot, only this. The status writer re-checks that one ingress.
   */
  onStatusChange: ((namespace: string, name: string) => void) | undefined
  /** the same for the eventing kinds (Broker, Trigger, PingSource): the eventing status writer re-checks that one */
  onEventingStatusChange: ((kind: string, namespace: string, name: string) => void) | undefined
  /** PingSources fire from the leader only (every replica firing would send each tick N times) */
  #leading = false
  #timer: NodeJS.Timeout | undefined
  #stopped = true
  /** bumped on every EndpointSlice change: endpoints() answers from its memo until then */
  #slicesVersion = 0
  #endpointsMemo = new Map<string, { version: number; list: { ip: string; ports: Record<string, number> }[] }>()

  constructor(opts: KubernetesSourceOptions) {
    this.#opts = opts
    this.#class = opts.ingressClass ?? SLUICE_INGRESS_CLASS
    const kc = opts.kubeConfig
    const core = kc.makeApiClient(CoreV1Api)
    const discovery = kc.makeApiClient(DiscoveryV1Api)
    const custom = kc.makeApiClient(CustomObjectsApi)
    const kns = opts.knativeNamespace ?? 'knative-serving'
    const crd = (group: string, version: string, plural: string) => async () =>
      (await custom.listClusterCustomObject({ group, version, plural })) as { items: KubernetesObject[]; metadata?: { resourceVersion?: string } }
    this.#add('ingresses', '/apis/networking.internal.knative.dev/v1alpha1/ingresses', crd('networking.internal.knative.dev', 'v1alpha1', 'ingresses'))
    this.#add('coreServices', '/api/v1/services', () => core.listServiceForAllNamespaces())
    this.#add('endpointSlices', '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces())
    this.#add('secrets', '/api/v1/secrets', () => core.listSecretForAllNamespaces())
    this.#add('configMaps', `/api/v1/namespaces/${kns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: kns }))
    this.#add('plugins', '/apis/sluice.dev/v1alpha1/plugins', crd('sluice.dev', 'v1alpha1', 'plugins'))
    for (const k of EVENTING_KINDS) this.#add(k.bucket, `/apis/${k.group}/${k.version}/${k.plural}`, crd(k.group, k.version, k.plural), true)
  }

  /** This replica leads: its snapshots include the PingSources it must fire. */
  setLeading(leading: boolean): void {
    if (leading === this.#leading) return
    this.#leading = leading
    if (this.#watched.some((w) => w.bucket === 'pingSources' && w.objects.size > 0)) this.#changed()
  }

  /** A Broker, Trigger or PingSource as the cluster holds it now (status and resourceVersion included). */
  eventingObject(bucket: EventingBucket, namespace: string, name: string): RawObject | undefined {
    return this.#watched.find((w) => w.bucket === bucket)?.informer.get(name, namespace) as RawObject | undefined
  }

  /** every informer has listed at least once */
  get synced(): boolean {
    return this.#watched.every((w) => w.synced)
  }

  /** The KIngress as the cluster holds it now (status and resourceVersion included), if it is ours. */
  ingress(namespace: string, name: string): RawObject | undefined {
    const w = this.#watched[0]!
    const raw = w.informer.get(name, namespace) as RawObject | undefined
    return raw !== undefined && this.#ours(raw) ? raw : undefined
  }

  /** A Plugin as the cluster holds it now (status and resourceVersion included). */
  plugin(namespace: string, name: string): RawObject | undefined {
    return this.#watched.find((w) => w.bucket === 'plugins')!.informer.get(name, namespace) as RawObject | undefined
  }

  /** Ready addresses of a Service's EndpointSlices, with their ports by name (the prober's targets). */
  endpoints(namespace: string, service: string): { ip: string; ports: Record<string, number> }[] {
    // The prober asks once per ingress it starts probing: scanning every slice each time was
    // O(ingresses × slices) at start-up. Bounded: one entry per Service asked about (Sluice's own).
    const memoKey = `${namespace}/${service}`
    const memo = this.#endpointsMemo.get(memoKey)
    if (memo !== undefined && memo.version === this.#slicesVersion) return memo.list.slice()
    if (this.#endpointsMemo.size >= 16) this.#endpointsMemo.clear()
    const out: { ip: string; ports: Record<string, number> }[] = []
    for (const c of this.#watched.find((w) => w.bucket === 'endpointSlices')!.objects.values()) {
      const s = c.object as (KObject & { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[]; ports?: { name?: string; port: number }[] }) | undefined
      if (s === undefined || s.metadata.namespace !== namespace || s.metadata.labels['kubernetes.io/service-name'] !== service) continue
      const ports: Record<string, number> = {}
      for (const p of s.ports ?? []) ports[p.name ?? ''] = p.port
      for (const e of s.endpoints ?? []) {
        if (e.conditions?.ready === false) continue
        for (const ip of e.addresses) out.push({ ip, ports })
      }
    }
    this.#endpointsMemo.set(memoKey, { version: this.#slicesVersion, list: out })
    return out.slice()
  }

  /** per watched resource: listed at least once, and how many times its watch failed */
  stats(): { resource: string; synced: boolean; failures: number; objects: number; installed: boolean }[] {
    return this.#watched.map((w) => ({ resource: w.bucket, synced: w.synced, failures: w.failuresTotal, objects: w.objects.size, installed: !w.absent }))
  }

  start(onLoad: (r: ClusterLoad) => void): void {
    this.#onLoad = onLoad
    this.#stopped = false
    for (const w of this.#watched) this.#startInformer(w)
  }

  stop(): void {
    this.#stopped = true
    this.#onLoad = undefined
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    for (const w of this.#watched) {
      if (w.restart !== undefined) clearTimeout(w.restart)
      w.restart = undefined
      void w.informer.stop()
    }
  }

  #ours(raw: RawObject): boolean {
    return raw.metadata?.annotations?.[INGRESS_CLASS_ANNOTATION] === this.#class
  }

  #add(bucket: Bucket, path: string, list: () => Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }>, optional = false): void {
    const objects = new Map<string, Checked>()
    const owners = new Map<string, string>()
    let w: Watched | undefined
    const listed = async () => {
      let r: Awaited<ReturnType<typeof list>>
      try {
        r = await list()
      } catch (err) {
        if (optional && isNotFound(err)) this.#absent(w!)
        throw err
      }
      // A list that answered is the informer's sync point (the watch starts from its version).
      if (w!.absent) this.#opts.log.info('resource installed in the cluster; watching it', { resource: bucket })
      w!.absent = false
      w!.synced = true
      w!.failures = 0
      // An empty cluster has no add events: the sync itself must produce the first load.
      this.#changed()
      return r
    }
    const informer = makeInformer(this.#opts.kubeConfig, path, listed as Parameters<typeof makeInformer>[2])
    const inputs = new Map<string, string>()
    w = { bucket, informer, objects, synced: false, optional, absent: false, owners, inputs, failures: 0, failuresTotal: 0, restart: undefined }
    const eventingKind = EVENTING_KINDS.find((k) => k.bucket === bucket)?.kind
    const put = (o: KubernetesObject) => {
      stripManagedFields(o)
      if (eventingKind !== undefined) {
        // The leader's status writes come back as updates: they change nothing Sluice serves.
        const k = keyOf(o)
        const input = ingressInput(o as RawObject)
        if (inputs.get(k) === input) {
          this.onEventingStatusChange?.(eventingKind, o.metadata?.namespace ?? '', o.metadata?.name ?? '')
          return
        }
        inputs.set(k, input)
        const owner = eventingOwner(bucket as EventingBucket, o as RawObject)
        if (owner !== undefined) owners.set(k, owner)
        else owners.delete(k)
      }
      if (bucket === 'ingresses' || bucket === 'plugins') {
        // The leader's own status writes come back as updates of every ingress: rebuilding and
        // reconciling the whole snapshot for each made an event at 2,000 ingresses wait behind
        // several full passes. The mapped object holds only metadata (but resourceVersion) and spec.
        const k = keyOf(o)
        const input = ingressInput(o as RawObject)
        if (objects.has(k) && inputs.get(k) === input) {
          const m = o.metadata
          if (bucket === 'ingresses' && this.#ours(o as RawObject)) this.onStatusChange?.(m?.namespace ?? '', m?.name ?? '')
          return
        }
        inputs.set(k, input)
      }
      if (bucket === 'endpointSlices') this.#slicesVersion++
      const m = this.#map(bucket, o as RawObject)
      if (m !== undefined) objects.set(keyOf(o), m)
      // A KIngress of another class that stays so changes nothing we serve: no snapshot.
      else if (!objects.delete(keyOf(o))) return
      this.#changed()
    }
    informer.on('add', put)
    informer.on('update', put)
    informer.on('delete', (o) => {
      inputs.delete(keyOf(o))
      owners.delete(keyOf(o))
      if (bucket === 'endpointSlices') this.#slicesVersion++
      if (objects.delete(keyOf(o))) this.#changed()
    })
    informer.on('error', (err: unknown) => this.#failed(w!, err))
    this.#watched.push(w)
  }

  #map(bucket: Bucket, raw: RawObject): Checked | undefined {
    switch (bucket) {
      case 'ingresses': return this.#ours(raw) ? checked(raw, 'networking.internal.knative.dev/v1alpha1', 'Ingress') : undefined
      case 'plugins': return checked(raw, 'sluice.dev/v1alpha1', 'Plugin')
      case 'coreServices': return { object: coreService(raw) }
      case 'endpointSlices': return { object: endpointSlice(raw) }
      case 'secrets': return { object: secret(raw) }
      case 'configMaps': return { object: configMap(raw) }
      case 'brokers': case 'triggers': case 'pingSources': return mapEventing(bucket, raw)
    }
  }

  /** The CRD of an optional kind is not installed (404): no objects of it, and not a failure. */
  #absent(w: Watched): void {
    if (!w.absent) this.#opts.log.info('resource not installed in the cluster (404); treated as empty and listed again later', { resource: w.bucket, retryInMs: this.#opts.absentRetryMs ?? 60_000 })
    w.absent = true
    w.synced = true
    w.failures = 0
    w.owners.clear()
    w.inputs.clear()
    w.objects.clear()
    this.#changed()
  }

  #startInformer(w: Watched): void {
    w.restart = undefined
    if (this.#stopped) return
    w.informer.start().catch((err: unknown) => this.#failed(w, err))
  }

  /** client-node stops an informer on any error but 410 and timeouts: start it again, backing off. */
  #failed(w: Watched, err: unknown): void {
    if (this.#stopped || w.restart !== undefined) return
    // A watch that answers 404: the CRD went away while watched.
    if (w.optional && isNotFound(err) && !w.absent) this.#absent(w)
    if (w.absent) {
      w.restart = setTimeout(() => this.#startInformer(w), this.#opts.absentRetryMs ?? 60_000)
      return
    }
    const [first, max] = this.#opts.backoffMs ?? [250, 30_000]
    const delay = Math.min(max, first * 2 ** Math.min(w.failures, 20))
    w.failures++
    w.failuresTotal++
    const e = err as { message?: string; code?: string; cause?: { code?: string } }
    const log = w.failures === 1 || w.failures % 10 === 0 ? this.#opts.log.warn : this.#opts.log.debug
    log('watch failed; retrying, the last good configuration keeps serving', {
      resource: w.bucket, attempt: w.failures, retryInMs: delay, error: e?.message ?? String(err), code: e?.cause?.code ?? e?.code,
    })
    w.restart = setTimeout(() => this.#startInformer(w), delay)
  }

  #changed(): void {
    if (this.#onLoad === undefined || this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#onLoad !== undefined && this.synced) this.#onLoad(this.snapshot())
    }, this.#opts.settleMs ?? 5)
  }

  /** The cluster as one load. Called after sync, so it is never partial. */
  snapshot(): ClusterLoad {
    const resources: ResourceSet = emptyResourceSet()
    const rejected: RejectedObject[] = []
    // Triggers and PingSources are ours only when their Broker is (see eventing-ownership.ts).
    const brokers = new Set(this.#watched.find((w) => w.bucket === 'brokers')?.objects.keys())
    for (const w of this.#watched) {
      if (w.bucket === 'pingSources' && !this.#leading) continue
      const into = (w.bucket === 'plugins' ? resources.others : resources[w.bucket]) as KObject[]
      const owned = w.bucket === 'triggers' || w.bucket === 'pingSources'
      for (const [k, c] of w.objects) {
        if (owned && !brokers.has(w.owners.get(k) ?? '')) continue
        if (c.object !== undefined) into.push(c.object)
        else rejected.push(c.rejected)
      }
    }
    return { resources, errors: [], files: [], rejected }
  }
}

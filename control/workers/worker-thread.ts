// One `sluice serve --workers` worker thread: a Gateway on the shared ports (SO_REUSEPORT) that
// compiles each table the primary sends (protocol.ts says why it is not sent compiled), counts
// instance slots in the shared buffer with the other workers, and reports its meters, demand and
// metrics to the primary. It holds no control state: it can die and be restarted at any time.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { Registry } from 'prom-client'
import { Gateway } from '../../gateway/gateway.ts'
import { createLogger, type Logger } from '../../gateway/log.ts'
import type { RouteTable } from '../../gateway/route-table.ts'
import type { PluginEntry } from '../../gateway/plugins/chain.ts'
import type { RoutingIngress } from '../model.ts'
import { SharedSlots } from '../../gateway/worker/shared-slots.ts'
import { CompileCache, compile } from '../compile/compile.ts'
import { PluginRegistry } from '../plugins/registry.ts'
import { PluginInstances } from '../plugins/instances.ts'
import type { ResolvedPlugin } from '../plugins/resolve.ts'
import { NOT_READY_REF, notReadyPlugin } from '../plugins/quarantine.ts'
import { edgeOptions, listenerSettings } from '../settings/kourier-keys.ts'
import { connectionLimits } from '../settings/connection-limits.ts'
import type { FromWorker, PluginRef, TableSnapshot, ToWorker, WorkerStart } from './protocol.ts'

const SAMPLE_INTERVAL_MS = 1_000

const start = workerData as WorkerStart
const port = parentPort!
const base = createLogger()
const log: Logger = {
  debug: (m, f) => base.debug(m, { worker: start.index, ...f }),
  info: (m, f) => base.info(m, { worker: start.index, ...f }),
  warn: (m, f) => base.warn(m, { worker: start.index, ...f }),
  error: (m, f) => base.error(m, { worker: start.index, ...f }),
}
const send = (m: FromWorker): void => port.postMessage(m)

const gateway = new Gateway()
gateway.log = log
gateway.activator.slots = new SharedSlots({ slots: start.slotCount, workers: start.workerCount, buffer: start.slots, worker: start.index })
// Every request buffered at zero asks; one message per revision per turn of the loop carries them.
const demanded = new Set<string>()
const flushDemand = (): void => {
  for (const key of demanded) send({ t: 'demand', key, current: gateway.activator.throttler(key)?.current ?? 1 })
  demanded.clear()
}
gateway.activator.onDemand = (key) => {
  if (demanded.size === 0) setImmediate(flushDemand)
  demanded.add(key)
}
gateway.activator.onEjected = (key, id, ejections) => send({ t: 'ejected', key, id, ejections })
const registry = new Registry()
gateway.metrics.register(registry, { inflight: () => gateway.inflight, throttlers: () => gateway.activator.throttlers() })

const plugins = new PluginRegistry()
const instances = new PluginInstances(log)
const cache = new CompileCache()
let version = 0
let held: { table: RouteTable; snapshot: TableSnapshot } | null = null

/** Phase one: compile (plugin modules imported, instances made) and hold the table. */
async function prepare(snapshot: TableSnapshot): Promise<void> {
  if (snapshot.modules.length > 0) await plugins.load(snapshot.modules)
  const byIngress = new Map<RoutingIngress, readonly PluginRef[]>()
  snapshot.model.ingresses.forEach((ing, i) => byIngress.set(ing, snapshot.plugins[i] ?? []))
  instances.begin()
  try {
    const table = compile(snapshot.model, gateway.metrics.slots, snapshot.version,
      (ing) => (byIngress.get(ing) ?? []).map((p) => instances.entry(ing.namespace, ing.name, resolved(p))),
      { ...edgeOptions(snapshot.settings), ...(snapshot.internalTrust !== undefined ? { internalTrust: snapshot.internalTrust } : {}) }, cache)
    held = { table, snapshot }
  } catch (err) {
    instances.abort()
    throw err
  }
}

/** Phase two: every worker holds the table; install it. */
function commit(v: number): void {
  if (held === null || held.snapshot.version !== v) return
  const { table, snapshot } = held
  held = null
  instances.commit()
  const s = snapshot.settings
  // Each worker has its own queue: the configured bound is shared out, so no more than
  // activator-queue-depth requests (rounded up to a multiple of the workers) wait in all of them.
  gateway.activator.queueDepth = Math.ceil(s.sluice.activatorQueueDepth / start.workerCount)
  gateway.setConnectionLimits(connectionLimits(s))
  gateway.activator.fixedSlots = new Map(snapshot.fixedSlots ?? [])
  gateway.swap(table)
  gateway.setListenerSettings(listenerSettings(s))
  void gateway.setTracing(s.tracing)
  version = v
}

function resolved(p: PluginRef): ResolvedPlugin {
  if (p.ref === NOT_READY_REF) return notReadyPlugin(p.key, undefined)
  const def = plugins.get(p.ref, p.baseDir)
  if (def === undefined || def instanceof Error) throw new Error(`plugin ${p.key}: ${def?.message ?? `module ${p.ref} is not loaded`}`)
  return { key: p.key, plugin: def, ref: p.ref, priority: p.priority, config: p.config, configJson: p.configJson, baseDir: p.baseDir }
}

function figures(req: number): void {
  const revisions: Record<string, { current: number; queued: number; overflows: number }> = {}
  for (const t of gateway.activator.throttlers()) revisions[t.key] = { current: t.current, queued: t.queue.size, overflows: t.overflows }
  void registry.getSingleMetricAsString('sluice_requests_total').then((text) => {
    let requests = 0
    for (const line of text.split('\n')) if (line !== '' && !line.startsWith('#')) requests += Number(line.slice(line.lastIndexOf(' ') + 1))
    send({ t: 'figures', req, figures: { index: start.index, threadId, version, inflight: gateway.inflight, requests, revisions } })
  })
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'prepare':
      prepare(m.table).then(() => send({ t: 'prepared', version: m.table.version }),
        (err: unknown) => {
          log.error('cannot compile the table the primary sent; keeping the current one', { version: m.table.version, err })
          send({ t: 'prepared', version: m.table.version, error: String(err) })
        })
      return
    case 'commit':
      commit(m.version)
      send({ t: 'committed', version: m.version })
      return
    case 'instances':
      gateway.activator.setInstances(m.key, m.refs)
      return
    case 'drain-instance':
      void gateway.activator.drainInstance(m.key, m.id, m.timeoutMs).then(() => send({ t: 'done', req: m.req }))
      return
    case 'collect':
      void registry.getMetricsAsJSON().then((metrics) => send({ t: 'metrics', req: m.req, metrics }))
      return
    case 'describe':
      figures(m.req)
      return
    case 'drain':
      clearInterval(sampler)
      void gateway.drain(m.timeoutMs).then((finished) => {
        // the primary stops this thread once it has the answer
        send({ t: 'drained', finished, cut: gateway.cutByDrain })
      })
      return
  }
})

const sampler = setInterval(() => {
  const stats = gateway.activator.sample(performance.now())
  const current: [string, number, number][] = []
  for (const t of gateway.activator.throttlers()) current.push([t.key, t.current, t.queue.size])
  send({ t: 'sample', stats, current })
}, SAMPLE_INTERVAL_MS)
sampler.unref()

// The first table and the instances known so far, then the shared ports.
for (const [key, refs] of start.instances) gateway.activator.setInstances(key, refs)
await prepare(start.table)
commit(start.table.version)
const l = start.listen
const ports = await gateway.listen({ port: l.port, internalPort: l.internalPort, host: l.host, internalHost: l.internalHost, reusePort: true })
send({ t: 'listening', port: ports.port, internalPort: ports.internalPort })

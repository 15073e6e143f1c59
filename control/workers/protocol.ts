// The messages between `sluice serve --workers`'s primary (control loop, autoscaler, runtime,
// admin) and its worker threads (one gateway each). A compiled RouteTable is not structured-
// cloneable (plugin instances, throttlers, metric slots, SecureContexts are live objects), so the
// primary sends what compile() was given — the reconciled routing model, the settings, the plugin
// references — and every worker compiles the same table from it (compile is a pure function).
import type { RoutingModel } from '../model.ts'
import type { Settings } from '../settings/types.ts'
import type { InstanceRef } from '../../gateway/activator/upstream-instance.ts'
import type { ThrottlerStats } from '../../gateway/activator/throttler.ts'
import type { ResolvedPlugin } from '../plugins/resolve.ts'
import type { MetricObjectWithValues, MetricValue } from 'prom-client'

/** A resolved plugin as data: the worker looks the definition up in its own registry. */
export interface PluginRef {
  readonly key: string
  /** a built-in name or a module path (relative to baseDir) */
  readonly ref: string
  readonly baseDir: string
  readonly priority: number
  readonly config: unknown
  readonly configJson: string
}

/** Everything a worker needs to compile the table the primary compiled. */
export interface TableSnapshot {
  readonly version: number
  readonly model: RoutingModel
  readonly settings: Settings
  /** plugin refs per ingress, in model.ingresses order */
  readonly plugins: readonly (readonly PluginRef[])[]
  /** system-internal-tls trust chain (PEM) */
  readonly internalTrust?: string
  /** plugin module files to import before compiling */
  readonly modules: readonly string[]
  /** shared slots of fixed origins with containerConcurrency (`backend key + ' ' + origin`), set by the worker pool */
  readonly fixedSlots?: readonly (readonly [string, number])[]
  /** what the table has that workers do not serve yet (docs/workers.md): the primary warns */
  readonly unserved?: { readonly tls: boolean; readonly brokers: number }
}

export function pluginRef(p: ResolvedPlugin): PluginRef {
  return { key: p.key, ref: p.ref ?? p.plugin.name, baseDir: p.baseDir, priority: p.priority, config: p.config, configJson: p.configJson }
}

/** What a worker starts with (workerData). */
export interface WorkerStart {
  readonly index: number
  readonly slots: SharedArrayBuffer
  readonly slotCount: number
  readonly workerCount: number
  readonly listen: { port: number; internalPort: number; host?: string; internalHost: string }
  readonly table: TableSnapshot
  /** the latest instances of every managed backend */
  readonly instances: readonly [string, readonly InstanceRef[]][]
}

export type ToWorker =
  /** compile this table and hold it (phase one of a swap) */
  | { readonly t: 'prepare'; readonly table: TableSnapshot }
  /** install the held table (phase two: every worker has compiled it) */
  | { readonly t: 'commit'; readonly version: number }
  | { readonly t: 'instances'; readonly key: string; readonly refs: readonly InstanceRef[] }
  | { readonly t: 'drain-instance'; readonly req: number; readonly key: string; readonly id: string; readonly timeoutMs: number }
  | { readonly t: 'collect'; readonly req: number }
  | { readonly t: 'describe'; readonly req: number }
  /** stop accepting, finish in-flight requests, then exit */
  | { readonly t: 'drain'; readonly timeoutMs: number }

/** A worker's figures for /debug/workers. */
export interface WorkerFigures {
  readonly index: number
  readonly threadId: number
  readonly version: number
  readonly inflight: number
  readonly requests: number
  readonly revisions: Record<string, { current: number; queued: number; overflows: number }>
}

export type FromWorker =
  | { readonly t: 'listening'; readonly port: number; readonly internalPort: number }
  | { readonly t: 'prepared'; readonly version: number; readonly error?: string }
  | { readonly t: 'committed'; readonly version: number }
  /** a request found a managed revision without an instance (scale from zero) */
  | { readonly t: 'demand'; readonly key: string; readonly current: number }
  /** every second: the activator's meters, and what is in flight and waiting now */
  | { readonly t: 'sample'; readonly stats: readonly ThrottlerStats[]; readonly current: readonly [string, number, number][] }
  | { readonly t: 'ejected'; readonly key: string; readonly id: string; readonly ejections: number }
  | { readonly t: 'done'; readonly req: number }
  | { readonly t: 'metrics'; readonly req: number; readonly metrics: MetricObjectWithValues<MetricValue<string>>[] }
  | { readonly t: 'figures'; readonly req: number; readonly figures: WorkerFigures }
  | { readonly t: 'drained'; readonly finished: boolean; readonly cut: number }

// What the scaling loop needs of the activator: meters, demand, instances, drains. In one process
// it is the gateway's own Activator (localActivatorPort); with --workers it is the worker pool,
// which sums every worker's meters and pushes instances to all of them (control/workers/).
import type { Activator } from '../../gateway/activator/activator.ts'
import type { ThrottlerStats } from '../../gateway/activator/throttler.ts'
import type { InstanceRef } from '../../gateway/activator/upstream-instance.ts'

export interface ActivatorPort {
  /** demand: a request reached a managed revision with no instance; ejected: outlier detection ejected an instance */
  listen(hooks: { demand(key: string): void; ejected(key: string, id: string, ejections: number): void }): void
  setInstances(key: string, refs: readonly InstanceRef[]): void
  drainInstance(key: string, id: string, timeoutMs: number): Promise<void>
  /** Knative's 1 s stats per backend: average concurrency (buffered included) and requests */
  sample(now: number): ThrottlerStats[]
  /** requests in flight for a backend now, buffered ones included; undefined when it has no throttler */
  current(key: string): number | undefined
  /** requests waiting for a slot */
  queued(key: string): number
  /** an instance's balancing state for /debug/instances */
  describeInstance(key: string, id: string): object | undefined
  /** fixed upstreams' balancing and ejection state */
  describeFixed(): Record<string, object[]>
}

export function localActivatorPort(a: Activator): ActivatorPort {
  return {
    listen(hooks) {
      a.onDemand = hooks.demand
      a.onEjected = hooks.ejected
    },
    setInstances: (key, refs) => a.setInstances(key, refs),
    drainInstance: (key, id, timeoutMs) => a.drainInstance(key, id, timeoutMs),
    sample: (now) => a.sample(now),
    current: (key) => a.throttler(key)?.current,
    queued: (key) => a.throttler(key)?.queue.size ?? 0,
    describeInstance(key, id) {
      const t = a.throttler(key)
      const live = t?.instance(id)
      return t === undefined || live === undefined ? undefined : t.describeInstance(live, a.clock())
    },
    describeFixed: () => a.describeFixed(),
  }
}

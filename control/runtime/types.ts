// The local runtime's public shapes: what the control loop hands it and what the gateway reads back.
import type { Logger } from '../../gateway/log.ts'
import type { Container } from '../resources/types.ts'

export interface RuntimeRevision {
  /** `${namespace}/${name}` */
  key: string
  namespace: string
  name: string
  /** owning Service, '' when the revision comes from a bare Configuration (Knative sets K_SERVICE to '' too) */
  service: string
  configuration: string
  container: Container
  /** bounds how long a stopping instance may keep serving in-flight requests */
  timeoutSeconds: number
}

export type InstanceState = 'starting' | 'ready' | 'draining' | 'stopping' | 'exited'

export interface InstanceInfo {
  /** `${revisionName}-${n}`, n counting up from 1 per revision */
  id: string
  /** revision key */
  revision: string
  state: InstanceState
  port: number
  pid: number | undefined
  /** `http://127.0.0.1:${port}` */
  origin: string
  protocol: 'http1' | 'h2c'
  startedAt: number
  /** last time the instance became ready */
  readyAt?: number
  /** how many crashed instances this one replaces in a row, like a pod's restartCount */
  restarts: number
}

export interface RuntimeFailure { reason: string; message: string }

export interface RevisionRuntimeStatus {
  desired: number
  ready: number
  starting: number
  failure?: RuntimeFailure
  everReady: boolean
  /** spawn → ready of the first instance that ever became ready (cold start) */
  firstReadyMs?: number
}

export interface LocalRuntimeOptions {
  log: Logger
  /**
   * Called when a revision's set of READY instances changes (became ready, removed, crashed, draining,
   * turned unready), and when its status().failure is set or cleared.
   */
  onChange(revisionKey: string): void
  /** Stop routing new requests to the instance; resolve when its in-flight requests are done (bounded by timeoutMs). */
  drain(instance: InstanceInfo, timeoutMs: number): Promise<void>
  /** probe interval while starting, default 2 (≤ 50 ms like the queue-proxy's aggressive probe); longer while many instances start */
  probeIntervalMs?: number
  /** keep a shell prelaunched so starting an instance does not block on fork + exec (default true) */
  prelaunch?: boolean
  /** SIGTERM → SIGKILL, default 10_000 */
  terminationGraceMs?: number
  /** report ProgressDeadline when a revision wanted >0 instances and none ever became ready; default 600_000 (config-deployment progress-deadline) */
  progressDeadlineMs?: number
  clock?: () => number
}

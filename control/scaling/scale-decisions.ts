// The autoscaler's decisions in the log: one INFO line when a revision's scale changes (1 to 3),
// with why (panic or stable window), what it observed and what it aims at. Ticks that change
// nothing say nothing, so the log reads like Knative's autoscaler "desired scale" lines, not a meter.
import type { Logger } from '../../gateway/log.ts'
import type { RevisionScale } from '../autoscaler/autoscaler.ts'
import type { RevisionScalingConfig } from '../autoscaler/config.ts'

const round = (n: number): number => Math.round(n * 100) / 100

export class ScaleDecisions {
  readonly #log: Logger
  /** the scale last applied per revision */
  readonly #scale = new Map<string, number>()

  constructor(log: Logger) {
    this.#log = log
  }

  /** A revision starts at this scale (its initial scale): no line for it. */
  started(key: string, scale: number): void {
    this.#scale.set(key, scale)
  }

  removed(key: string): void {
    this.#scale.delete(key)
  }

  /** After every autoscaler step; logs when the scale differs from the last one applied. */
  applied(key: string, r: RevisionScale, config: RevisionScalingConfig | undefined, trigger: 'tick' | 'request'): void {
    const from = this.#scale.get(key)
    if (from === r.scale) return
    this.#scale.set(key, r.scale)
    const d = r.decision
    const observed = d === undefined ? undefined : round(d.panic ? d.panicAverage : d.stableAverage)
    const metric = config?.metric ?? 'concurrency'
    this.#log.info(`scaling ${key.slice(key.indexOf('/') + 1)} from ${from ?? '?'} to ${r.scale}`, {
      revision: key,
      from, to: r.scale,
      reason: d === undefined ? undefined : d.panic ? 'panic' : 'stable',
      [metric]: observed,
      target: config === undefined ? undefined : round(config.targetValue),
      desired: r.desired,
      ...(trigger === 'request' ? { trigger } : {}),
      ...(r.reason !== '' ? { state: r.reason } : {}),
    })
  }
}

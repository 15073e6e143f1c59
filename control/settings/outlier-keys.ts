// Outlier detection, circuit breakers and the retry budget: the config-sluice keys (cluster
// defaults) and the per-revision annotations that override them. One parser per field serves both,
// so a key and its annotation accept the same values and say the same thing when wrong. What the
// values do is gateway/activator/outlier-detector.ts, throttler.ts (BreakerLimits) and
// retry-budget.ts (RetryBudget); docs/configuration.md "Outlier detection and circuit breaking"
// and "Retries with a budget" document them.
//
//   config-sluice key                      annotation                                    default
//   outlier-consecutive-5xx                sluice.dev/outlier-consecutive-5xx             0 (off)
//   outlier-consecutive-gateway-errors     sluice.dev/outlier-consecutive-gateway-errors  5 (0 = off)
//   outlier-base-ejection                  sluice.dev/outlier-base-ejection               30s
//   outlier-max-ejection-percent           sluice.dev/outlier-max-ejection-percent        50
//   breaker-max-pending                    sluice.dev/breaker-max-pending                 0 (no limit)
//   breaker-max-requests                   sluice.dev/breaker-max-requests                0 (no limit)
//   breaker-max-connections                sluice.dev/breaker-max-connections             0 (no limit)
//   retry-budget-percent                   sluice.dev/retry-budget-percent                20
//   retry-budget-min-concurrency           sluice.dev/retry-budget-min-concurrency        3
//
// and on a Service, Route or KIngress (a route's own): sluice.dev/retry-attempts (default 3, 0 = off).
import type { ConfigError, ResourceSet, SourceRef } from '../resources/types.ts'
import type { ConfigMapReader } from './config-map-reader.ts'
import { DEFAULT_OUTLIER_POLICY, MAX_EJECTION_MS, type OutlierPolicy } from '../../gateway/activator/outlier-detector.ts'
import { NO_BREAKER, type BreakerLimits } from '../../gateway/activator/throttler.ts'
import { DEFAULT_RETRY_BUDGET, type RetryBudget } from '../../gateway/activator/retry-budget.ts'
import { parseGoDuration } from '../../lib/duration.ts'

/** The cluster defaults every revision starts from (config-sluice). */
export interface Resilience {
  readonly outlier: OutlierPolicy
  readonly breaker: BreakerLimits
  readonly retry: RetryBudget
}

export const DEFAULT_RESILIENCE: Resilience = Object.freeze({ outlier: DEFAULT_OUTLIER_POLICY, breaker: NO_BREAKER, retry: DEFAULT_RETRY_BUDGET })

type Group = keyof Resilience

/** A revision's own values, from its annotations: only the fields it sets (valid ones). */
export type ResilienceOverrides = Readonly<Partial<Record<Field, number>>>

type Field = keyof OutlierPolicy | keyof BreakerLimits | keyof RetryBudget

interface FieldSpec {
  readonly group: Group
  readonly field: Field
  readonly key: string
  /** parse a value, or say what is wrong with it */
  parse(v: string): number | string
}

const MAX_COUNT = 1_000_000

function count(min: number, max: number, what: string) {
  return (v: string): number | string =>
    /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? Number(v) : `must be a whole number from ${min} to ${max} (${what}), got ${JSON.stringify(v)}`
}

function duration(v: string): number | string {
  const ms = parseGoDuration(v, { bareSeconds: true })
  return ms !== undefined && ms >= 1 && ms <= MAX_EJECTION_MS
    ? ms : `must be a duration from 1ms to 5m such as "30s" or "500ms", got ${JSON.stringify(v)}`
}

const FIELDS: readonly FieldSpec[] = [
  { group: 'outlier', field: 'consecutive5xx', key: 'outlier-consecutive-5xx', parse: count(0, MAX_COUNT, '0 turns it off') },
  { group: 'outlier', field: 'consecutiveGatewayErrors', key: 'outlier-consecutive-gateway-errors', parse: count(0, MAX_COUNT, '0 turns it off') },
  { group: 'outlier', field: 'baseEjectionMs', key: 'outlier-base-ejection', parse: duration },
  { group: 'outlier', field: 'maxEjectionPercent', key: 'outlier-max-ejection-percent', parse: count(0, 100, 'a percentage; 0 ejects nothing') },
  { group: 'breaker', field: 'maxPending', key: 'breaker-max-pending', parse: count(0, MAX_COUNT, '0 is no limit') },
  { group: 'breaker', field: 'maxRequests', key: 'breaker-max-requests', parse: count(0, MAX_COUNT, '0 is no limit') },
  { group: 'breaker', field: 'maxConnections', key: 'breaker-max-connections', parse: count(0, MAX_COUNT, '0 is no limit') },
  { group: 'retry', field: 'budgetPercent', key: 'retry-budget-percent', parse: count(0, 100, 'the share of the revision\'s active requests that may be retrying at once') },
  { group: 'retry', field: 'minConcurrency', key: 'retry-budget-min-concurrency', parse: count(0, MAX_COUNT, 'retries allowed at once whatever the share; with retry-budget-percent 0, 0 turns retries off') },
]
const GROUP_OF = new Map<Field, Group>(FIELDS.map((f) => [f.field, f.group]))

const ANNOTATION_PREFIX = 'sluice.dev/'
const isOurs = (key: string): boolean => key.startsWith('sluice.dev/outlier-') || key.startsWith('sluice.dev/breaker-') || key.startsWith('sluice.dev/retry-budget-')

/** config-sluice: the cluster defaults; a bad value is reported at its key and keeps the default. */
export function readOutlierKeys(r: ConfigMapReader, base: Resilience): Resilience {
  const values: Partial<Record<Field, number>> = {}
  for (const f of FIELDS) {
    const v = r.str(f.key)
    if (v === undefined) continue
    const parsed = f.parse(v)
    if (typeof parsed === 'number') values[f.field] = parsed
    else r.error(f.key, `${f.key} ${parsed}`)
  }
  return merge(base, values)
}

/** The annotations' valid values (errors are reported by outlierAnnotationErrors, before reconcile). */
export function resilienceOverrides(annotations: Readonly<Record<string, string>> | undefined, onError?: (key: string, message: string) => void): ResilienceOverrides | undefined {
  if (annotations === undefined) return undefined
  let out: Partial<Record<Field, number>> | undefined
  for (const f of FIELDS) {
    const key = ANNOTATION_PREFIX + f.key
    const v = annotations[key]
    if (v === undefined) continue
    const parsed = f.parse(String(v).trim())
    if (typeof parsed === 'number') (out ??= {})[f.field] = parsed
    else onError?.(key, `${key} ${parsed}`)
  }
  if (onError !== undefined) {
    for (const key of Object.keys(annotations)) {
      if (isOurs(key) && !FIELDS.some((f) => ANNOTATION_PREFIX + f.key === key)) {
        onError(key, `unknown annotation ${key}; the outlier, breaker and retry budget annotations are ${FIELDS.map((f) => ANNOTATION_PREFIX + f.key).join(', ')}`)
      }
    }
  }
  return out === undefined ? undefined : Object.freeze(out)
}

/** A revision's policy: the cluster defaults with its annotations on top (compile time). */
export function merge(base: Resilience, o: ResilienceOverrides | undefined): Resilience {
  if (o === undefined || Object.keys(o).length === 0) return base
  const out = { outlier: { ...base.outlier }, breaker: { ...base.breaker }, retry: { ...base.retry } }
  for (const [field, value] of Object.entries(o) as [Field, number][]) (out[GROUP_OF.get(field)!] as Record<string, number>)[field] = value
  return Object.freeze({ outlier: Object.freeze(out.outlier), breaker: Object.freeze(out.breaker), retry: Object.freeze(out.retry) })
}

/** Equal values, whatever the objects (compile's cache compares settings across loads). */
export function sameResilience(a: Resilience, b: Resilience): boolean {
  if (a === b) return true
  for (const f of FIELDS) if ((a[f.group] as unknown as Record<string, number>)[f.field] !== (b[f.group] as unknown as Record<string, number>)[f.field]) return false
  return true
}

/** sluice.dev/retry-attempts on a Service, Route or KIngress: sends after the first for the route's requests. */
export const RETRY_ATTEMPTS_ANNOTATION = 'sluice.dev/retry-attempts'
const parseAttempts = count(0, 10, '0 turns retries off')

/** The route's retry attempts, or undefined (absent or bad: the default; bad ones are reported by outlierAnnotationErrors). */
export function retryAttempts(annotations: Readonly<Record<string, string>> | undefined): number | undefined {
  const v = annotations?.[RETRY_ATTEMPTS_ANNOTATION]
  if (v === undefined) return undefined
  const n = parseAttempts(String(v).trim())
  return typeof n === 'number' ? n : undefined
}

/**
 * The annotations where they are written (Service and Configuration templates, declared
 * Revisions), so errors carry file:line:column like any other; as autoscaling's (validate-scaling.ts).
 */
export function outlierAnnotationErrors(rs: ResourceSet): ConfigError[] {
  const errors: ConfigError[] = []
  const check = (annotations: Record<string, string> | undefined, source: SourceRef | undefined, prefix: readonly string[]): void => {
    if (annotations === undefined || !Object.keys(annotations).some(isOurs)) return
    resilienceOverrides(annotations, (key, message) => {
      const pos = source?.locate([...prefix, key]) ?? { line: 0, column: 0 }
      errors.push({ file: source?.file ?? '', line: pos.line, column: pos.column, path: `${prefix.join('.')}[${JSON.stringify(key)}]`, message })
    })
  }
  for (const o of [...rs.services, ...rs.configurations]) check(o.spec.template?.metadata?.annotations, o.source, ['spec', 'template', 'metadata', 'annotations'])
  for (const r of rs.revisions) check(r.metadata.annotations, r.source, ['metadata', 'annotations'])
  for (const o of [...rs.services, ...rs.routes, ...rs.ingresses]) {
    const v = o.metadata.annotations?.[RETRY_ATTEMPTS_ANNOTATION]
    if (v === undefined) continue
    const n = parseAttempts(String(v).trim())
    if (typeof n === 'number') continue
    const prefix = ['metadata', 'annotations']
    const pos = o.source?.locate([...prefix, RETRY_ATTEMPTS_ANNOTATION]) ?? { line: 0, column: 0 }
    errors.push({ file: o.source?.file ?? '', line: pos.line, column: pos.column, path: `metadata.annotations[${JSON.stringify(RETRY_ATTEMPTS_ANNOTATION)}]`, message: `${RETRY_ATTEMPTS_ANNOTATION} ${n}` })
  }
  return errors
}

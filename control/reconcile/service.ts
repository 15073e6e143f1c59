// Service → Configuration + Route (Knative's resources.MakeConfiguration / MakeRoute), and the
// Service status mirrored back from them.
import type { Configuration, KService, Route } from '../resources/types.ts'
import { SERVICE_LABEL } from './names.ts'
import { condition, getCondition, mirror, withReady } from './status.ts'

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

function childMeta(svc: KService) {
  const annotations = { ...svc.metadata.annotations }
  delete annotations[LAST_APPLIED]
  return {
    name: svc.metadata.name,
    namespace: svc.metadata.namespace,
    labels: { ...svc.metadata.labels, [SERVICE_LABEL]: svc.metadata.name },
    annotations,
  }
}

export function makeConfiguration(svc: KService): Configuration {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Configuration',
    metadata: childMeta(svc),
    spec: { template: svc.spec.template },
    // where the template was written (sluice.dev/source is relative to it); not serialised
    ...(svc.source !== undefined ? { source: svc.source } : {}),
  }
}

/** Targets without a revisionName follow the Service's own configuration. */
export function makeRoute(svc: KService): Route {
  const traffic = (svc.spec.traffic ?? [{ latestRevision: true, percent: 100 }]).map((t) =>
    t.revisionName ? { ...t } : { ...t, configurationName: svc.metadata.name })
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Route',
    metadata: childMeta(svc),
    spec: { traffic },
  }
}

export interface ServiceChildren {
  /** declared objects of the same name that the Service does not own (Knative: NotOwned) */
  readonly configurationNotOwned: boolean
  readonly routeNotOwned: boolean
  readonly configuration?: Configuration
  readonly route?: Route
}

/** Service status: config fields and route fields copied, ConfigurationsReady ∧ RoutesReady → Ready. */
export function serviceWithStatus(svc: KService, ch: ServiceChildren, now: string): KService {
  const name = svc.metadata.name
  const status: Record<string, unknown> = { observedGeneration: svc.metadata.generation ?? 1 }
  let configReady
  if (ch.configurationNotOwned) {
    configReady = condition('ConfigurationsReady', 'False', now, 'NotOwned', `There is an existing Configuration ${JSON.stringify(name)} that we do not own.`)
  } else {
    const cs = ch.configuration?.status ?? {}
    for (const k of ['latestReadyRevisionName', 'latestCreatedRevisionName'] as const) if (cs[k] !== undefined) status[k] = cs[k]
    configReady = mirror('ConfigurationsReady', ch.configuration && getCondition(ch.configuration, 'Ready'), now,
      condition('ConfigurationsReady', 'Unknown', now))
  }
  let routeReady
  if (ch.routeNotOwned) {
    routeReady = condition('RoutesReady', 'False', now, 'NotOwned', `There is an existing Route ${JSON.stringify(name)} that we do not own.`)
  } else if (ch.route === undefined) {
    routeReady = condition('RoutesReady', 'Unknown', now, 'ConfigurationNotOwned', 'The Route is not created until the Configuration conflict is resolved.')
  } else {
    const rs = ch.route.status ?? {}
    for (const k of ['url', 'address', 'traffic'] as const) if (rs[k] !== undefined) status[k] = rs[k]
    routeReady = mirror('RoutesReady', getCondition(ch.route, 'Ready'), now, condition('RoutesReady', 'Unknown', now))
  }
  status.conditions = withReady([configReady, routeReady], now)
  return { ...svc, status }
}

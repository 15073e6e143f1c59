// config-sluice's client connection keys, as the gateway's listeners take them (one decision,
// used by the control loop and by every --workers worker).
import type { ConnectionLimits } from '../../gateway/connections/connection-limits.ts'
import type { Settings } from './types.ts'

export function connectionLimits(s: Settings): ConnectionLimits {
  const { clientHeaderTimeoutSeconds, clientIdleTimeoutSeconds, maxConnections } = s.sluice
  return { headerTimeoutMs: Math.round(clientHeaderTimeoutSeconds * 1000), idleTimeoutMs: Math.round(clientIdleTimeoutSeconds * 1000), maxConnections }
}

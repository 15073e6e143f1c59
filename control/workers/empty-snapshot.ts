// The table workers start with when no configuration loaded yet (the control loop keeps trying):
// no routes, default settings, as the one-process gateway starts with emptyRouteTable().
import { readSettings } from '../settings/read-settings.ts'
import type { TableSnapshot } from './protocol.ts'

export function emptySnapshot(): TableSnapshot {
  return { version: 0, model: { ingresses: [], backends: new Map() }, settings: readSettings([]).settings, plugins: [], modules: [] }
}

import t from 'tap'
import type { Settings } from '../../control/settings-types.ts'
const s: Partial<Settings> = { clusterDomain: 'cluster.local' }
t.equal(s.clusterDomain, 'cluster.local')
t.equal(process.versions.node.split('.')[0], '24')

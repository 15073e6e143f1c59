// A Python CloudEvents function deployed with `sluice func deploy` as a Trigger's subscriber: its
// reply goes back into the Broker, and a second Trigger delivers the reply to a sink (helpers.ts).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { replyIntoBroker } from './helpers.ts'

t.test('a Python CloudEvents function replies into the broker', { skip: spawnSync('python3', ['--version']).status !== 0 && 'python3 is not installed' },
  (t) => replyIntoBroker(t, 'python'))

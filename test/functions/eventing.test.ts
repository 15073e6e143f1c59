// A Node CloudEvents function deployed with `sluice func deploy` as a Trigger's subscriber: its reply
// goes back into the Broker, and a second Trigger delivers the reply to a sink (helpers.ts).
import t from 'tap'
import { replyIntoBroker } from './helpers.ts'

t.test('a CloudEvents function replies into the broker', (t) => replyIntoBroker(t, 'node'))

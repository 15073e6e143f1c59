import { test } from 'node:test'
import assert from 'node:assert/strict'
import { handle } from './index.js'

const log = { debug() {}, info() {}, warn() {}, error() {} }

test('replies with an event carrying the data it received', () => {
  const event = { specversion: '1.0', id: '1', type: 'example.ping', source: '/test', data: { n: 1 } }
  const reply = handle({ method: 'POST', headers: {}, query: {}, log, cloudevent: event }, event)
  assert.equal(reply.type, '{{name}}.response')
  assert.deepEqual(reply.data, { received: { n: 1 } })
})

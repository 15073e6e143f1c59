import { test } from 'node:test'
import assert from 'node:assert/strict'
import { handle } from './index.js'

const log = { debug() {}, info() {}, warn() {}, error() {} }

test('GET greets', () => {
  const r = handle({ method: 'GET', path: '/', headers: {}, query: { name: 'Ada' }, log }, undefined)
  assert.equal(r.statusCode, 200)
  assert.match(r.body, /Hello from {{name}}, Ada!/)
})

test('POST echoes the body', () => {
  const r = handle({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, query: {}, log }, { n: 1 })
  assert.deepEqual(r.body, { received: { n: 1 } })
})

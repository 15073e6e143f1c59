// ip-filter: allow/deny CIDR lists for IPv4 and IPv6, deny winning, X-Forwarded-For hops,
// unreadable addresses refused, and config errors.
import t from 'tap'
import plugin from '../../plugins/builtin/ip-filter.ts'
import type { PluginInstance } from '../../plugins/api.ts'
import type { FakeRequestOptions } from '../../plugins/testing.ts'
import { fakePluginContext, fakeRequest, isLocalResponse } from '../../plugins/testing.ts'

function make(raw: unknown): PluginInstance {
  const v = plugin.validate(raw)
  if (!v.ok) throw new Error(JSON.stringify(v.issues))
  return plugin.create(v.config, fakePluginContext())
}

function problems(raw: unknown): string[] {
  const v = plugin.validate(raw)
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`)
}

function passes(p: PluginInstance, o: FakeRequestOptions | string): boolean {
  const r = p.onRequest!(fakeRequest(typeof o === 'string' ? { remoteAddress: o } : o))
  if (r === undefined) return true
  if (!isLocalResponse(r) || r.status !== 403) throw new Error(`unexpected ${JSON.stringify(r)}`)
  return false
}

t.test('name, priority, the 403', async (t) => {
  t.equal(plugin.name, 'ip-filter')
  t.equal(plugin.priority, 1990)
  const r = make({ deny: ['0.0.0.0/0'] }).onRequest!(fakeRequest())
  t.same(r, { status: 403, headers: { 'content-type': 'text/plain' }, body: 'Forbidden\n' })
})

t.test('allow list: only listed ranges pass', async (t) => {
  const p = make({ allow: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'] })
  t.ok(passes(p, '10.1.2.3'))
  t.ok(passes(p, '192.168.1.7'))
  t.notOk(passes(p, '192.168.1.8'))
  t.notOk(passes(p, '11.0.0.1'))
  t.ok(passes(p, '2001:db8:1::5'))
  t.notOk(passes(p, '2001:db9::1'))
  t.ok(passes(p, '::ffff:10.9.9.9'), 'IPv4-mapped IPv6 peer (dual-stack listener) matches IPv4 ranges')
  t.notOk(passes(p, '::ffff:11.9.9.9'))
})

t.test('deny list only: everything else passes', async (t) => {
  const p = make({ deny: ['203.0.113.0/24', 'fe80::/10'] })
  t.notOk(passes(p, '203.0.113.9'))
  t.ok(passes(p, '203.0.114.9'))
  t.notOk(passes(p, 'fe80::1'))
  t.ok(passes(p, '::1'))
})

t.test('deny wins over allow', async (t) => {
  const p = make({ allow: ['10.0.0.0/8'], deny: ['10.6.0.0/16'] })
  t.ok(passes(p, '10.5.0.1'))
  t.notOk(passes(p, '10.6.0.1'))
})

t.test('a non-network address in a range is masked', async (t) => {
  const p = make({ allow: ['10.1.2.3/8'] })
  t.ok(passes(p, '10.200.0.1'))
})

// ctx.requestHeaders carry the X-Forwarded-For Sluice wrote: a trusted proxy's list with the peer
// appended, or only the peer (gateway/forward-headers.ts); `xff` below is what the peer sent.
const sluiceXff = (xff: string | undefined, peer: string): Record<string, string> =>
  ({ 'x-forwarded-for': xff === undefined ? peer : `${xff}, ${peer}` })

t.test('trustedHops reads X-Forwarded-For from the right', async (t) => {
  const p = make({ allow: ['198.51.100.0/24'], trustedHops: 1 })
  const via = (xff: string | undefined, peer = '10.0.0.1'): boolean => passes(p, { remoteAddress: peer, headers: sluiceXff(xff, peer) })
  t.ok(via('198.51.100.4'))
  t.notOk(via('198.51.100.4, 1.2.3.4'), 'the entry the trusted proxy wrote is the last one')
  t.ok(via('1.2.3.4, 198.51.100.4'), 'entries left of the trusted hop are not read')
  t.ok(via('198.51.100.4:51234'), 'a port is ignored')
  t.notOk(via(undefined), 'no header: the peer (10.0.0.1)')
  t.ok(via(undefined, '198.51.100.200'))
  t.notOk(via('not-an-ip'), 'an unreadable address is refused')
  t.notOk(via('198.51.100.4, '), 'an empty entry is refused')

  const two = make({ allow: ['2001:db8::/32'], trustedHops: 2 })
  t.ok(passes(two, { headers: sluiceXff('[2001:db8::7]:443, 10.0.0.2', '127.0.0.1') }))
  t.notOk(passes(two, { headers: sluiceXff('2001:db8::7, 2001:db9::1, 10.0.0.2', '127.0.0.1') }))
  t.ok(passes(two, { headers: sluiceXff('2001:db8::8', '127.0.0.1') }), 'shorter list: the leftmost entry')
})

t.test('from a peer that is not a trusted proxy, no hop count reaches past it', async (t) => {
  // Sluice dropped the client's X-Forwarded-For; the upstream list holds only the peer
  const p = make({ allow: ['198.51.100.0/24'], trustedHops: 3 })
  t.notOk(passes(p, { remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '10.0.0.1' } }))
  // what the client wrote is on ctx.req, which the filter does not read
  const ctx = fakeRequest({ remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '198.51.100.4' } })
  ctx.requestHeaders.set('x-forwarded-for', '10.0.0.1')
  const r = p.onRequest!(ctx)
  t.ok(isLocalResponse(r) && r.status === 403, 'the peer, not the address the client wrote')
})

t.test('without trustedHops X-Forwarded-For is ignored', async (t) => {
  const p = make({ deny: ['10.0.0.0/8'] })
  t.notOk(passes(p, { remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '8.8.8.8, 10.0.0.1' } }))
})

t.test('config errors', async (t) => {
  t.same(problems({ allow: ['10.0.0.0/8', '::1/128', '10.0.0.300/8'] }), ['allow[2]: "10.0.0.300/8" is not a CIDR range'])
  t.same(problems({ allow: ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', 'fe80::1%eth0/64', 'example.com'], deny: [7] }), [
    'allow[0]: "10.0.0.0/33" is not a CIDR range',
    'allow[1]: "2001:db8::/129" is not a CIDR range',
    'allow[2]: "10.0.0.0/" is not a CIDR range',
    'allow[3]: "fe80::1%eth0/64" is not a CIDR range',
    'allow[4]: "example.com" is not a CIDR range',
    'deny[0]: must be a string, got number 7',
  ])
  t.same(problems({}), ['allow: allow and deny are both empty: list at least one range'])
  t.same(problems({ deny: ['10.0.0.0/8'], trustedHops: 1.5 }), ['trustedHops: must be a whole number from 0 to 32, got number 1.5'])
  t.same(problems({ deny: '10.0.0.0/8' }), ['deny: must be a list of a CIDR range, got string "10.0.0.0/8"'])
  t.same(problems({ allowlist: [] }), [
    'allowlist: unknown field; known fields: allow, deny, trustedHops',
  ])
})

// Forwarding headers and trust (issue 10): from a peer outside config-sluice `trusted-proxies`, a
// client's Forwarded / X-Forwarded-For/-Proto/-Host (and the other proxy-only headers) never reach
// a backend: Sluice writes its own. From a trusted peer they are kept and appended to. Checked on a
// real Sluice that trusts 127.0.0.1 and is reached from 127.0.0.2 as the untrusted client, on the
// plain path, a Service route with split headers, and a route with plugins; then the CIDR parsing
// (IPv4 and IPv6) and the located config error.
import t from 'tap'
import { mkdirSync, writeFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { IncomingMessage } from 'node:http'
import { startBackend } from '../fixtures/backend.ts'
import { eventually, startSluice, serviceYaml, tempDir, validateErrors } from '../fixtures/sluice.ts'
import { coreBackend, kingress, send, yamlDocs } from './helpers.ts'
import { docs, expectReady, hostOf, plugin, service } from '../plugins/fixtures/e2e.ts'
import { parseCidr, TrustedProxies, trustedProxies } from '../../gateway/trusted-proxies.ts'
import { NO_EDITS, upstreamHeaders } from '../../gateway/forward-headers.ts'
import { readSettings } from '../../control/settings/read-settings.ts'
import { configMap, src } from '../control/fixtures.ts'

const configSluice = (data: Record<string, string>): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-sluice\n  namespace: knative-serving\ndata:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`

const SPOOF = {
  Forwarded: 'for=192.0.2.60;proto=https;host=evil.example',
  'X-Forwarded-For': '203.0.113.7, 198.51.100.2',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Port': '443',
  'X-Forwarded-Prefix': '/evil',
  'X-Real-IP': '203.0.113.7',
}

t.test('a real Sluice trusting 127.0.0.1, reached from 127.0.0.1 and 127.0.0.2', async (t) => {
  const backend = await startBackend('fwd')
  t.teardown(() => backend.close())
  const s = await startSluice({
    'plain.yaml': yamlDocs(...coreBackend('plain', backend.port), kingress('plain', [{ hosts: ['plain.example.com'], paths: [{ splits: [{ service: 'plain' }] }] }])),
    'svc.yaml': serviceYaml('svc', backend.origin),
    'plugged.yaml': docs(service('plugged', backend.origin, 'mark'), plugin('mark', 'headers', { response: { set: { 'x-plugged': 'yes' } } })),
    'config-sluice.yaml': configSluice({ 'trusted-proxies': '10.0.0.0/8, 127.0.0.1/32, 2001:db8::/32' }),
  })
  t.teardown(() => s.stop())
  await expectReady(s)

  for (const host of ['plain.example.com', 'svc.default.localhost', hostOf('plugged')]) {
    const seen = async (from: string, headers: Record<string, string>): Promise<Record<string, unknown>> => {
      const r = await send(s.port, host, { localAddress: from, headers })
      if (r.status !== 200) throw new Error(`${host} from ${from}: ${r.status} ${r.text}`)
      if (host === hostOf('plugged') && r.headers['x-plugged'] !== 'yes') throw new Error('the plugin path was not taken')
      return (JSON.parse(r.text) as { headers: Record<string, unknown> }).headers
    }

    t.test(`${host}: an untrusted peer's forwarding headers are overwritten`, async (t) => {
      const h = await seen('127.0.0.2', SPOOF)
      t.equal(h.forwarded, `for=127.0.0.2;host=${host};proto=http`)
      t.equal(h['x-forwarded-for'], '127.0.0.2')
      t.equal(h['x-forwarded-proto'], 'http')
      t.equal(h['x-forwarded-host'], host)
      for (const name of ['x-forwarded-port', 'x-forwarded-prefix', 'x-real-ip']) t.equal(h[name], undefined, `${name} dropped`)
      t.equal(h.host, host)
    })

    t.test(`${host}: a trusted peer's are kept and appended to`, async (t) => {
      const h = await seen('127.0.0.1', SPOOF)
      t.equal(h.forwarded, `for=192.0.2.60;proto=https;host=evil.example, for=127.0.0.1;host=${host};proto=http`)
      t.equal(h['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1')
      t.equal(h['x-forwarded-proto'], 'https')
      t.equal(h['x-forwarded-host'], 'evil.example')
      t.equal(h['x-forwarded-port'], '443')
      t.equal(h['x-forwarded-prefix'], '/evil')
      t.equal(h['x-real-ip'], '203.0.113.7')
      // and written by Sluice when the trusted peer sent none
      const none = await seen('127.0.0.1', {})
      t.equal(none.forwarded, `for=127.0.0.1;host=${host};proto=http`)
      t.equal(none['x-forwarded-for'], '127.0.0.1')
      t.equal(none['x-forwarded-proto'], 'http')
      t.equal(none['x-forwarded-host'], host)
    })
  }

  t.test('dropping trusted-proxies on reload: 127.0.0.1 is untrusted from the next request', async (t) => {
    const before = (await send(s.port, 'plain.example.com', { headers: SPOOF })).text
    t.equal(JSON.parse(before).headers['x-forwarded-host'], 'evil.example')
    s.write('config-sluice.yaml', configSluice({ 'trusted-proxies': '' }))
    let h: Record<string, unknown> = {}
    await eventually(async () => {
      h = JSON.parse((await send(s.port, 'plain.example.com', { headers: SPOOF })).text).headers
      return h['x-forwarded-host'] !== 'evil.example'
    })
    t.equal(h['x-forwarded-host'], 'plain.example.com')
    t.equal(h['x-forwarded-for'], '127.0.0.1')
  })
})

/** A request as Node's server gives it to the gateway, from `peer`. */
function fakeReq(peer: string, headers: Record<string, string>): IncomingMessage {
  return { headers: { host: 'app.example.com', ...headers }, socket: { remoteAddress: peer } } as unknown as IncomingMessage
}
function built(peer: string, headers: Record<string, string>, trust: TrustedProxies | null): Record<string, string> {
  const flat = upstreamHeaders(fakeReq(peer, headers), 'https', NO_EDITS, false, trust)
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

t.test('IPv6 peers and ranges, and IPv4-mapped peers', async (t) => {
  const trust = new TrustedProxies(['2001:db8::/32', '192.168.0.0/16', 'fd00::1'])
  t.ok(trust.has('2001:db8:1::5'))
  t.notOk(trust.has('2001:db9::5'))
  t.ok(trust.has('fd00::1'), 'a single address is a /128')
  t.notOk(trust.has('fd00::2'))
  t.ok(trust.has('::ffff:192.168.3.4'), 'an IPv4-mapped peer (dual-stack listener) matches its IPv4 range')
  t.ok(trust.has('192.168.3.4'))
  t.notOk(trust.has('10.0.0.1'))
  t.notOk(trust.has(''), 'an unknown peer is not trusted')

  const xff = { 'x-forwarded-for': '198.51.100.1', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http', forwarded: 'for=198.51.100.1' }
  const kept = built('2001:db8::7', xff, trust)
  t.equal(kept['x-forwarded-for'], '198.51.100.1, 2001:db8::7')
  t.equal(kept.forwarded, 'for=198.51.100.1, for="[2001:db8::7]";host=app.example.com;proto=https')
  t.equal(kept['x-forwarded-host'], 'evil.example')
  t.equal(kept['x-forwarded-proto'], 'http')
  const replaced = built('2001:db9::7', xff, trust)
  t.equal(replaced['x-forwarded-for'], '2001:db9::7')
  t.equal(replaced.forwarded, 'for="[2001:db9::7]";host=app.example.com;proto=https')
  t.equal(replaced['x-forwarded-host'], 'app.example.com')
  t.equal(replaced['x-forwarded-proto'], 'https')
  t.same(built('::ffff:192.168.3.4', xff, trust)['x-forwarded-for'], '198.51.100.1, 192.168.3.4')
  t.same(built('2001:db8::7', xff, null)['x-forwarded-for'], '2001:db8::7', 'no list: nobody is trusted')
  t.equal(trustedProxies([]), null, 'an empty list compiles to null (one comparison per request)')
})

t.test('parseCidr', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' })
  t.same(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' })
  t.same(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' })
  t.same(parseCidr('::/0'), { address: '::', prefix: 0, family: 'ipv6' })
  t.same(parseCidr('127.0.0.1'), { address: '127.0.0.1', prefix: 32, family: 'ipv4' })
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'fe80::1%eth0', 'example.com', '10.0.0.300', '']) {
    t.type(parseCidr(bad), 'string', `${JSON.stringify(bad)} refused`)
  }
})

t.test('config-sluice trusted-proxies: read, defaulted, and a bad range is a located error', async (t) => {
  t.same(readSettings([]).settings.sluice.trustedProxies, [], 'default: trust nobody')
  const ok = readSettings([configMap('config-sluice', { 'trusted-proxies': ' 10.0.0.0/8 ,2001:db8::/32,, 127.0.0.1 ' })])
  t.same(ok.errors, [])
  t.same(ok.settings.sluice.trustedProxies, ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1'])

  const bad = readSettings([configMap('config-sluice', { 'trusted-proxies': '10.0.0.0/8, 10.0.0.0/33, 2001:db8::/200' }, { source: src('config/sluice.yaml', 0, 6) })])
  t.same(bad.settings.sluice.trustedProxies, [], 'nobody is trusted when the list has a bad entry')
  t.same(bad.errors.map((e) => [e.file, e.line, e.path]), [['config/sluice.yaml', 6, 'data.trusted-proxies'], ['config/sluice.yaml', 6, 'data.trusted-proxies']])
  t.match(bad.errors[0]!.message, /config-sluice: trusted-proxies: "10\.0\.0\.0\/33" has an invalid prefix length: it must be 0 to 32/)
  t.match(bad.errors[1]!.message, /"2001:db8::\/200" has an invalid prefix length: it must be 0 to 128/)

  // as `sluice validate` prints it, with the real position in the file
  const dir = tempDir('sluice-trust-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'config-sluice.yaml'), configSluice({ 'trusted-proxies': '10.0.0.0/8, proxy.internal' }))
  const lines = await validateErrors(dir)
  t.equal(lines.length, 1)
  t.match(lines[0], /^.*config-sluice\.yaml:7:\d+ data\.trusted-proxies: config-sluice: trusted-proxies: "proxy\.internal" is not an IP address or CIDR range/)
})

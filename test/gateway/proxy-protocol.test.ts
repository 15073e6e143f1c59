// The PROXY protocol parser (gateway/connections/proxy-protocol.ts) against haproxy's
// proxy-protocol.txt: v1 text lines (TCP4, TCP6, UNKNOWN, the 107-byte bound), v2 binary headers
// (PROXY and LOCAL, IPv4/IPv6/UNSPEC, TLVs skipped, the size bound), arrival byte by byte, and
// the strict refusals (bad signature, bad version, bad addresses, UDP).
import t, { type Test } from 'tap'
import { parseProxyHeader, V1_MAX, V2_MAX } from '../../gateway/connections/proxy-protocol.ts'

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

function v2(opts: { command?: number; famProto?: number; addr?: Buffer; tlvs?: Buffer; version?: number }): Buffer {
  const addr = opts.addr ?? Buffer.alloc(0)
  const tlvs = opts.tlvs ?? Buffer.alloc(0)
  const head = Buffer.alloc(4)
  head[0] = ((opts.version ?? 2) << 4) | (opts.command ?? 1)
  head[1] = opts.famProto ?? 0x11
  head.writeUInt16BE(addr.length + tlvs.length, 2)
  return Buffer.concat([SIG, head, addr, tlvs])
}

function tcp4(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12)
  Buffer.from(src).copy(b, 0)
  Buffer.from(dst).copy(b, 4)
  b.writeUInt16BE(sport, 8)
  b.writeUInt16BE(dport, 10)
  return b
}

/** Feed `bytes` one at a time: every proper prefix must ask for more, the whole must parse. */
function byteByByte(t: Test, bytes: Buffer): ReturnType<typeof parseProxyHeader> {
  for (let i = 0; i < bytes.length; i++) {
    const r = parseProxyHeader(bytes.subarray(0, i))
    if (r.kind !== 'more') {
      t.fail(`prefix of ${i} bytes gave ${r.kind}`)
      return r
    }
  }
  return parseProxyHeader(bytes)
}


t.test('v1 TCP4 with the request behind it, byte by byte', async (t) => {
  const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n'
  const all = Buffer.from(line + 'GET / HTTP/1.1\r\n\r\n')
  const r = byteByByte(t, Buffer.from(line))
  t.same(r, { kind: 'done', length: line.length, address: { family: 'tcp4', source: '203.0.113.7', sourcePort: 56324, destination: '10.0.0.1', destinationPort: 443 } })
  const whole = parseProxyHeader(all)
  t.equal(whole.kind === 'done' && whole.length, line.length, 'the request bytes are left for the listener')
})

t.test('v1 TCP6 and UNKNOWN', async (t) => {
  const r = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n'))
  t.match(r, { kind: 'done', address: { family: 'tcp6', source: '2001:db8::7', sourcePort: 1, destinationPort: 65535 } })
  t.match(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'done', length: 15, address: { family: 'unknown' } })
  t.match(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')), { kind: 'done', address: { family: 'unknown' } })
})

t.test('v1 refusals', async (t) => {
  const bad = [
    'PROXY TCP4 203.0.113.7 10.0.0.1 56324\r\n', // a port missing
    'PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n', // IPv6 under TCP4
    'PROXY TCP6 10.0.0.2 10.0.0.1 1 2\r\n',
    'PROXY TCP4 203.0.113.7 10.0.0.1 65536 1\r\n', // port out of range
    'PROXY TCP4 203.0.113.7 10.0.0.1 01 1\r\n', // leading zero
    'PROXY TCP4  203.0.113.7 10.0.0.1 1 1\r\n', // two spaces
    'PROXY UDP4 203.0.113.7 10.0.0.1 1 1\r\n',
    'PROXY TCP4 203.0.113.7 10.0.0.1 1 1\n', // LF without CR
    'proxy TCP4 203.0.113.7 10.0.0.1 1 1\r\n', // case matters
    'GET / HTTP/1.1\r\n\r\n', // no header at all
    '\x16\x03\x01\x02\x00', // a TLS ClientHello without a header
  ]
  for (const b of bad) t.equal(parseProxyHeader(Buffer.from(b)).kind, 'error', JSON.stringify(b))
  // The bound: 107 bytes with CRLF; a line still without CRLF at 107 bytes never becomes valid.
  const long = 'PROXY UNKNOWN ' + 'x'.repeat(V1_MAX)
  t.match(parseProxyHeader(Buffer.from(long.slice(0, V1_MAX))), { kind: 'error', message: /longer than 107/ })
  t.equal(parseProxyHeader(Buffer.from(long.slice(0, V1_MAX - 1))).kind, 'more')
  const exact = 'PROXY UNKNOWN ' + 'x'.repeat(V1_MAX - 16) + '\r\n'
  t.equal(exact.length, V1_MAX)
  t.equal(parseProxyHeader(Buffer.from(exact)).kind, 'done', 'exactly 107 bytes is fine')
  t.equal(parseProxyHeader(Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(V1_MAX - 15) + '\r\n')).kind, 'error', '108 is not')
  // A wrong first byte is refused at once, without waiting for more.
  t.equal(parseProxyHeader(Buffer.from('G')).kind, 'error')
  t.equal(parseProxyHeader(Buffer.from('PRO')).kind, 'more')
})

t.test('v2 PROXY TCP4 with TLVs, byte by byte', async (t) => {
  // AWS NLB sends a VPC endpoint TLV (0xEA); any TLV is skipped.
  const tlvs = Buffer.concat([Buffer.from([0xea, 0x00, 0x05]), Buffer.from('vpce1'), Buffer.from([0x04, 0x00, 0x00])])
  const header = v2({ addr: tcp4([198, 51, 100, 9], [10, 0, 0, 1], 40000, 8443), tlvs })
  const r = byteByByte(t, header)
  t.same(r, { kind: 'done', length: header.length, address: { family: 'tcp4', source: '198.51.100.9', sourcePort: 40000, destination: '10.0.0.1', destinationPort: 8443 } })
  const withData = parseProxyHeader(Buffer.concat([header, Buffer.from([0x16, 0x03, 0x01])]))
  t.equal(withData.kind === 'done' && withData.length, header.length)
})

t.test('v2 TCP6, LOCAL, UNSPEC, AF_UNIX', async (t) => {
  const a6 = Buffer.alloc(36)
  Buffer.from('20010db8000000000000000000000007', 'hex').copy(a6, 0)
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(a6, 16)
  a6.writeUInt16BE(1234, 32)
  a6.writeUInt16BE(443, 34)
  t.match(parseProxyHeader(v2({ famProto: 0x21, addr: a6 })), { kind: 'done', address: { family: 'tcp6', source: '2001:db8::7', destination: '2001:db8::1', sourcePort: 1234 } })
  const mapped = Buffer.alloc(36)
  Buffer.from('00000000000000000000ffffc0000201', 'hex').copy(mapped, 0)
  t.match(parseProxyHeader(v2({ famProto: 0x21, addr: mapped })), { address: { source: '::ffff:192.0.2.1' } })
  // LOCAL: a balancer health check; the real peer stays the address, whatever the bytes say.
  t.match(parseProxyHeader(v2({ command: 0, addr: tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) })), { kind: 'done', address: { family: 'unknown' } })
  t.match(parseProxyHeader(v2({ command: 0, famProto: 0 })), { kind: 'done', length: 16, address: { family: 'unknown' } })
  t.match(parseProxyHeader(v2({ famProto: 0x00 })), { kind: 'done', address: { family: 'unknown' } })
  t.match(parseProxyHeader(v2({ famProto: 0x31, addr: Buffer.alloc(216) })), { kind: 'done', address: { family: 'unknown' } })
})

t.test('v2 refusals', async (t) => {
  const badSig = Buffer.from(SIG)
  badSig[7] = 0x52
  t.equal(parseProxyHeader(badSig).kind, 'error', 'a signature differing in one byte')
  t.equal(parseProxyHeader(v2({ version: 1, addr: tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) })).kind, 'error', 'version 1 in a binary header')
  t.equal(parseProxyHeader(v2({ command: 2 })).kind, 'error', 'unknown command')
  t.equal(parseProxyHeader(v2({ famProto: 0x12, addr: tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) })).kind, 'error', 'UDP')
  t.equal(parseProxyHeader(v2({ famProto: 0x11, addr: Buffer.alloc(8) })).kind, 'error', 'TCP4 with short addresses')
  t.equal(parseProxyHeader(v2({ famProto: 0x21, addr: Buffer.alloc(12) })).kind, 'error', 'TCP6 with short addresses')
  t.equal(parseProxyHeader(v2({ famProto: 0x41, addr: Buffer.alloc(12) })).kind, 'error', 'unknown family')
  // The size bound holds as soon as the length field is known, before the bytes arrive.
  const huge = v2({ addr: tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), tlvs: Buffer.alloc(V2_MAX) })
  t.match(parseProxyHeader(huge.subarray(0, 16)), { kind: 'error', message: /longer than/ })
  // Fewer than 16 bytes of a valid signature: wait.
  t.equal(parseProxyHeader(SIG.subarray(0, 12)).kind, 'more')
})

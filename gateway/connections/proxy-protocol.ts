// The PROXY protocol header (haproxy's proxy-protocol.txt, v1 text and v2 binary) that L4 load
// balancers (AWS NLB, HAProxy `send-proxy`) write before the client's bytes: config-sluice
// `enable-proxy-protocol`. A connection's client address then comes from the header. Strict: a
// connection whose first bytes are not a complete, valid header within the size bound and the
// deadline is closed, as Envoy's proxy_protocol listener filter does.
//
// Written here rather than taken from npm: the parsers there (proxy-protocol-js) decode a whole
// buffer, while a listener needs framing (how many bytes the header takes, whether more must
// come, a bound on how many may) over bytes that arrive in any split; the format itself is small.
import { isIPv4, isIPv6, type Socket } from 'node:net'
import { Duplex } from 'node:stream'

/** v1: "PROXY " … CRLF, 107 bytes at most (the spec's bound, CRLF included) */
export const V1_MAX = 107
/** v2: a 16-byte fixed part plus TLVs; Sluice reads none of the TLVs and refuses more than this */
export const V2_MAX = 16 + 2048
const V1_PREFIX = Buffer.from('PROXY ')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

export interface ProxyAddress {
  /** 'tcp4' | 'tcp6' carry addresses; 'unknown' (v1 UNKNOWN, v2 LOCAL or UNSPEC/UNIX) keeps the real peer */
  readonly family: 'tcp4' | 'tcp6' | 'unknown'
  readonly source: string
  readonly sourcePort: number
  readonly destination: string
  readonly destinationPort: number
}

export type ParseResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'done'; readonly length: number; readonly address: ProxyAddress }

const MORE: ParseResult = Object.freeze({ kind: 'more' })
const UNKNOWN: ProxyAddress = Object.freeze({ family: 'unknown', source: '', sourcePort: 0, destination: '', destinationPort: 0 })

function fail(message: string): ParseResult {
  return { kind: 'error', message }
}

/** Whether `buf` is a prefix of `sig` or starts with it: could still be (or is) that signature. */
function prefixOf(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length)
  return buf.compare(sig, 0, n, 0, n) === 0
}

/**
 * The header at the start of `buf` (every byte received so far): done with its length, more when
 * it could still become valid, or why it never will.
 */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return MORE
  if (prefixOf(buf, V2_SIGNATURE)) return buf.length < 16 ? MORE : parseV2(buf)
  if (prefixOf(buf, V1_PREFIX)) return parseV1(buf)
  return fail('the connection does not start with a PROXY protocol header')
}

function parseV1(buf: Buffer): ParseResult {
  const end = buf.indexOf('\r\n', 0, 'latin1')
  if (end === -1) {
    // A lone CR or LF inside the line can never become CRLF at the right place.
    const bare = buf.indexOf(0x0a)
    if (bare !== -1) return fail('PROXY v1 header has a line feed without a carriage return')
    return buf.length >= V1_MAX ? fail(`PROXY v1 header is longer than ${V1_MAX} bytes`) : MORE
  }
  if (end + 2 > V1_MAX) return fail(`PROXY v1 header is longer than ${V1_MAX} bytes`)
  const line = buf.toString('latin1', 0, end)
  const parts = line.split(' ')
  if (parts[1] === 'UNKNOWN') return { kind: 'done', length: end + 2, address: UNKNOWN }
  if (parts.length !== 6) return fail(`PROXY v1 header ${JSON.stringify(line)} must be "PROXY TCP4|TCP6 <src> <dst> <srcport> <dstport>"`)
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null
  if (valid === null) return fail(`PROXY v1 protocol ${JSON.stringify(proto)} is not TCP4, TCP6 or UNKNOWN`)
  if (!valid(src) || !valid(dst)) return fail(`PROXY v1 addresses ${JSON.stringify(src)} ${JSON.stringify(dst)} are not ${proto} addresses`)
  const sp = port(sport), dp = port(dport)
  if (sp < 0 || dp < 0) return fail(`PROXY v1 ports ${JSON.stringify(sport)} ${JSON.stringify(dport)} must be 0 to 65535`)
  return {
    kind: 'done', length: end + 2,
    address: { family: proto === 'TCP4' ? 'tcp4' : 'tcp6', source: src, sourcePort: sp, destination: dst, destinationPort: dp },
  }
}

/** A decimal port without leading zeros (the spec's form), or -1. */
function port(s: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return -1
  const n = Number(s)
  return n <= 65535 ? n : -1
}

function parseV2(buf: Buffer): ParseResult {
  const verCmd = buf[12]!
  if (verCmd >> 4 !== 2) return fail(`PROXY v2 header has version ${verCmd >> 4}, not 2`)
  const command = verCmd & 0x0f
  if (command > 1) return fail(`PROXY v2 header has command ${command}, neither LOCAL (0) nor PROXY (1)`)
  const famProto = buf[13]!
  const len = buf.readUInt16BE(14)
  const total = 16 + len
  if (total > V2_MAX) return fail(`PROXY v2 header of ${total} bytes is longer than the ${V2_MAX} Sluice accepts`)
  if (buf.length < total) return MORE
  // LOCAL: the balancer's own connection (health checks); the addresses, if any, are ignored.
  if (command === 0) return { kind: 'done', length: total, address: UNKNOWN }
  const family = famProto >> 4, transport = famProto & 0x0f
  if (family === 0) return { kind: 'done', length: total, address: UNKNOWN } // UNSPEC
  if (transport !== 1) return fail(`PROXY v2 header announces transport ${transport}; only STREAM (TCP) is served`)
  if (family === 3) return { kind: 'done', length: total, address: UNKNOWN } // AF_UNIX: no IP to report
  if (family === 1) {
    if (len < 12) return fail('PROXY v2 TCP4 header is shorter than its 12 address bytes')
    return {
      kind: 'done', length: total,
      address: { family: 'tcp4', source: ipv4(buf, 16), destination: ipv4(buf, 20), sourcePort: buf.readUInt16BE(24), destinationPort: buf.readUInt16BE(26) },
    }
  }
  if (family === 2) {
    if (len < 36) return fail('PROXY v2 TCP6 header is shorter than its 36 address bytes')
    return {
      kind: 'done', length: total,
      address: { family: 'tcp6', source: ipv6(buf, 16), destination: ipv6(buf, 32), sourcePort: buf.readUInt16BE(48), destinationPort: buf.readUInt16BE(50) },
    }
  }
  return fail(`PROXY v2 header has unknown address family ${family}`)
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`
}

/** The compressed form Node reports for peers (so trusted-proxies memo keys and logs agree). */
function ipv6(b: Buffer, at: number): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i))
  // IPv4-mapped (::ffff:a.b.c.d) as Node writes it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(b, at + 12)}`
  let best = -1, bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best === -1) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`
}

/** Where the header came from, for logs; the socket's own remoteAddress is what the header says. */
const kRealPeer = Symbol('sluice.proxyPeer')

/**
 * Make the socket report the PROXY source as its remote address: everything that reads
 * `socket.remoteAddress` (forwarding headers, plugins' remoteAddress, TLS sockets built on it)
 * then sees the client the balancer saw.
 */
export function setProxiedPeer(socket: Duplex, address: ProxyAddress): void {
  if (address.family === 'unknown') return
  const s = socket as Duplex & { remoteAddress?: string; [kRealPeer]?: string }
  s[kRealPeer] = s.remoteAddress
  Object.defineProperty(socket, 'remoteAddress', { value: address.source, configurable: true })
  Object.defineProperty(socket, 'remotePort', { value: address.sourcePort, configurable: true })
  Object.defineProperty(socket, 'remoteFamily', { value: address.family === 'tcp4' ? 'IPv4' : 'IPv6', configurable: true })
}

/** The TCP peer under a PROXY-addressed socket (the balancer), or undefined when none was applied. */
export function realPeer(socket: object): string | undefined {
  return (socket as { [kRealPeer]?: string })[kRealPeer]
}

export interface ReadOptions {
  /** the whole header must arrive within this (client-header-timeout) */
  timeoutMs: number
  /** the header and the bytes read past it (the client's first bytes, maybe empty); the socket is paused */
  onHeader: (address: ProxyAddress, rest: Buffer) => void
  /** the connection was closed for this reason (bad header, timeout); for debug logs */
  onReject?: (reason: string) => void
}

/**
 * Read a PROXY header off a fresh connection. The socket is destroyed on a bad header, at the
 * deadline, or past the size bound; otherwise onHeader gets it with whatever followed.
 */
export function readProxyHeader(socket: Socket, opts: ReadOptions): void {
  let buf: Buffer = Buffer.alloc(0)
  const timer = setTimeout(() => reject('no complete PROXY protocol header before the header deadline'), opts.timeoutMs)
  timer.unref()
  const reject = (reason: string): void => {
    cleanup()
    opts.onReject?.(reason)
    socket.destroy()
  }
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    const r = parseProxyHeader(buf)
    if (r.kind === 'more') return
    if (r.kind === 'error') return reject(r.message)
    cleanup()
    socket.pause()
    setProxiedPeer(socket, r.address)
    opts.onHeader(r.address, buf.subarray(r.length))
  }
  const onEnd = (): void => reject('the connection ended before its PROXY protocol header')
  function cleanup(): void {
    clearTimeout(timer)
    socket.removeListener('data', onData)
    socket.removeListener('end', onEnd)
  }
  socket.on('data', onData)
  socket.once('end', onEnd)
}

/**
 * A socket whose first bytes were already read: yields `head` and then the socket's data. Node's
 * TLS server wraps a net.Socket's native handle directly, which would skip bytes read in JS (the
 * ClientHello sent right behind the PROXY header), so such a connection is handed over as this
 * stream instead (Node wraps any Duplex in its JS stream adapter). Only PROXY connections whose
 * first read held more than the header take this path.
 */
export class ReplaySocket extends Duplex {
  readonly socket: Socket
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly remoteFamily: string | undefined

  constructor(socket: Socket, head: Buffer) {
    super({ allowHalfOpen: false })
    this.socket = socket
    this.remoteAddress = socket.remoteAddress
    this.remotePort = socket.remotePort
    this.remoteFamily = socket.remoteFamily
    ;(this as { [kRealPeer]?: string })[kRealPeer] = realPeer(socket)
    if (head.length > 0) this.push(head)
    socket.on('data', (d: Buffer) => {
      if (!this.push(d)) socket.pause()
    })
    socket.once('end', () => this.push(null))
    socket.once('error', (err) => this.destroy(err))
    socket.once('close', () => this.destroy())
  }

  override _read(): void {
    this.socket.resume()
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, encoding, cb)
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb)
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined)
    cb(err)
  }

  setNoDelay(v?: boolean): this {
    this.socket.setNoDelay(v)
    return this
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay)
    return this
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb)
    return this
  }
}

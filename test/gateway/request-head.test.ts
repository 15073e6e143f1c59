// The narrow head reader that decides whether a new connection may be parked: it reads plain
// origin-form HTTP/1.1 heads and gives up (null) on anything Node's parser should judge itself.
import t from 'tap'
import { readRequestHead } from '../../gateway/request-head.ts'

const read = (s: string) => readRequestHead(Buffer.from(s, 'latin1'))

t.test('reads the target, the host and the fields of a plain head', async (t) => {
  const h = read('POST /a/b?c=d HTTP/1.1\r\nHost: svc.default.localhost\r\nX-Tag:  blue \r\nContent-Length: 3\r\n\r\nabc')
  t.same(h, { method: 'POST', url: '/a/b?c=d', host: 'svc.default.localhost', headers: { host: 'svc.default.localhost', 'x-tag': 'blue', 'content-length': '3' } })
  t.equal(read('GET / HTTP/1.1\r\nhost: a\r\n\r\n')?.host, 'a', 'names are case-insensitive')
  t.equal(read('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n')?.headers['transfer-encoding'], 'Chunked', 'a chunked body')
  t.equal(read('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999\r\n\r\n')?.headers['content-length'], '999999999999999', 'a 15-digit length')
  t.equal(read(`GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 99 }, (_, i) => `x${i}: v\r\n`).join('')}\r\n`)?.host, 'a', '100 fields')
  const spaced = `a${' '.repeat(8000)}b`
  t.equal(read(`GET / HTTP/1.1\r\nHost: a\r\nX-A: \t${spaced} \t\r\n\r\n`)?.headers['x-a'], spaced, 'only outer spaces and tabs are trimmed')
})

t.test('gives up on anything it does not fully understand', async (t) => {
  const cases: [string, string][] = [
    ['head not complete in the first bytes', 'GET / HTTP/1.1\r\nHost: a\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\nX-A: b\r\n\r\n'],
    ['empty Host', 'GET / HTTP/1.1\r\nHost: \r\n\r\n'],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['a repeated field (Node joins those)', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['space in the target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['WebSocket upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['Expect: 100-continue', 'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n'],
    ['bare LF', 'GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n'],
    ['control character in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n'],
    ['a method Node does not know', 'FOO / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a Content-Length that is not digits', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx'],
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a Transfer-Encoding other than chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
    ['head larger than 16 KiB', `GET / HTTP/1.1\r\nHost: a\r\nX-A: ${'b'.repeat(17 * 1024)}\r\n\r\n`],
    // llhttp refuses a length past 2^64 - 1; 16 digits and more are left to it
    ['a Content-Length of 16 digits', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000\r\n\r\n'],
    // llhttp refuses a head of 1001 fields, whatever its size
    ['more than 100 fields', `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 100 }, (_, i) => `x${i}: v\r\n`).join('')}\r\n`],
  ]
  for (const [what, head] of cases) t.equal(read(head), null, what)
})

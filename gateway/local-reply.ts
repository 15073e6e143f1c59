// Answers the gateway writes itself (no route, no upstream, timeouts), kept tiny and uniform.
import type { ServerResponse } from 'node:http'

export function localReply(res: ServerResponse, status: number, body: string, close: boolean, extra?: readonly string[]): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body))]
  if (status === 503) headers.push('retry-after', '1')
  // HTTP/2 has no Connection header (and refuses it); GOAWAY does that job there.
  if (close && res.req?.httpVersionMajor === 1) headers.push('connection', 'close')
  if (extra !== undefined) for (const h of extra) headers.push(h)
  res.writeHead(status, headers)
  res.end(body)
}

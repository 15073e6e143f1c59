// The first bytes of a request body for ext-authz, as Envoy's with_request_body with
// allow_partial_message (Kourier's extauthz-max-request-body-bytes): wait for the whole body or
// `max` bytes, whichever comes first, then put every byte read back in front of the request stream
// (Readable#unshift) so the proxy still sends the body upstream unchanged. The plugin API has no
// body phase for requests; reading ctx.req this way is what it allows.
import type { RequestContext } from '../api.ts'

export interface BufferedBody {
  readonly bytes: Buffer
  /** true when the body was longer than `max` (or the wait ran out): Envoy's x-envoy-auth-partial-body */
  readonly partial: boolean
}

export const NO_BODY: BufferedBody = Object.freeze({ bytes: Buffer.alloc(0), partial: false })

type Req = RequestContext['req']

/** Whether a body follows the head: HTTP/1 says so in its head; HTTP/2 ends the stream with HEADERS otherwise. */
export function hasBody(req: Req): boolean {
  if ('stream' in req) return !req.stream.endAfterHeaders
  const h = req.headers
  const len = h['content-length']
  return h['transfer-encoding'] !== undefined || (len !== undefined && len !== '0')
}

/** The whole body has been received (the stream ended but 'end' may not have been emitted yet). */
function complete(req: Req): boolean {
  return 'stream' in req ? req.stream.readableEnded : req.complete
}

/**
 * Reads at most `max` bytes (a little more if one chunk crosses the limit; only `max` are returned),
 * waiting at most `waitMs`; what arrived by then is sent as a partial body. Every chunk read is put
 * back before this resolves, in the same tick as the last read, so 'end' is never emitted early.
 */
export function bufferBody(req: Req, max: number, waitMs: number): BufferedBody | Promise<BufferedBody> {
  if (max <= 0 || !hasBody(req) || req.readableEnded || req.destroyed) return NO_BODY
  return new Promise((resolve) => {
    const parts: Buffer[] = []
    let size = 0
    const finish = (partial: boolean): void => {
      clearTimeout(timer)
      req.off('readable', onReadable)
      req.off('close', onClose)
      req.off('error', onClose)
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)
      if (size > 0 && !req.destroyed) req.unshift(all)
      resolve({ bytes: size > max ? all.subarray(0, max) : all, partial: partial || size > max })
    }
    const onReadable = (): void => {
      let chunk: Buffer | null
      while (size <= max && (chunk = req.read() as Buffer | null) !== null) {
        parts.push(chunk)
        size += chunk.length
      }
      if (size > max) finish(true)
      else if (complete(req) && req.readableLength === 0) finish(false)
    }
    const onClose = (): void => finish(true)
    const timer = setTimeout(finish, waitMs, true)
    req.on('readable', onReadable)
    req.on('close', onClose)
    req.on('error', onClose)
  })
}

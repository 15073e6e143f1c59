// The admin token for a browser. A page load and an EventSource cannot carry
// `Authorization: Bearer`, but a browser sends Basic credentials it prompted for on every request
// to the origin. So on the dashboard's paths a 401 also offers `Basic`, and Basic credentials whose
// password is the token (any user name) count as that token; the check itself stays
// AdminAccess.authorized, one code path for every admin request.

/** The page, its assets and its event stream. */
export function isDashboardPath(path: string): boolean {
  return path === '/' || path.startsWith('/dashboard/')
}

export const BASIC_CHALLENGE = 'Basic realm="sluice-admin", charset="UTF-8"'

/** `Basic base64(user:token)` becomes `Bearer token`; any other header is returned as it is. */
export function bearerFromBasic(header: string | undefined): string | undefined {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header ?? '')
  if (m === null) return header
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon < 0 ? undefined : `Bearer ${decoded.slice(colon + 1)}`
}

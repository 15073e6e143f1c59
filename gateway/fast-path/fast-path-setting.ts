// The switch for the fast path: on unless SLUICE_FAST_PATH=off (or 0/false), read once at start.
// Off, every plain HTTP/1.1 connection goes to Node's server as before the fast path existed.

export function fastPathEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.SLUICE_FAST_PATH ?? '').trim().toLowerCase()
  return !(v === 'off' || v === '0' || v === 'false' || v === 'no')
}

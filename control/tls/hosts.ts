// Host names in KIngress spec.tls[].hosts: DNS names or `*.` wildcards, compared lower-case.

const LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?'
const HOST = new RegExp(`^${LABEL}(\\.${LABEL})*$`)

/** Lower-cased host (trailing dot dropped), or undefined when it is not a host or `*.host`. */
export function normalizeTlsHost(raw: string): string | undefined {
  let h = String(raw).trim().toLowerCase()
  if (h.endsWith('.')) h = h.slice(0, -1)
  const bare = h.startsWith('*.') ? h.slice(2) : h
  return bare.length > 0 && bare.length <= 253 && HOST.test(bare) ? h : undefined
}

// Upstream TLS for config-network `system-internal-tls`, as Kourier configures Envoy's
// UpstreamTlsContext (net-kourier pkg/generator/ingress_translator.go createUpstreamTLSContext):
// TLS 1.3 only, the Knative trust chain as the only CAs, and the peer accepted when its
// certificate carries the DNS SAN `kn-routing` (the activator) or `kn-user-<namespace>` (the
// queue-proxy of the split's namespace), matched exactly. Everything here is prepared once per
// route table; a connection only runs the SAN check.
import { createHash, X509Certificate } from 'node:crypto'
import { createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext } from 'node:tls'

/** knative/networking pkg/certificates: the activator's SAN, and the queue-proxy's per namespace. */
export const ROUTING_SAN = 'kn-routing'
export const userSan = (namespace: string): string => `kn-user-${namespace.toLowerCase()}`

/** The CAs upstream certificates must chain to: one SecureContext for every backend of a table. */
export interface UpstreamTrust {
  readonly context: SecureContext
  /** sha256 of the PEM: backends keep their pools across reloads while it is unchanged */
  readonly hash: string
}

export function upstreamTrust(pem: string): UpstreamTrust {
  return Object.freeze({
    context: createSecureContext({ ca: pem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }),
    hash: createHash('sha256').update(pem).digest('hex'),
  })
}

/** What one backend's connections need: undici `connect` options and the SNI name to send. */
export interface UpstreamTls {
  /** equal ids mean interchangeable settings (same trust, names and protocol) */
  readonly id: string
  /**
   * Sent as SNI and given to undici per request: undici otherwise takes the SNI from the Host
   * header and reconnects whenever two requests' hosts differ. Kourier sends none; the Knative
   * servers pick no certificate by SNI, so the queue-proxy's name is as good and says who we want.
   */
  readonly servername: string
  /** tls.connect options for undici's connector (it sets ALPN itself from allowH2) */
  readonly connect: ConnectionOptions & { readonly preferH2?: boolean }
}

/**
 * `h2`: the backend speaks HTTP/2 (a port named http2/h2c); over TLS that is h2 by ALPN, offered
 * first (undici adds http/1.1 after it; Kourier offers h2 alone).
 */
export function upstreamTls(trust: UpstreamTrust, namespace: string, h2: boolean): UpstreamTls {
  const names = [ROUTING_SAN, userSan(namespace)]
  const servername = names[1]!
  return Object.freeze({
    id: `${trust.hash}|${servername}|${h2 ? 'h2' : 'http/1.1'}`,
    servername,
    connect: Object.freeze({
      secureContext: trust.context,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      servername,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkSan(cert, names),
      ...(h2 ? { preferH2: true } : {}),
    } as const),
  })
}

/** Exact DNS SAN match (Envoy's match_typed_subject_alt_names): no wildcards, never the subject CN. */
function checkSan(cert: PeerCertificate, names: readonly string[]): Error | undefined {
  if (cert.raw === undefined) return new Error('upstream sent no certificate')
  const x509 = new X509Certificate(cert.raw)
  for (const n of names) if (x509.checkHost(n, { subject: 'never', wildcards: false }) !== undefined) return undefined
  const err = new Error(`upstream certificate is for ${x509.subjectAltName ?? 'no DNS name'}; system-internal-tls wants ${names.join(' or ')}`) as Error & { code: string }
  err.code = 'ERR_TLS_CERT_ALTNAME_INVALID'
  return err
}

// Self-signed certificates for the TLS tests (openssl, ECDSA P-256 like the conformance suite),
// and YAML for the Secrets and Ingresses that carry them.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCert { cert: string; key: string; cn: string }

/** A self-signed certificate for `cn`, with every name in `sans` (default: cn) as DNS SANs. */
export function selfSigned(cn: string, sans: string[] = [cn]): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'pipe' })
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8'), cn }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

/** A Secret whose data values sit on one line each: tls.crt on line 8, tls.key on line 9. */
export function secretYaml(name: string, crt: string, key: string, namespace = 'default'): string {
  return [
    'apiVersion: v1', //              1
    'kind: Secret', //                2
    'metadata:', //                   3
    `  name: ${name}`, //             4
    `  namespace: ${namespace}`, //   5
    'type: kubernetes.io/tls', //     6
    'data:', //                       7 (data:)
    `  tls.crt: ${b64(crt)}`, //      8
    `  tls.key: ${b64(key)}`, //      9
  ].join('\n') + '\n'
}

export interface TlsEntry { hosts: string[]; secretName: string; secretNamespace?: string }

/** A KIngress with the given tls entries; entry i starts on line 8 + 3i + (hosts before it). */
export function ingressYaml(name: string, tls: TlsEntry[], namespace = 'default'): string {
  const lines = [
    'apiVersion: networking.internal.knative.dev/v1alpha1',
    'kind: Ingress',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    'spec:',
    '  tls:',
  ]
  for (const t of tls) {
    lines.push(`    - secretName: ${t.secretName}`, `      secretNamespace: ${t.secretNamespace ?? namespace}`, '      hosts:')
    for (const h of t.hosts) lines.push(`        - ${JSON.stringify(h)}`)
  }
  lines.push(
    '  rules:',
    `    - hosts: [${JSON.stringify(tls[0]?.hosts[0] ?? 'x.example.com')}]`,
    '      http:',
    '        paths:',
    '          - splits:',
    '              - serviceName: backend',
    `                serviceNamespace: ${namespace}`,
    '                servicePort: 80',
  )
  return lines.join('\n') + '\n'
}

export function configSluiceYaml(data: Record<string, string>): string {
  return ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: config-sluice', '  namespace: knative-serving', 'data:',
    ...Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)].join('\n') + '\n'
}

import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { loadFiles, type SourceText } from '../../control/sources/load.ts'
import { formatError } from '../../control/sources/format-error.ts'
import { buildCertTable, type BuildCertOptions } from '../../control/tls/certificates.ts'
import { CertContextCache } from '../../control/tls/context-cache.ts'
import type { SecretRef } from '../../control/tls/default-certificate.ts'
import { contextFor } from '../../gateway/tls/cert-table.ts'
import { configSluiceYaml, ingressYaml, secretYaml, selfSigned } from './certs.ts'

const A = selfSigned('a.example.com', ['a.example.com', 'a2.example.com'])
const B = selfSigned('b.example.com')
const W = selfSigned('*.w.example.com')
const D = selfSigned('default.example.com')

function build(files: Record<string, string[]>, defaultCert?: SecretRef, opts?: BuildCertOptions) {
  const texts: SourceText[] = Object.entries(files).map(([file, docs]) => ({ file, text: docs.join('---\n') }))
  const loaded = loadFiles(texts)
  if (loaded.errors.length > 0) throw new Error(`fixture does not load: ${loaded.errors.map(formatError).join('; ')}`)
  const r = buildCertTable(loaded.resources, defaultCert, opts)
  return { ...r, errs: r.errors.map(formatError), warns: r.warnings.map(formatError) }
}

const goodSecrets = [secretYaml('a', A.cert, A.key), secretYaml('b', B.cert, B.key), secretYaml('w', W.cert, W.key)]

t.test('hosts from every ingress, one context per secret', async (t) => {
  const r = build({
    'secrets.yaml': goodSecrets,
    'ing.yaml': [
      ingressYaml('one', [{ hosts: ['A.Example.com', '*.w.example.com'], secretName: 'a' }]),
      ingressYaml('two', [{ hosts: ['a2.example.com'], secretName: 'a' }, { hosts: ['b.example.com'], secretName: 'b' }]),
    ],
  })
  t.same(r.errs, [])
  // A's certificate does not name *.w.example.com: served anyway, with a warning.
  t.same(r.warns, [
    'ing.yaml:12:11 spec.tls[0].hosts[1]: certificate in Secret default/a does not cover host *.w.example.com (it is for DNS:a.example.com, DNS:a2.example.com); clients will reject it',
  ])
  t.same(r.table.hosts, ['*.w.example.com', 'a.example.com', 'a2.example.com', 'b.example.com'])
  t.same([...r.table.exact.keys()].sort(), ['a.example.com', 'a2.example.com', 'b.example.com'])
  t.same([...r.table.wildcard.keys()], ['.w.example.com'])
  const ctxA = r.table.exact.get('a.example.com')
  t.ok(ctxA)
  t.equal(r.table.exact.get('a2.example.com'), ctxA, 'two ingresses, one Secret: one SecureContext (Kourier #189)')
  t.equal(r.table.wildcard.get('.w.example.com'), ctxA)
  t.not(r.table.exact.get('b.example.com'), ctxA)
  t.equal(contextFor(r.table, 'x.w.example.com'), ctxA)
  t.equal(r.table.fallback, null)
  t.equal(r.table.fallbackPem, null)
  t.match(r.table.fingerprint, /^[0-9a-f]{64}$/)
  t.ok(Object.isFrozen(r.table))
})

t.test('identical material in two Secrets shares a context; the cache keeps contexts across builds', async (t) => {
  const files = {
    'secrets.yaml': [...goodSecrets, secretYaml('a-copy', A.cert, A.key, 'other')],
    'ing.yaml': [ingressYaml('one', [{ hosts: ['a.example.com'], secretName: 'a' }]),
      ingressYaml('two', [{ hosts: ['a2.example.com'], secretName: 'a-copy', secretNamespace: 'other' }, { hosts: ['b.example.com'], secretName: 'b', secretNamespace: 'default' }], 'other')],
  }
  const cache = new CertContextCache()
  const first = build(files, undefined, { cache })
  t.same(first.errs, [])
  t.equal(first.table.exact.get('a.example.com'), first.table.exact.get('a2.example.com'))
  t.equal(cache.size, 2)
  const again = build(files, undefined, { cache })
  t.equal(again.table.exact.get('a.example.com'), first.table.exact.get('a.example.com'), 'same context object on reload')
  t.equal(again.table.fingerprint, first.table.fingerprint)
  const uncached = build(files)
  t.not(uncached.table.exact.get('a.example.com'), first.table.exact.get('a.example.com'))
  t.equal(uncached.table.fingerprint, first.table.fingerprint, 'the fingerprint depends on key material, not on objects')

  // Rotating one Secret changes the fingerprint and drops the unused context from the cache.
  const A2 = selfSigned('b.example.com')
  const rotated = build({ ...files, 'secrets.yaml': [...goodSecrets.slice(0, 1), secretYaml('b', A2.cert, A2.key), secretYaml('a-copy', A.cert, A.key, 'other')] }, undefined, { cache })
  t.same(rotated.errs, [])
  t.not(rotated.table.fingerprint, first.table.fingerprint)
  t.equal(rotated.table.exact.get('a.example.com'), first.table.exact.get('a.example.com'))
  t.not(rotated.table.exact.get('b.example.com'), first.table.exact.get('b.example.com'))
  t.equal(cache.size, 2)
})

t.test('a missing Secret is reported at secretName', async (t) => {
  const r = build({
    'secrets.yaml': goodSecrets,
    'ing.yaml': [ingressYaml('one', [{ hosts: ['a.example.com'], secretName: 'a' }, { hosts: ['c.example.com'], secretName: 'nope', secretNamespace: 'prod' }])],
  })
  t.same(r.errs, [
    'ing.yaml:12:19 spec.tls[1].secretName: Secret prod/nope not found; create it (type kubernetes.io/tls, keys tls.crt and tls.key) or fix secretName/secretNamespace',
  ])
  t.same(r.table.hosts, ['a.example.com'], 'the good entries are still in the table')
})

t.test('bad PEM, bad keys and mismatched pairs are reported at the Secret, once per Secret', async (t) => {
  const truncated = A.cert.slice(0, 120) + '\n-----END CERTIFICATE-----\n'
  const r = build({
    'secrets.yaml': [
      secretYaml('garbage', 'not a certificate', A.key), //   lines 1-9
      secretYaml('truncated', truncated, A.key), //            11-19
      secretYaml('badkey', A.cert, 'not a key'), //            21-29
      secretYaml('brokenkey', A.cert, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), // 31-39
      secretYaml('encrypted', A.cert, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n'), // 41-49
      secretYaml('mixed', A.cert, B.key), //                   51-59
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: nokey\ntype: kubernetes.io/tls\ndata:\n  tls.crt: aGVsbG8=\n', // 61-67
    ],
    'ing.yaml': [ingressYaml('one', [
      { hosts: ['a.example.com'], secretName: 'garbage' },
      { hosts: ['b.example.com'], secretName: 'truncated' },
      { hosts: ['c.example.com'], secretName: 'badkey' },
      { hosts: ['d.example.com'], secretName: 'brokenkey' },
      { hosts: ['e.example.com'], secretName: 'encrypted' },
      { hosts: ['f.example.com'], secretName: 'mixed' },
      { hosts: ['g.example.com'], secretName: 'nokey' },
      { hosts: ['h.example.com'], secretName: 'mixed' },
    ])],
  })
  t.same(r.errs, [
    'secrets.yaml:8:12 data[tls.crt]: tls.crt of Secret default/garbage is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" block',
    'secrets.yaml:18:12 data[tls.crt]: tls.crt of Secret default/truncated is not a valid PEM certificate (bad base64 decode)',
    'secrets.yaml:29:12 data[tls.key]: tls.key of Secret default/badkey is not a PEM private key: no "-----BEGIN ... PRIVATE KEY-----" block',
    'secrets.yaml:39:12 data[tls.key]: tls.key of Secret default/brokenkey is not a valid PEM private key (unsupported)',
    'secrets.yaml:49:12 data[tls.key]: tls.key of Secret default/encrypted is encrypted; store the key without a passphrase',
    'secrets.yaml:58:12 data[tls.crt]: tls.crt and tls.key of Secret default/mixed do not match: the certificate was not issued for this private key',
    'secrets.yaml:66:1 data: Secret default/nokey has no tls.key; a TLS Secret needs both tls.crt and tls.key (PEM)',
  ])
  t.same(r.warns, [])
  t.same(r.table.hosts, [])
})

t.test('stringData values are located where they were written', async (t) => {
  const indented = (pem: string): string => pem.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')
  const secret = [
    'apiVersion: v1', 'kind: Secret', 'metadata:', '  name: s', 'type: kubernetes.io/tls', 'stringData:',
    '  tls.crt: |', //  7
    indented(B.cert),
    '  tls.key: |',
    indented(A.key),
  ].join('\n') + '\n'
  const r = build({ 'secret.yaml': [secret], 'ing.yaml': [ingressYaml('one', [{ hosts: ['b.example.com'], secretName: 's' }])] })
  t.same(r.errs, [
    'secret.yaml:7:12 stringData[tls.crt]: tls.crt and tls.key of Secret default/s do not match: the certificate was not issued for this private key',
  ])
  const good = secret.replace(indented(A.key), indented(B.key))
  t.same(build({ 'secret.yaml': [good], 'ing.yaml': [ingressYaml('one', [{ hosts: ['b.example.com'], secretName: 's' }])] }).errs, [])
})

t.test('invalid hosts are errors; hosts the certificate does not name, duplicates and empty lists are warnings', async (t) => {
  const r = build({
    'secrets.yaml': goodSecrets,
    'ing.yaml': [
      ingressYaml('one', [{ hosts: ['a.example.com', 'bad host', '*.', 'x.*.example.com'], secretName: 'a' }]),
      ingressYaml('two', [{ hosts: ['a.example.com', 'zzz.example.com'], secretName: 'b' }, { hosts: [], secretName: 'w' }]),
    ],
  })
  t.same(r.errs, [
    'ing.yaml:12:11 spec.tls[0].hosts[1]: "bad host" is not a host name; write a DNS name such as app.example.com or a wildcard such as *.example.com',
    'ing.yaml:13:11 spec.tls[0].hosts[2]: "*." is not a host name; write a DNS name such as app.example.com or a wildcard such as *.example.com',
    'ing.yaml:14:11 spec.tls[0].hosts[3]: "x.*.example.com" is not a host name; write a DNS name such as app.example.com or a wildcard such as *.example.com',
  ])
  t.same(r.warns, [
    'ing.yaml:34:11 spec.tls[0].hosts[0]: host a.example.com already has the certificate of Secret default/a (Ingress default/one); Secret default/b is not used for it',
    'ing.yaml:35:11 spec.tls[0].hosts[1]: certificate in Secret default/b does not cover host zzz.example.com (it is for DNS:b.example.com); clients will reject it',
    'ing.yaml:36:7 spec.tls[1]: TLS entry has no hosts, so no SNI name selects its certificate; list the hosts it serves',
  ])
})

t.test('expired and not-yet-valid certificates are warnings and still served', async (t) => {
  const files = { 'secrets.yaml': goodSecrets, 'ing.yaml': [ingressYaml('one', [{ hosts: ['a.example.com'], secretName: 'a' }])] }
  const x = new X509Certificate(A.cert)
  const later = build(files, undefined, { now: new Date(x.validToDate.getTime() + 1000) })
  t.same(later.errs, [])
  t.same(later.warns, [`secrets.yaml:8:12 data[tls.crt]: certificate in Secret default/a expired on ${x.validToDate.toISOString()}; clients will reject it until it is renewed`])
  t.ok(later.table.exact.get('a.example.com'))
  const earlier = build(files, undefined, { now: new Date(x.validFromDate.getTime() - 1000) })
  t.same(earlier.warns, [`secrets.yaml:8:12 data[tls.crt]: certificate in Secret default/a is not valid before ${x.validFromDate.toISOString()}; clients will reject it until then`])
})

t.test('config-sluice default-certificate', async (t) => {
  const secrets = [...goodSecrets, secretYaml('fallback', D.cert, D.key, 'knative-serving'), secretYaml('mixed', D.cert, A.key, 'knative-serving')]
  const ing = [ingressYaml('one', [{ hosts: ['a.example.com'], secretName: 'a' }])]

  const ok = build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': 'knative-serving/fallback' })], 'secrets.yaml': secrets, 'ing.yaml': ing })
  t.same(ok.errs, [])
  t.ok(ok.table.fallback)
  t.same(ok.table.fallbackPem, { cert: D.cert, key: D.key })
  t.equal(contextFor(ok.table, 'unknown.org'), ok.table.fallback)
  t.not(ok.table.fingerprint, build({ 'secrets.yaml': secrets, 'ing.yaml': ing }).table.fingerprint, 'the default certificate is part of the fingerprint')
  t.same(ok.table.hosts, ['a.example.com'])

  t.same(build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': 'fallback' })], 'secrets.yaml': secrets }).errs, [
    'cfg.yaml:7:24 data.default-certificate: config-sluice: default-certificate must be "namespace/secret-name", got "fallback"',
  ])
  t.same(build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': 'knative-serving/Nope!' })], 'secrets.yaml': secrets }).errs, [
    'cfg.yaml:7:24 data.default-certificate: config-sluice: default-certificate must be "namespace/secret-name", got "knative-serving/Nope!"',
  ])
  t.same(build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': 'knative-serving/gone' })], 'secrets.yaml': secrets }).errs, [
    'cfg.yaml:7:24 data.default-certificate: config-sluice: default-certificate: Secret knative-serving/gone not found; create it (type kubernetes.io/tls, keys tls.crt and tls.key)',
  ])
  t.same(build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': 'knative-serving/mixed' })], 'secrets.yaml': secrets }).errs, [
    'secrets.yaml:48:12 data[tls.crt]: tls.crt and tls.key of Secret knative-serving/mixed do not match: the certificate was not issued for this private key',
  ])
  const empty = build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': ' ' })], 'secrets.yaml': secrets })
  t.same(empty.errs, [])
  t.equal(empty.table.fallback, null)
  t.equal(empty.table.fingerprint, '', 'nothing to serve')

  // An explicit reference (a flag) wins over config-sluice; a missing one has no file position.
  const given = build({ 'cfg.yaml': [configSluiceYaml({ 'default-certificate': 'bad' })], 'secrets.yaml': secrets }, { namespace: 'knative-serving', name: 'fallback' })
  t.same(given.errs, [])
  t.ok(given.table.fallback)
  t.same(build({ 'secrets.yaml': secrets }, { namespace: 'x', name: 'y' }).errs, [
    ':0:0 data.default-certificate: config-sluice: default-certificate: Secret x/y not found; create it (type kubernetes.io/tls, keys tls.crt and tls.key)',
  ])
})

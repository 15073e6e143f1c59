// ingressHash against hashes computed by Go's encoding/json (knative/networking ComputeHash).
// The vectors in fixtures/ingress-hashes.json come from fixtures/hashgen/main.go; regenerate with
//   go run test/control/status/fixtures/hashgen/main.go > test/control/status/fixtures/ingress-hashes.json
// (`apt-get install golang-go` is enough: the generator is standalone).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { defaultedIngressSpec, ingressHash, ingressSpecJson } from '../../../control/status/ingress-hash.ts'
import type { IngressSpec, KIngress } from '../../../control/resources/types.ts'

interface Vector { case: string; input: KIngress; specJSON: string; hash: string }
const vectors = JSON.parse(readFileSync(new URL('fixtures/ingress-hashes.json', import.meta.url), 'utf8')) as Vector[]

t.test('every Go vector', async (t) => {
  t.ok(vectors.length >= 10, 'the fixture holds the vectors')
  for (const v of vectors) {
    t.equal(ingressSpecJson(defaultedIngressSpec(v.input.spec)), v.specJSON, `${v.case}: Go's bytes`)
    t.equal(ingressHash(v.input), v.hash, `${v.case}: hash`)
  }
})

t.test('defaulting copies and leaves the input alone', async (t) => {
  const spec = { rules: [{ hosts: ['a'], http: { paths: [{ splits: [{ serviceNamespace: 'n', serviceName: 's', servicePort: 80 }] }] } }] } as IngressSpec
  const before = JSON.stringify(spec)
  const d = defaultedIngressSpec(spec)
  t.equal(JSON.stringify(spec), before)
  t.equal(d.rules[0]!.visibility, 'ExternalIP')
  t.equal(d.rules[0]!.http.paths[0]!.splits[0]!.percent, 100)
})

t.test('\\b and \\f are written as Go >= 1.22 writes them', async (t) => {
  // Not in the Go vectors: Debian's Go 1.19 still writes \u0008 and \u000c.
  const spec = { httpOption: 'a\bb\fc' } as unknown as IngressSpec
  t.equal(ingressSpecJson(spec), '{"httpOption":"a\\bb\\fc"}')
})

t.test('values Go could not have decoded are refused with their path', async (t) => {
  const ing = (split: Record<string, unknown>) => ({
    apiVersion: 'networking.internal.knative.dev/v1alpha1', kind: 'Ingress',
    metadata: { name: 'x', namespace: 'ns', labels: {}, annotations: {} },
    spec: { rules: [{ http: { paths: [{ splits: [{ serviceNamespace: 'ns', serviceName: 's', servicePort: 80, ...split }] }] } }] },
  }) as unknown as KIngress
  t.throws(() => ingressHash(ing({ percent: 50.5 })), /KIngress ns\/x: spec\.rules\[0\]\.http\.paths\[0\]\.splits\[0\]\.percent: expected an integer, got 50\.5/)
  t.throws(() => ingressHash(ing({ servicePort: 2 ** 31 })), /servicePort: expected an integer that fits 32 bits/)
  t.throws(() => ingressHash(ing({ serviceName: 7 })), /serviceName: expected a string, got 7; quote it/)
})

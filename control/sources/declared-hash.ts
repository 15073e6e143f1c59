// The readiness hash of a KIngress as declared. Knative hashes the spec the user (or Serving)
// wrote; validation fills in defaults of its own (serviceNamespace, say) that Go would serialise
// differently, so the hash is taken from the raw spec when the object is read, and remembered
// for the validated object.
import type { KIngress, KObject } from '../resources/types.ts'
import { ingressHash } from '../status/ingress-hash.ts'

const declared = new WeakMap<KObject, string>()

export function rememberDeclaredHash(validated: KObject, rawSpec: unknown): void {
  const { namespace, name } = validated.metadata
  try {
    declared.set(validated, ingressHash({ ...validated, metadata: { ...validated.metadata, namespace, name }, spec: rawSpec } as KIngress))
  } catch {
    // a value Go's decoder would refuse; validation has reported it already
  }
}

/** The hash a probe of this ingress must see: of its declared spec, else (generated ingresses) of the spec itself. */
export function servedHash(ing: KIngress): string {
  return declared.get(ing) ?? ingressHash(ing)
}

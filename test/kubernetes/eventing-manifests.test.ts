// config/kubernetes/eventing/broker-ingress.yaml: an alias of sluice-internal under Knative's
// broker-ingress name, on the port sluice-internal serves the internal listener on.
import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { BROKER_INGRESS_HOST } from '../../control/reconcile/destinations.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
// Loose shapes: the test reads what is written and asserts on it.
type Obj = Record<string, any>
const docs = (file: string): Obj[] => parseAllDocuments(readFileSync(path.join(ROOT, file), 'utf8')).map((d) => d.toJS() as Obj)

t.test('the optional broker-ingress alias points at sluice-internal port 80', async (t) => {
  const objs = docs('config/kubernetes/eventing/broker-ingress.yaml')
  const svc = objs.find((o) => o.kind === 'Service')!
  t.equal(`${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`, BROKER_INGRESS_HOST, 'the name Broker addresses use')
  t.ok(objs.some((o) => o.kind === 'Namespace' && o.metadata.name === svc.metadata.namespace), 'its namespace is created')
  const internal = docs('config/kubernetes/31-services.yaml').find((o) => o.kind === 'Service' && o.metadata.name === 'sluice-internal')!
  t.equal(svc.spec.type, 'ExternalName')
  t.equal(svc.spec.externalName, `${internal.metadata.name}.${internal.metadata.namespace}.svc.cluster.local`)
  const http = internal.spec.ports.find((p: Obj) => p.port === 80)
  t.ok(http, 'sluice-internal serves port 80')
  t.equal(http.targetPort, 'http-internal', 'port 80 of sluice-internal is the internal listener')
})

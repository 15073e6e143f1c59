// core v1 Service, Endpoints, ConfigMap, Secret and discovery.k8s.io/v1 EndpointSlice: the shape
// checks Sluice relies on when it uses them as KIngress backends, settings and certificates.
import { isIP } from 'node:net'
import type { CoreService, EndpointSlice, Endpoints, Secret } from '../resources/types.ts'
import {
  absent, describe, missing, readBool, readInt, readIntOrString, readList, readMap, readString, readStringList,
  readStringMap,
} from './fields.ts'
import type { Issues, Obj } from './fields.ts'
import { dns1123Subdomain } from './names.ts'
import { checkShape } from './schema.ts'
import { CORE_SERVICE_SPEC, ENDPOINT_SUBSETS, SLICE_ENDPOINTS, SLICE_PORTS } from './schema-core.ts'
import type { FieldPath } from './yaml-documents.ts'

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']

export function buildCoreService(is: Issues, raw: Obj): CoreService['spec'] {
  const spec = readMap(is, raw['spec'], ['spec'])
  if (spec === undefined) {
    missing(is, raw['spec'], ['spec'], 'a Service needs spec.ports (or spec.type: ExternalName with spec.externalName)')
    return {}
  }
  checkShape(is, spec, ['spec'], CORE_SERVICE_SPEC)
  const type = readString(is, spec['type'], ['spec', 'type'])
  if (type !== undefined && type !== '' && !SERVICE_TYPES.includes(type)) {
    is.add(['spec', 'type'], `must be one of ${SERVICE_TYPES.join(', ')}, got ${JSON.stringify(type)}`)
  }
  const externalName = readString(is, spec['externalName'], ['spec', 'externalName'])
  if (type === 'ExternalName') {
    if (externalName === undefined || externalName === '') {
      is.add(['spec', 'externalName'], 'missing field; an ExternalName Service needs the DNS name to forward to')
    } else {
      const bad = dns1123Subdomain(externalName.replace(/\.$/, ''))
      if (bad !== undefined) is.add(['spec', 'externalName'], bad)
    }
  }
  const clusterIP = readString(is, spec['clusterIP'], ['spec', 'clusterIP'])
  readStringMap(is, spec['selector'], ['spec', 'selector'], 'selector values')
  const ports = readList(is, spec['ports'], ['spec', 'ports'])
  if ((ports === undefined || ports.length === 0) && type !== 'ExternalName' && clusterIP !== 'None' && !(ports === undefined && !absent(spec['ports']))) {
    is.add(['spec', 'ports'], 'missing field; list at least one port, e.g. - port: 80')
  }
  ports?.forEach((p, i) => {
    const path = ['spec', 'ports', i]
    const port = readMap(is, p, path)
    if (port === undefined) return
    readString(is, port['name'], [...path, 'name'])
    readString(is, port['protocol'], [...path, 'protocol'])
    readString(is, port['appProtocol'], [...path, 'appProtocol'])
    if (!missing(is, port['port'], [...path, 'port'], 'each Service port needs a port number')) {
      readInt(is, port['port'], [...path, 'port'], 1, 65535)
    }
    readIntOrString(is, port['targetPort'], [...path, 'targetPort'])
  })
  return { ...spec } as CoreService['spec']
}

export function checkEndpoints(is: Issues, raw: Obj): Pick<Endpoints, 'subsets'> {
  checkShape(is, raw['subsets'], ['subsets'], ENDPOINT_SUBSETS)
  const subsets = readList(is, raw['subsets'], ['subsets'])
  subsets?.forEach((s, i) => {
    const path = ['subsets', i]
    const subset = readMap(is, s, path)
    if (subset === undefined) return
    for (const key of ['addresses', 'notReadyAddresses']) {
      readList(is, subset[key], [...path, key])?.forEach((a, j) => {
        const aPath = [...path, key, j]
        const address = readMap(is, a, aPath)
        if (address === undefined) return
        const ip = readString(is, address['ip'], [...aPath, 'ip'])
        if (ip === undefined) missing(is, address['ip'], [...aPath, 'ip'], 'each address needs an ip')
        else checkIP(is, ip, [...aPath, 'ip'])
        readString(is, address['hostname'], [...aPath, 'hostname'])
      })
    }
    readPorts(is, subset['ports'], [...path, 'ports'], true)
  })
  return subsets === undefined ? {} : { subsets: subsets as Endpoints['subsets'] }
}

export function checkEndpointSlice(is: Issues, raw: Obj): Pick<EndpointSlice, 'addressType' | 'endpoints' | 'ports'> {
  const addressType = readString(is, raw['addressType'], ['addressType'])
  if (addressType === undefined) missing(is, raw['addressType'], ['addressType'], 'set it to IPv4, IPv6 or FQDN')
  else if (addressType !== 'IPv4' && addressType !== 'IPv6' && addressType !== 'FQDN') {
    is.add(['addressType'], `must be IPv4, IPv6 or FQDN, got ${JSON.stringify(addressType)}`)
  }
  checkShape(is, raw['endpoints'], ['endpoints'], SLICE_ENDPOINTS)
  checkShape(is, raw['ports'], ['ports'], SLICE_PORTS)
  const endpoints = readList(is, raw['endpoints'], ['endpoints'])
  endpoints?.forEach((e, i) => {
    const path = ['endpoints', i]
    const ep = readMap(is, e, path)
    if (ep === undefined) return
    const addresses = readStringList(is, ep['addresses'], [...path, 'addresses'])
    if (addresses === undefined || addresses.length === 0) {
      if (absent(ep['addresses']) || addresses?.length === 0) is.add([...path, 'addresses'], 'missing field; list at least one address')
    } else {
      addresses.forEach((a, j) => {
        const aPath = [...path, 'addresses', j]
        if (addressType === 'IPv4' && isIP(a) !== 4) is.add(aPath, `${JSON.stringify(a)} is not an IPv4 address`)
        else if (addressType === 'IPv6' && isIP(a) !== 6) is.add(aPath, `${JSON.stringify(a)} is not an IPv6 address`)
        else if (addressType === 'FQDN' && dns1123Subdomain(a) !== undefined) is.add(aPath, `${JSON.stringify(a)} is not a DNS name`)
      })
    }
    const conditions = readMap(is, ep['conditions'], [...path, 'conditions'])
    for (const key of ['ready', 'serving', 'terminating']) readBool(is, conditions?.[key], [...path, 'conditions', key])
  })
  readPorts(is, raw['ports'], ['ports'], false)
  return {
    addressType: (addressType ?? 'IPv4') as EndpointSlice['addressType'],
    ...(endpoints === undefined ? {} : { endpoints: endpoints as EndpointSlice['endpoints'] }),
    ...(absent(raw['ports']) ? {} : { ports: raw['ports'] as EndpointSlice['ports'] }),
  }
}

export function readConfigMapData(is: Issues, raw: Obj): Record<string, string> {
  const data = readMap(is, raw['data'], ['data']) ?? {}
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'string') {
      is.add(['data', k], `ConfigMap data values must be strings; quote it (got ${describe(v)})`)
    }
  }
  readMap(is, raw['binaryData'], ['binaryData'])
  return data as Record<string, string>
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** `stringData` is merged into `data` (base64), as the API server does on write */
export function checkSecret(is: Issues, raw: Obj): Pick<Secret, 'type' | 'data' | 'stringData'> {
  const type = readString(is, raw['type'], ['type'])
  const data = readStringMap(is, raw['data'], ['data'], 'Secret data values (base64)')
  for (const [k, v] of Object.entries(data ?? {})) {
    const compact = v.replace(/\s+/g, '')
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
      is.add(['data', k], 'is not valid base64; encode it (base64 -w0 file) or move it to stringData')
    }
  }
  const stringData = readStringMap(is, raw['stringData'], ['stringData'], 'Secret stringData values')
  const merged: Record<string, string> = {}
  for (const [k, v] of Object.entries(data ?? {})) merged[k] = v.replace(/\s+/g, '')
  for (const [k, v] of Object.entries(stringData ?? {})) merged[k] = Buffer.from(v, 'utf8').toString('base64')
  const out: Pick<Secret, 'type' | 'data' | 'stringData'> = {}
  if (type !== undefined) out.type = type
  if (data !== undefined || stringData !== undefined) out.data = merged
  if (stringData !== undefined) out.stringData = stringData
  return out
}

function readPorts(is: Issues, v: unknown, path: FieldPath, portRequired: boolean): void {
  readList(is, v, path)?.forEach((p, i) => {
    const pPath = [...path, i]
    const port = readMap(is, p, pPath)
    if (port === undefined) return
    readString(is, port['name'], [...pPath, 'name'])
    readString(is, port['protocol'], [...pPath, 'protocol'])
    readString(is, port['appProtocol'], [...pPath, 'appProtocol'])
    if (portRequired) missing(is, port['port'], [...pPath, 'port'], 'each port needs a port number')
    readInt(is, port['port'], [...pPath, 'port'], 1, 65535)
  })
}

function checkIP(is: Issues, ip: string, path: FieldPath): void {
  if (isIP(ip) === 0) is.add(path, `${JSON.stringify(ip)} is not an IP address; Endpoints need IPs (use an ExternalName Service for DNS names)`)
}

// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation). Each check returns why a value
// is invalid, phrased as how to fix it, or undefined when it is fine.

const label1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const label1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
const qualifiedName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

export type NameRule = 'dns1123Label' | 'dns1035Label' | 'dns1123Subdomain'

export function checkName(rule: NameRule, value: string): string | undefined {
  switch (rule) {
    case 'dns1123Label': return dns1123Label(value)
    case 'dns1035Label': return dns1035Label(value)
    case 'dns1123Subdomain': return dns1123Subdomain(value)
  }
}

export function dns1123Label(v: string): string | undefined {
  if (v.length > 63) return `${JSON.stringify(v)} is ${v.length} characters long; use at most 63`
  if (!label1123.test(v)) {
    return `${JSON.stringify(v)} is not a valid DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit`
  }
  return undefined
}

export function dns1035Label(v: string): string | undefined {
  if (v.length > 63) return `${JSON.stringify(v)} is ${v.length} characters long; use at most 63`
  if (!label1035.test(v)) {
    return `${JSON.stringify(v)} is not a valid DNS-1035 label: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit`
  }
  return undefined
}

export function dns1123Subdomain(v: string): string | undefined {
  if (v.length > 253) return `${JSON.stringify(v)} is ${v.length} characters long; use at most 253`
  if (v === '' || !v.split('.').every((part) => label1123.test(part))) {
    return `${JSON.stringify(v)} is not a valid DNS-1123 subdomain: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`
  }
  return undefined
}

/** label and annotation keys: `[prefix/]name`, prefix a DNS subdomain, name up to 63 characters */
export function checkQualifiedKey(key: string): string | undefined {
  const slash = key.lastIndexOf('/')
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined
  const name = slash >= 0 ? key.slice(slash + 1) : key
  if (prefix !== undefined && dns1123Subdomain(prefix) !== undefined) {
    return `key ${JSON.stringify(key)} has an invalid prefix: it must be a lowercase DNS subdomain such as example.com`
  }
  if (name.length === 0 || name.length > 63 || !qualifiedName.test(name)) {
    return `key ${JSON.stringify(key)} is invalid: the name part must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`
  }
  return undefined
}

export function checkLabelValue(value: string): string | undefined {
  if (value === '') return undefined
  if (value.length > 63 || !qualifiedName.test(value)) {
    return `label value ${JSON.stringify(value)} is invalid: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`
  }
  return undefined
}

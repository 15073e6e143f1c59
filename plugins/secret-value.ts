// A plugin config value taken from a Kubernetes Secret. In `spec.config`, any value written as
// `{secretKeyRef: {name, key}}` (the shape of a container env's valueFrom.secretKeyRef) is looked up
// in the Secret `name` of the Plugin object's namespace before the plugin validates its config, and
// arrives as a SecretValue. A plugin's schema decides where it accepts one (basic-auth passwords,
// for instance), so a field can tell a value from a Secret from one written inline.
// The value never prints: toString/inspect show the reference, and toJSON (which the route compiler
// uses to tell whether a config changed) gives a keyed digest that changes with the value but
// cannot be reversed outside this process.
import { createHmac, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'

// per process: digests are only compared within one process, and mean nothing outside it
const DIGEST_KEY = randomBytes(32)

export class SecretValue {
  /** `namespace/name#key`, for messages */
  readonly ref: string
  readonly #value: string

  constructor(value: string, ref: string) {
    this.#value = value
    this.ref = ref
  }

  /** The secret text itself: use it in create(), never log it. */
  reveal(): string {
    return this.#value
  }

  toJSON(): string {
    return `secret ${this.ref} ${createHmac('sha256', DIGEST_KEY).update(this.#value).digest('base64url').slice(0, 22)}`
  }

  toString(): string {
    return `[secret ${this.ref}]`
  }

  [inspect.custom](): string {
    return this.toString()
  }
}

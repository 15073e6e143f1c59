// CESQL v1 evaluator: compiles a parsed expression once into a tree of closures over the event's
// attribute map. Error handling is the spec's "fail fast" mode (§4.1), node by node, exactly as the
// TCK expects and as cloudevents/sdk-go (Knative's engine) does:
//  - a child that reported an error makes its parent return the zero value of the parent's type
//    (`true AND (1 != 1 / 0)` is false; `missing * 5` is 0; `NOT missing` is false);
//  - an operator's or function's *own* failure (a cast, a division by zero, ABS overflow) records the
//    error and still returns the defined value (`NOT 10` is true with a CastError, 5 / 0 is 0).
// Evaluation allocates nothing: the scratch and every call's argument buffer are made here, once.
import type { BinaryOp, CesqlNode, CesqlValue } from './ast.ts'
import { castTo, fail, toBool, toInt, toStr, typeOf, zeroOf } from './cast.ts'
import type { Scratch } from './cast.ts'
import type { CesqlErrorKind } from './errors.ts'
import { resolveFunction } from './functions.ts'
import { compileLike, likeMatches } from './like.ts'
import type { CesqlExpression } from './parse.ts'

export type Attributes = Readonly<Record<string, string>>
type Eval = (a: Attributes, s: Scratch) => CesqlValue

/** One compiled expression. Not re-entrant (one scratch), which synchronous evaluation never needs. */
export class CesqlProgram {
  readonly source: string
  readonly #eval: Eval
  readonly #s: Scratch = { error: null, message: '' }

  constructor(expr: CesqlExpression) {
    this.source = expr.source
    this.#eval = compileNode(expr.root)
  }

  /** The expression's value; `error` / `errorMessage` then tell whether an error was reported. */
  evaluate(attributes: Attributes): CesqlValue {
    this.#s.error = null
    this.#s.message = ''
    return this.#eval(attributes, this.#s)
  }

  /** The first error of the last evaluation, or null. */
  get error(): CesqlErrorKind | null { return this.#s.error }
  get errorMessage(): string { return this.#s.message }

  /** Filter semantics (spec §1.2): passes only on Boolean true with no error. */
  matches(attributes: Attributes): boolean {
    return this.evaluate(attributes) === true && this.#s.error === null
  }
}

export function compileCesql(expr: CesqlExpression): CesqlProgram {
  return new CesqlProgram(expr)
}

function compileNode(n: CesqlNode): Eval {
  switch (n.kind) {
    case 'literal': {
      const v = n.value
      return () => v
    }
    case 'identifier': {
      const name = n.name
      const msg = `the event has no attribute '${name}'`
      return (a, s) => {
        const v = a[name]
        if (typeof v === 'string') return v
        fail(s, 'missingAttribute', msg)
        return false
      }
    }
    case 'exists': {
      const name = n.name
      return (a) => typeof a[name] === 'string'
    }
    case 'not': {
      const x = compileNode(n.operand)
      return (a, s) => {
        const v = x(a, s)
        if (s.error !== null) return false
        return !toBool(v, s)
      }
    }
    case 'negate': {
      const x = compileNode(n.operand)
      return (a, s) => {
        const v = x(a, s)
        if (s.error !== null) return 0
        return -toInt(v, s) | 0
      }
    }
    case 'like': {
      const x = compileNode(n.operand)
      const pattern = compileLike(n.pattern)
      const negated = n.negated
      return (a, s) => {
        const v = x(a, s)
        if (s.error !== null) return false
        return likeMatches(pattern, toStr(v)) !== negated
      }
    }
    case 'in': {
      const x = compileNode(n.operand)
      const set = n.set.map(compileNode)
      const negated = n.negated
      return (a, s) => {
        const v = x(a, s)
        if (s.error !== null) return false
        // the left operand's type is the target type of every element (spec §3.7, IN rule)
        const t = typeOf(v)
        for (let i = 0; i < set.length; i++) {
          const e = set[i]!(a, s)
          if (s.error !== null) return false
          if (castTo(e, t, s) === v) return !negated
        }
        return negated
      }
    }
    case 'binary': return compileBinary(n.op, compileNode(n.left), compileNode(n.right))
    case 'call': return compileCall(n.name, n.args)
  }
}

function compileCall(name: string, argNodes: readonly CesqlNode[]): Eval {
  const fn = resolveFunction(name, argNodes.length)
  if (fn === null) {
    const msg = `no function ${name} taking ${argNodes.length} argument${argNodes.length === 1 ? '' : 's'}`
    return (_a, s) => { fail(s, 'missingFunction', msg); return false }
  }
  const args = argNodes.map(compileNode)
  const argc = args.length
  const buf: CesqlValue[] = new Array<CesqlValue>(argc).fill(false)
  const types = args.map((_, i) => fn.params[Math.min(i, fn.params.length - 1)]!)
  const zero = zeroOf(fn.returns)
  const call = fn.call
  return (a, s) => {
    for (let i = 0; i < argc; i++) {
      const v = args[i]!(a, s)
      if (s.error !== null) return zero
      const t = types[i]!
      buf[i] = t === 'any' ? v : castTo(v, t, s)
    }
    return call(buf, argc, s)
  }
}

function compileBinary(op: BinaryOp, l: Eval, r: Eval): Eval {
  switch (op) {
    case 'AND': return (a, s) => {
      const x = l(a, s)
      if (s.error !== null) return false
      if (!toBool(x, s)) return false
      const y = r(a, s)
      if (s.error !== null) return false
      return toBool(y, s)
    }
    case 'OR': return (a, s) => {
      const x = l(a, s)
      if (s.error !== null) return false
      if (toBool(x, s)) return true
      const y = r(a, s)
      if (s.error !== null) return false
      return toBool(y, s)
    }
    case 'XOR': return (a, s) => {
      const x = l(a, s)
      if (s.error !== null) return false
      const y = r(a, s)
      if (s.error !== null) return false
      return toBool(x, s) !== toBool(y, s)
    }
    case '=': case '!=': case '<>': {
      const negated = op !== '='
      // ambiguous operator: the right operand's type picks the definition, the left is cast to it
      return (a, s) => {
        const x = l(a, s)
        if (s.error !== null) return false
        const y = r(a, s)
        if (s.error !== null) return false
        return (castTo(x, typeOf(y), s) === y) !== negated
      }
    }
    case '<': case '<=': case '>': case '>=': {
      const cmp = op
      return (a, s) => {
        const x = l(a, s)
        if (s.error !== null) return false
        const y = r(a, s)
        if (s.error !== null) return false
        const xi = toInt(x, s), yi = toInt(y, s)
        return cmp === '<' ? xi < yi : cmp === '<=' ? xi <= yi : cmp === '>' ? xi > yi : xi >= yi
      }
    }
    default: {
      const arith = op
      // int32 arithmetic wraps on overflow (two's complement), as Go's int32 in sdk-go does
      return (a, s) => {
        const x = l(a, s)
        if (s.error !== null) return 0
        const y = r(a, s)
        if (s.error !== null) return 0
        const xi = toInt(x, s), yi = toInt(y, s)
        switch (arith) {
          case '+': return (xi + yi) | 0
          case '-': return (xi - yi) | 0
          case '*': return Math.imul(xi, yi)
          case '/':
            if (yi === 0) { fail(s, 'math', 'division by zero'); return 0 }
            return (xi / yi) | 0
          default:
            if (yi === 0) { fail(s, 'math', 'modulo by zero'); return 0 }
            return (xi % yi) | 0
        }
      }
    }
  }
}

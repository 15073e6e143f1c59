// The CESQL v1 syntax tree the parser builds and the evaluator compiles (one node kind per
// alternative of cloudevents/spec cesql/CESQLParser.g4 `expression`).

export type CesqlValue = string | number | boolean

export type CesqlNode =
  | { readonly kind: 'literal'; readonly value: CesqlValue; readonly offset: number }
  | { readonly kind: 'identifier'; readonly name: string; readonly offset: number }
  | { readonly kind: 'exists'; readonly name: string; readonly offset: number }
  | { readonly kind: 'not'; readonly operand: CesqlNode; readonly offset: number }
  | { readonly kind: 'negate'; readonly operand: CesqlNode; readonly offset: number }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: CesqlNode; readonly right: CesqlNode; readonly offset: number }
  | { readonly kind: 'like'; readonly operand: CesqlNode; readonly pattern: string; readonly negated: boolean; readonly offset: number }
  | { readonly kind: 'in'; readonly operand: CesqlNode; readonly set: readonly CesqlNode[]; readonly negated: boolean; readonly offset: number }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly CesqlNode[]; readonly offset: number }

export type BinaryOp =
  | '*' | '/' | '%' | '+' | '-'
  | '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
  | 'AND' | 'OR' | 'XOR'

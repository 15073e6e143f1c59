// CESQL v1 (CloudEvents SQL) parser. Skeleton: the filters work replaces this with the real grammar.

/** A CESQL syntax error: `offset` is the 0-based character index in the expression. */
export class CesqlSyntaxError extends Error {
  readonly offset: number
  constructor(message: string, offset: number) {
    super(message)
    this.offset = offset
  }
}

export interface CesqlExpression { readonly source: string }

/** Parses an expression or throws CesqlSyntaxError. */
export function parseCesql(source: string): CesqlExpression {
  if (source.trim() === '') throw new CesqlSyntaxError('empty expression', 0)
  return { source }
}

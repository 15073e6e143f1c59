// CESQL v1 error kinds (spec §3.3): the syntax error the parser throws and the evaluation error kinds
// an evaluation reports next to its (zero) value.

/** A CESQL syntax error: `offset` is the 0-based character index in the expression. */
export class CesqlSyntaxError extends Error {
  readonly offset: number
  constructor(message: string, offset: number) {
    super(message)
    this.name = 'CesqlSyntaxError'
    this.offset = offset
  }
}

/** The evaluation error kinds of spec §3.3, named as the TCK names them (`parse` is CesqlSyntaxError). */
export type CesqlErrorKind = 'math' | 'cast' | 'missingAttribute' | 'missingFunction' | 'functionEvaluation' | 'generic'

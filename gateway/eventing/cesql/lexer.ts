// CESQL v1 tokens: the lexer half of the hand-written parser (no maintained CESQL library exists on
// npm; the grammar is cloudevents/spec cesql/CESQLLexer.g4, which this follows token for token).
import { CesqlSyntaxError } from './errors.ts'

export type TokenKind =
  | 'lparen' | 'rparen' | 'comma'
  | 'op'      // * / % + - = != <> < <= > >=
  | 'int'     // digits only (the sign is the parser's business)
  | 'string'  // quoted literal, value unescaped
  | 'word'    // [A-Za-z0-9_]+: keyword, identifier or function name
  | 'eof'

export interface Token {
  readonly kind: TokenKind
  /** the source text (for 'string': the unescaped value) */
  readonly text: string
  /** 0-based character offset of the token's first character */
  readonly offset: number
  /** offset just past the token */
  readonly end: number
}

function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f
}

/**
 * Splits an expression into tokens. Whitespace is space, tab, CR and LF (CESQLLexer.g4 `SPACE`).
 * String literals: `'…'` or `"…"`; inside them `\'` (resp. `\"`) stands for the quote, and every
 * other backslash is kept as written, so LIKE patterns see `\%` and `\_` (as cloudevents/sdk-go).
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const n = source.length
  while (i < n) {
    const c = source.charCodeAt(i)
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) { i++; continue }
    const start = i
    if (c === 0x28) { tokens.push({ kind: 'lparen', text: '(', offset: start, end: ++i }); continue }
    if (c === 0x29) { tokens.push({ kind: 'rparen', text: ')', offset: start, end: ++i }); continue }
    if (c === 0x2c) { tokens.push({ kind: 'comma', text: ',', offset: start, end: ++i }); continue }
    if (c === 0x27 || c === 0x22) { i = readString(source, i, tokens); continue }
    if (isWordChar(c)) {
      while (i < n && isWordChar(source.charCodeAt(i))) i++
      const text = source.slice(start, i)
      tokens.push({ kind: /^[0-9]+$/.test(text) ? 'int' : 'word', text, offset: start, end: i })
      continue
    }
    const two = source.slice(i, i + 2)
    if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      i += 2
      tokens.push({ kind: 'op', text: two, offset: start, end: i })
      continue
    }
    if (c === 0x2a || c === 0x2f || c === 0x25 || c === 0x2b || c === 0x2d || c === 0x3d || c === 0x3c || c === 0x3e) {
      tokens.push({ kind: 'op', text: source[i]!, offset: start, end: ++i })
      continue
    }
    const ch = String.fromCodePoint(source.codePointAt(i)!)
    throw new CesqlSyntaxError(`unexpected character '${ch}' at offset ${i}: CESQL knows identifiers [a-z0-9], 'strings', integers, ( ) , and the operators * / % + - = != <> < <= > >=`, i)
  }
  tokens.push({ kind: 'eof', text: '', offset: n, end: n })
  return tokens
}

function readString(source: string, start: number, tokens: Token[]): number {
  const quote = source[start]!
  let value = ''
  let i = start + 1
  let chunk = i
  while (i < source.length) {
    const ch = source[i]!
    if (ch === '\\' && i + 1 < source.length) {
      if (source[i + 1] === quote) {
        value += source.slice(chunk, i) + quote
        i += 2
        chunk = i
      } else {
        i += 2
      }
      continue
    }
    if (ch === quote) {
      // the lexer also accepts a doubled quote ('it''s'); as sdk-go, its value keeps both quotes
      if (source[i + 1] === quote) { i += 2; continue }
      value += source.slice(chunk, i)
      tokens.push({ kind: 'string', text: value, offset: start, end: i + 1 })
      return i + 1
    }
    i++
  }
  throw new CesqlSyntaxError(`unterminated string literal starting at offset ${start}: close it with ${quote} (write \\${quote} for a ${quote} inside it)`, start)
}

// CESQL behaviour the TCK leaves open, pinned to the grammar and to cloudevents/sdk-go (Knative's
// engine): located syntax errors for admission, precedence and associativity, int32 wrap, LIKE
// escapes and Unicode, string escapes, case-insensitive keywords, functions and identifiers.
import t from 'tap'
import { compileCesql } from '../../../../gateway/eventing/cesql/evaluate.ts'
import { CesqlSyntaxError, parseCesql } from '../../../../gateway/eventing/cesql/parse.ts'
import type { CesqlValue } from '../../../../gateway/eventing/cesql/ast.ts'

const attrs = { specversion: '1.0', id: 'e1', source: '/s', type: 'com.example.a', myext: 'x' }
function value(expr: string, a: Record<string, string> = attrs): { v: CesqlValue; err: string | null } {
  const p = compileCesql(parseCesql(expr))
  const v = p.evaluate(a)
  return { v, err: p.error }
}

t.test('syntax errors carry an offset and say what was expected', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['', 0, /empty expression/],
    ['ABC(', 4, /'\)' to close the call of ABC/],
    ["type = ", 7, /expected a value .* end of the expression/],
    ["type == 'a'", 6, /expected a value .* '='/],
    ["x LIKE 123", 7, /pattern of LIKE must be a string literal/],
    ["type = 'abc", 7, /unterminated string literal/],
    ['99999999999 = 1', 0, /outside the 32-bit range/],
    ['a IN ()', 6, /empty/],
    ['(a = 1', 6, /'\)' to close the '\(' at offset 0/],
    ['a = 1 b', 6, /an operator .* 'b' at offset 6/],
    ['type = "a" ; DROP', 11, /unexpected character ';'/],
    ['my_ext = 1', 0, /not an attribute name/],
    ['EXISTS 5', 7, /attribute name after EXISTS/],
    ['ab1(2)', 0, /not a function name/],
    ['AND', 0, /expected a value/],
  ]
  for (const [src, offset, msg] of cases) {
    try {
      parseCesql(src)
      t.fail(`${src}: parsed`)
    } catch (e) {
      t.type(e, CesqlSyntaxError, src)
      t.equal((e as CesqlSyntaxError).offset, offset, `${src}: offset`)
      t.match((e as Error).message, msg, `${src}: message`)
    }
  }
})

t.test('precedence follows CESQLParser.g4', async (t) => {
  t.same(value('true OR false AND false'), { v: true, err: null }, 'AND/OR/XOR: one level, right-associative')
  t.same(value('false AND true OR true'), { v: false, err: null }, 'a AND (b OR c)')
  t.same(value('1 + 2 * 3 = 7'), { v: true, err: null })
  t.same(value('10 - 2 - 3'), { v: 5, err: null }, 'additive is left-associative')
  t.same(value('100 / 10 / 5'), { v: 2, err: null })
  t.same(value('4-1'), { v: 3, err: null }, 'binary minus without spaces')
  t.same(value("NOT myext LIKE 'x'"), { v: false, err: 'cast' }, 'NOT binds tighter than LIKE: (NOT myext) LIKE …')
  t.same(value("NOT (myext LIKE 'x')"), { v: false, err: null })
  t.same(value("myext NOT LIKE 'y'"), { v: true, err: null })
  t.same(value('1 + 1 IN (1)'), { v: 2, err: null }, 'IN binds tighter than +: 1 + (1 IN (1)) = 1 + true')
  t.same(value('NOT EXISTS subject'), { v: true, err: null })
  t.same(value('- - 3'), { v: 3, err: null })
})

t.test('int32 arithmetic wraps, division truncates toward zero', async (t) => {
  t.same(value('2147483647 + 1'), { v: -2147483648, err: null })
  t.same(value('-2147483648 - 1'), { v: 2147483647, err: null })
  t.same(value('65536 * 65536'), { v: 0, err: null })
  t.same(value('-(-2147483648)'), { v: -2147483648, err: null })
  t.same(value('-7 / 2'), { v: -3, err: null })
  t.same(value('-7 % 2'), { v: -1, err: null }, 'remainder has the sign of the dividend')
  t.same(value("INT('2147483648')"), { v: 0, err: 'cast' })
  t.same(value("INT('+42')"), { v: 42, err: null })
})

t.test('strings, LIKE and Unicode', async (t) => {
  t.same(value("'it\\'s'"), { v: "it's", err: null })
  t.same(value('"say \\"hi\\""'), { v: 'say "hi"', err: null })
  t.same(value("'a\\nb'"), { v: 'a\\nb', err: null }, 'other backslashes stay as written')
  t.same(value("'😀x' LIKE '_x'"), { v: true, err: null }, '_ is one character (code point)')
  t.same(value("LENGTH('😀x')"), { v: 2, err: null })
  t.same(value("SUBSTRING('a😀bc', 2, 2)"), { v: '😀b', err: null })
  t.same(value("LEFT('😀😀😀', 2)"), { v: '😀😀', err: null })
  t.same(value("RIGHT('😀😀😀', 1)"), { v: '😀', err: null })
  t.same(value("'a.b' LIKE 'a.b'"), { v: true, err: null })
  t.same(value("'axb' LIKE 'a.b'"), { v: false, err: null }, 'regex metacharacters are literal')
  t.same(value("'line1\nline2' LIKE 'line1%'"), { v: true, err: null }, '% spans newlines')
  t.same(value("'abc\\\\' LIKE 'abc\\\\'"), { v: true, err: null }, 'a backslash before a non-wildcard is literal')
  t.same(value("TRIM('\u00a0 x \u2003')"), { v: 'x', err: null }, 'TRIM removes Unicode White_Space')
  t.same(value("CONCAT_WS('-', 'a', 1, TRUE)"), { v: 'a-1-true', err: null })
  const long = 'a'.repeat(5000)
  t.same(value(`'${long}' LIKE '%a%a%a%a%a%a%a%b'`), { v: false, err: null }, 'no catastrophic backtracking')
})

t.test('case-insensitive keywords, identifiers and function names', async (t) => {
  t.same(value("TYPE like 'com.%' and Exists MYEXT"), { v: true, err: null })
  t.same(value("concat_ws('/', lower('A'), upper('b'))"), { v: 'a/B', err: null })
  t.same(value('is_int(\'12\') and not is_int(\'1x\') and is_bool(\'TRUE\')'), { v: true, err: null })
  t.same(value('EXISTS constructor'), { v: false, err: null }, 'prototype names are not attributes')
})

t.test('functions: arity dispatch and errors', async (t) => {
  t.same(value('SUBSTRING(\'abc\')'), { v: false, err: 'missingFunction' })
  t.same(value('NOPE()'), { v: false, err: 'missingFunction' })
  t.same(value('LENGTH(missing)'), { v: 0, err: 'missingAttribute' }, 'an argument error gives the zero of the return type')
  t.same(value("SUBSTRING('abc', 1, -1)"), { v: '', err: 'functionEvaluation' })
})

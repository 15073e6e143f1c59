import t from 'tap'
import type { SecureContext } from 'node:tls'
import { contextFor, emptyCertTable, hasCertificates, type CertTable } from '../../gateway/tls/cert-table.ts'

// contextFor only compares identities, so markers stand in for real contexts.
const ctx = (name: string): SecureContext => ({ name } as unknown as SecureContext)
const A = ctx('a'), WILD = ctx('wild'), DEEP = ctx('deep'), DEF = ctx('default')

function table(fallback: SecureContext | null): CertTable {
  return {
    exact: new Map([['a.example.com', A], ['x.deep.example.com', A]]),
    wildcard: new Map([['.example.com', WILD], ['.deep.example.com', DEEP]]),
    fallback,
    fallbackPem: null,
    hosts: ['*.deep.example.com', '*.example.com', 'a.example.com', 'x.deep.example.com'],
    fingerprint: 'f',
  }
}

t.test('exact names win, case and a trailing dot do not matter', async (t) => {
  const tb = table(DEF)
  t.equal(contextFor(tb, 'a.example.com'), A)
  t.equal(contextFor(tb, 'A.Example.COM'), A)
  t.equal(contextFor(tb, 'a.example.com.'), A)
  t.equal(contextFor(tb, 'x.deep.example.com'), A, 'exact beats a longer wildcard')
})

t.test('the longest wildcard suffix wins, at any depth, never for the bare domain', async (t) => {
  const tb = table(DEF)
  t.equal(contextFor(tb, 'b.example.com'), WILD)
  t.equal(contextFor(tb, 'b.c.example.com'), WILD)
  t.equal(contextFor(tb, 'y.deep.example.com'), DEEP)
  t.equal(contextFor(tb, 'z.y.deep.example.com'), DEEP)
  t.equal(contextFor(tb, 'deep.example.com'), WILD, '*.example.com covers deep.example.com; *.deep.example.com does not')
  t.equal(contextFor(tb, 'example.com'), DEF)
})

t.test('no match: the default certificate, else null', async (t) => {
  t.equal(contextFor(table(DEF), 'other.org'), DEF)
  t.equal(contextFor(table(null), 'other.org'), null)
  t.equal(contextFor(table(null), ''), null)
  t.equal(contextFor(emptyCertTable(), 'a.example.com'), null)
})

t.test('hasCertificates: any host or a default certificate', async (t) => {
  t.equal(hasCertificates(emptyCertTable()), false)
  t.equal(hasCertificates(table(null)), true)
  t.equal(hasCertificates({ ...emptyCertTable(), fallback: DEF }), true)
})

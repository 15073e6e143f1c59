// Autoscaler decisions in the log: one INFO line per change of scale (with the window that decided,
// the observed average and the target), none for ticks that change nothing. Driven by the real
// Autoscaler with an injected clock.
import t from 'tap'
import { Autoscaler } from '../../../control/autoscaler/autoscaler.ts'
import { ScaleDecisions } from '../../../control/scaling/scale-decisions.ts'
import { createLogger } from '../../../gateway/log.ts'
import { defaultConfig, sec } from './fixtures/kpa-fixtures.ts'

const KEY = 'default/hello-00001'

t.test('a line per scale change, none per tick', async (t) => {
  const lines: string[] = []
  const decisions = new ScaleDecisions(createLogger('info', (l) => { lines.push(l) }, 'logfmt'))
  const as = new Autoscaler()
  const config = defaultConfig()
  as.configure(KEY, config, { nowMs: sec(0) })
  decisions.started(KEY, as.result(KEY)!.scale)
  let ready = 1
  const run = (from: number, to: number, load: number): void => {
    for (let s = from; s <= to; s++) {
      as.record(KEY, sec(s), load, load)
      if (s % 2 !== 0) continue
      const r = as.tick(sec(s), () => ready).get(KEY)!
      decisions.applied(KEY, r, as.config(KEY), 'tick')
      ready = r.scale
    }
  }
  run(0, 60, 140) // 140 concurrent at target 70 with one instance: panic (200 %) asks for 2
  t.equal(lines.length, 1, `one line for 31 ticks:\n${lines.join('')}`)
  t.match(lines[0], / INFO  scaling hello-00001 from 1 to 2 revision=default\/hello-00001 from=1 to=2 reason=panic concurrency=140 target=70 desired=2$/m)
  run(61, 200, 60) // the load falls: the stable window brings it back to 1
  t.equal(lines.length, 2, lines.join(''))
  t.match(lines[1], /scaling hello-00001 from 2 to 1 .*reason=stable concurrency=\d+(\.\d+)? target=70 desired=1$/m)
  run(201, 260, 60)
  t.equal(lines.length, 2, 'a steady load: no line')
  run(261, 270, 1000) // a burst
  t.ok(lines.length > 2, 'the burst is logged')
  for (const l of lines.slice(2)) t.match(l, /reason=panic concurrency=\d+/)
})

t.test('a request at zero: the line says so', async (t) => {
  const lines: string[] = []
  const decisions = new ScaleDecisions(createLogger('info', (l) => { lines.push(l) }, 'logfmt'))
  const as = new Autoscaler()
  as.configure(KEY, { ...defaultConfig(), initialScale: 0 }, { nowMs: sec(0) })
  decisions.started(KEY, as.result(KEY)!.scale)
  const idle = as.tick(sec(0), () => 0).get(KEY)!
  decisions.applied(KEY, idle, as.config(KEY), 'tick')
  t.equal(lines.length, 0, 'starting at zero and staying there says nothing')
  as.record(KEY, sec(1), 1, 1)
  const r = as.poke(KEY, sec(1), { ready: 0, concurrency: 1 })
  t.ok(r, 'the poke decided')
  decisions.applied(KEY, r!, as.config(KEY), 'request')
  t.equal(lines.length, 1)
  t.match(lines[0], /scaling hello-00001 from 0 to 1 .* trigger=request/)
  decisions.applied(KEY, r!, as.config(KEY), 'request')
  t.equal(lines.length, 1, 'the same scale again: nothing')
})

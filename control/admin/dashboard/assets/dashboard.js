// Sluice dashboard: draws each snapshot that /dashboard/events sends (see dashboard/snapshot.ts for
// its shape). Plain DOM calls, no framework; every text from the configuration goes through
// textContent, never innerHTML.
'use strict'

const SVG = 'http://www.w3.org/2000/svg'
const byId = (id) => document.getElementById(id)

/** an element: h('td', { class: 'num', 'data-field': 'rps' }, 'text', child…) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v))
  for (const c of children) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c))
  return el
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

// distinct colours (Tableau 10), one per revision in the snapshot's order; past ten, by name
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#bab0ac', '#e15759']
let colours = new Map()

function colour(namespace, name) {
  const known = colours.get(`${namespace}/${name}`)
  if (known) return known
  let x = 2166136261
  for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 16777619)
  return `hsl(${25 + ((x >>> 0) % 310)} 55% 45%)`
}

const dash = '—'
const fmtRate = (r) => (r == null ? dash : r < 10 ? r.toFixed(1) : String(Math.round(r)))
const fmtSeconds = (s) => (s == null ? dash : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`)
const fmtShare = (r) => (r == null ? dash : `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)}%`)
const fmtTime = (ms) => new Date(ms).toLocaleTimeString()
const nsName = (o) => (o.namespace === 'default' ? o.name : `${o.namespace}/${o.name}`)

function readyPill(o) {
  const label = o.status === 'True' ? 'Ready' : o.status === 'False' ? 'Failed' : 'Unknown'
  const cell = h('span', {}, h('span', { class: `pill state-${o.status}`, 'data-status': o.status }, label))
  const why = [o.reason, o.message].filter(Boolean).join(': ')
  if (why) cell.append(' ', h('span', { class: 'reason' }, why))
  return cell
}

function link(url) {
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) return url ?? dash
  return h('a', { href: url, rel: 'noreferrer' }, url)
}

function renderErrors(snap) {
  byId('errors').hidden = snap.errors.length === 0
  byId('error-list').replaceChildren(...snap.errors.map((e) => h('li', { 'data-file': e.file, 'data-line': e.line, 'data-column': e.column }, e.text)))
}

function renderServices(snap) {
  const rows = snap.services.map((s) => h('tr', { 'data-service': `${s.namespace}/${s.name}` },
    h('td', {}, nsName(s)), h('td', { class: 'wrap' }, link(s.url)), h('td', { class: 'wrap' }, readyPill(s))))
  byId('services').tBodies[0].replaceChildren(...rows)
  byId('services-empty').hidden = rows.length > 0
}

function renderRoutes(snap) {
  const routes = snap.routes.map((r) => {
    const bar = h('div', { class: 'bar', role: 'img', 'aria-label': r.traffic.map((t) => `${t.revision} ${t.percent}%`).join(', ') || 'no traffic' })
    const legend = h('ul', { class: 'legend' })
    for (const t of r.traffic) {
      if (t.percent > 0) {
        const seg = h('div', { class: 'seg', 'data-revision': t.revision, 'data-percent': t.percent, title: `${t.revision}: ${t.percent}%` },
          t.percent >= 12 ? `${t.revision} ${t.percent}%` : '')
        seg.style.width = `${t.percent}%`
        seg.style.background = colour(r.namespace, t.revision)
        bar.append(seg)
      }
      const sw = h('span', { class: 'swatch' })
      sw.style.background = colour(r.namespace, t.revision)
      const tags = t.tags.map((tag) => ` @${tag}`).join('')
      legend.append(h('li', { 'data-revision': t.revision }, sw, `${t.revision} ${t.percent}%${tags}${t.latest ? ' (latest)' : ''}`))
    }
    return h('div', { class: 'route', 'data-route': `${r.namespace}/${r.name}` },
      h('div', { class: 'route-head' }, h('strong', {}, nsName(r)), h('span', { class: 'url' }, r.url ?? ''), readyPill(r)), bar, legend)
  })
  byId('routes').replaceChildren(...routes)
  byId('routes-empty').hidden = routes.length > 0
}

function renderChart(snap) {
  const chart = byId('chart')
  const W = Math.max(200, Math.round(chart.clientWidth || 600))
  const H = Math.max(80, Math.round(chart.clientHeight || 160))
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`)
  const left = 24
  const top = 8
  const bottom = H - 18
  const n = snap.historyCapacity
  const series = snap.revisions.filter((r) => r.history.some((v) => v !== null))
  let max = 1
  for (const r of series) for (const v of r.history) if (v !== null && v > max) max = v
  const x = (i) => left + ((W - left - 4) * i) / n
  const y = (v) => bottom - ((bottom - top) * v) / max
  const parts = []
  const ticks = max <= 6 ? Array.from({ length: max + 1 }, (_, i) => i) : [0, Math.round(max / 2), max]
  for (const t of ticks) {
    parts.push(svg('line', { class: 'grid', x1: left, x2: W - 4, y1: y(t), y2: y(t) }))
    const label = svg('text', { class: 'axis', x: 2, y: y(t) + 4 })
    label.textContent = String(t)
    parts.push(label)
  }
  const minutes = Math.round((n * snap.historyStepMs) / 60000)
  const ago = svg('text', { class: 'axis', x: left, y: H - 4 })
  ago.textContent = `${minutes} min ago`
  const now = svg('text', { class: 'axis', x: W - 4, y: H - 4, 'text-anchor': 'end' })
  now.textContent = 'now'
  parts.push(ago, now)
  for (const r of series) {
    // right-aligned: the last sample is now
    const offset = n - r.history.length
    let points = ''
    r.history.forEach((v, i) => {
      if (v === null) return
      points += `${x(offset + i).toFixed(1)},${y(v).toFixed(1)} ${x(offset + i + 1).toFixed(1)},${y(v).toFixed(1)} `
    })
    parts.push(svg('polyline', { points, stroke: colour(r.namespace, r.name), 'data-revision': `${r.namespace}/${r.name}` }))
  }
  chart.replaceChildren(...parts)
  byId('window').textContent = `${minutes} min`
  byId('legend').replaceChildren(...series.map((r) => {
    const sw = h('span', { class: 'swatch' })
    sw.style.background = colour(r.namespace, r.name)
    return h('li', {}, sw, `${nsName(r)} ${r.instances ? r.instances.ready : dash}`)
  }))
}

function renderRevisions(snap) {
  const rows = snap.revisions.map((r) => {
    const i = r.instances
    return h('tr', { 'data-revision': `${r.namespace}/${r.name}` },
      h('td', {}, nsName(r)),
      h('td', {}, readyPill(r)),
      h('td', { class: 'num', 'data-field': 'instances', 'data-ready': i ? i.ready : '', 'data-starting': i ? i.starting : '', 'data-desired': i ? i.desired : '' },
        i ? `${i.ready}${i.starting > 0 ? ` (+${i.starting} starting)` : ''} / ${i.desired}` : dash),
      h('td', { class: 'num', 'data-field': 'rps' }, fmtRate(r.rps)),
      h('td', { class: 'num', 'data-field': 'p50' }, fmtSeconds(r.p50)),
      h('td', { class: 'num', 'data-field': 'p99' }, fmtSeconds(r.p99)),
      h('td', { class: 'num', 'data-field': 'errors' }, fmtShare(r.errorRate)),
      h('td', { class: 'num', 'data-field': 'queue' }, String(r.queue)))
  })
  byId('revisions').tBodies[0].replaceChildren(...rows)
  byId('queue').textContent = String(snap.queue)
}

function renderColdStarts(snap) {
  byId('cold-starts').replaceChildren(...snap.coldStarts.map((c) => h('li', { 'data-revision': `${c.namespace}/${c.revision}` },
    `${fmtTime(c.at)}  ${c.namespace === 'default' ? c.revision : `${c.namespace}/${c.revision}`}  `,
    h('strong', {}, fmtSeconds(c.seconds)), c.count > 1 ? ` (mean of ${c.count})` : '')))
  byId('cold-empty').hidden = snap.coldStarts.length > 0
}

function setConnection(text, kind) {
  const el = byId('conn')
  el.textContent = text
  el.className = `pill ${kind}`
}

function render(snap) {
  if (snap.error) {
    setConnection(`error: ${snap.error}`, 'bad')
    return
  }
  setConnection('live', 'ok')
  byId('loaded').textContent = snap.loadedAt === null ? 'no configuration loaded yet'
    : `${snap.ready ? '' : 'not ready · '}configuration loaded ${fmtTime(snap.loadedAt)} · updated ${fmtTime(snap.at)}`
  document.body.dataset.updated = String(snap.at)
  colours = new Map(snap.revisions.slice(0, PALETTE.length).map((r, i) => [`${r.namespace}/${r.name}`, PALETTE[i]]))
  renderErrors(snap)
  renderServices(snap)
  renderRoutes(snap)
  renderChart(snap)
  renderRevisions(snap)
  renderColdStarts(snap)
}

let last = null
function start() {
  const events = new EventSource('/dashboard/events')
  events.onmessage = (e) => {
    last = JSON.parse(e.data)
    render(last)
  }
  events.onerror = () => setConnection('reconnecting…', 'unknown')
  // the chart follows the page's width
  window.addEventListener('resize', () => { if (last && !last.error) renderChart(last) })
}

start()

// Sensor tiles: one per <gw>/sensors/<name>/state, a value row and a uPlot
// chart per quantity, the last ten minutes kept in the browser.

import uPlot from 'uplot';
import { h, setText, domId } from './dom.js';
import { parseReading, formatQuantity, charted, axisValue } from './quantity.js';
import { labelWidth } from './detail.js';
import { gapBefore, countValues, timeRange, valueRange } from './series.js';
import { formatDuration } from './model.js';

const pad = (n) => String(n).padStart(2, '0');

/** Axis label: HH:MM, or HH:MM:SS when ticks are less than a minute apart. */
function clock(sec, withSeconds) {
  const d = new Date(sec * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${hm}:${pad(d.getSeconds())}` : hm;
}

export const HISTORY_MS = 10 * 60 * 1000;
const MAX_POINTS = 2000;

export class SensorPanel {
  constructor(container, empty) {
    this.container = container;
    this.empty = empty;
    this.tiles = new Map(); // gw/name -> tile
    this.gateways = new Set();
    this.ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver((es) => this.resized(es)) : null;
  }

  tile(gw, name) {
    const id = `${gw}/${name}`;
    let t = this.tiles.get(id);
    if (t) return t;
    this.gateways.add(gw);
    const title = h('h3', { class: 'tile-title' }, name);
    const gwLabel = h('span', { class: 'tile-gw' }, gw);
    const avail = h('span', { class: 'badge', role: 'status', 'aria-label': `availability of ${name}` }, 'unknown');
    const age = h('span', { class: 'age', 'aria-label': `age of the last reading of ${name}` }, '');
    const rows = h('div', { class: 'quantities' });
    const el = h(
      'article',
      { class: 'tile sensor', id: domId('sensor', id), 'aria-label': `sensor ${name}`, 'data-sensor': name },
      h('header', { class: 'tile-head' }, title, avail),
      h('div', { class: 'tile-sub' }, gwLabel, age),
      rows,
    );
    t = { id, gw, name, el, avail, age, rows, gwLabel, ts: null, q: new Map(), availText: '' };
    this.tiles.set(id, t);
    this.renderAvail(t);
    const sorted = [...this.tiles.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const next = sorted[sorted.indexOf(t) + 1];
    this.container.insertBefore(el, next ? next.el : null);
    this.empty.hidden = true;
    for (const x of this.tiles.values()) x.gwLabel.hidden = this.gateways.size < 2;
    return t;
  }

  /** A state message arrived. */
  state(gw, name, text, now = Date.now()) {
    const r = parseReading(text);
    if (!r) return;
    const t = this.tile(gw, name);
    const ts = r.ts ?? now;
    if (t.ts !== null && ts < t.ts) return; // older than what is shown
    t.ts = ts;
    for (const q of r.quantities) {
      let row = t.q.get(q.key);
      if (!row) row = this.addQuantity(t, q);
      const f = formatQuantity(q);
      setText(row.value, f.text);
      setText(row.unit, f.unit ? ` ${f.unit}` : '');
      if (!row.charted) continue;
      const xs = row.data[0];
      const x = t.ts / 1000;
      // A retained reading seen again after a reconnect, or an older one: not new.
      if (xs.length && x <= xs[xs.length - 1]) continue;
      if (gapBefore(xs, x)) {
        // An outage: a gap in the line, not a straight line across it.
        xs.push(xs[xs.length - 1] + 0.001);
        row.data[1].push(null);
      }
      xs.push(x);
      row.data[1].push(q.value);
      const cut = (now - HISTORY_MS) / 1000;
      while (xs.length > MAX_POINTS || (xs.length > 1 && xs[0] < cut)) {
        xs.shift();
        row.data[1].shift();
      }
      row.dirty = true;
    }
    this.tick(now);
  }

  availability(gw, name, text) {
    const t = this.tile(gw, name);
    t.availText = text.trim().toLowerCase();
    this.renderAvail(t);
  }

  addQuantity(t, q) {
    const value = h('span', { class: 'value' }, '');
    const unit = h('span', { class: 'unit' }, '');
    const chartBox = charted(q) ? h('div', { class: 'chart', role: 'img', 'aria-label': `${q.label} of ${t.name}, last 10 minutes` }) : null;
    const row = h(
      'div',
      { class: `quantity kind-${q.kind}`, 'data-key': q.key },
      h('div', { class: 'q-line' }, h('span', { class: 'label' }, q.label), h('span', { class: 'reading' }, value, unit)),
      chartBox,
    );
    // Keep the tile's rows in the reading's order: main quantity first.
    const next = [...t.q.values()].find((x) => x.q.rank > q.rank || (x.q.rank === q.rank && x.key > q.key));
    t.rows.insertBefore(row, next ? next.el : null);
    const data = [[], []];
    const r = { key: q.key, q, el: row, value, unit, chartBox, data, plot: null, dirty: charted(q), charted: charted(q), label: q.label };
    t.q.set(q.key, r);
    return r;
  }

  /** Marks every tile as stale (no connection) or live again. */
  setStale(stale) {
    this.stale = stale;
    for (const t of this.tiles.values()) this.renderAvail(t);
  }

  renderAvail(t) {
    const s = t.availText || '';
    t.el.classList.toggle('stale', !!this.stale);
    t.el.classList.toggle('offline', s === 'offline');
    if (this.stale) {
      setText(t.avail, 'stale: no connection');
      t.avail.dataset.state = 'stale';
      return;
    }
    setText(t.avail, s || 'unknown');
    t.avail.dataset.state = s === 'online' ? 'ok' : s === 'offline' ? 'bad' : 'unknown';
  }

  makePlot(r) {
    const width = Math.max(200, Math.floor(r.chartBox.clientWidth || 260));
    const axis = {
      stroke: '#8a94a6',
      grid: { stroke: 'rgba(138,148,166,0.25)', width: 1 },
      ticks: { show: false },
      font: '10px system-ui, sans-serif',
    };
    r.plot = new uPlot(
      {
        width,
        height: 90,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          // At least a minute wide so the first readings do not fill the chart.
          x: { time: true, range: timeRange },
          y: { range: valueRange(uPlot.rangeNum) },
        },
        axes: [
          { ...axis, size: 20, space: 60, values: (u, splits, ai, space, incr) => splits.map((v) => clock(v, incr < 60)) },
          { ...axis, size: labelWidth, values: (u, splits) => splits.map((v) => axisValue(r.q, v)) },
        ],
        // A lone reading draws as a point; lines otherwise.
        series: [{}, { label: r.label, stroke: '#4fb3ff', width: 2, fill: 'rgba(79,179,255,0.12)', points: { show: (u, si, i0, i1) => countValues(u.data[1], i0, i1) < 3 } }],
      },
      r.data,
      r.chartBox,
    );
    if (this.ro) this.ro.observe(r.chartBox);
    r.chartBox._row = r;
  }

  resized(entries) {
    for (const e of entries) {
      const r = e.target._row;
      if (!r || !r.plot) continue;
      const w = Math.floor(e.contentRect.width);
      if (w > 0 && Math.abs(w - r.plot.width) > 2) r.plot.setSize({ width: w, height: 90 });
    }
  }

  /** Once a second and after updates: ages and charts. */
  tick(now = Date.now()) {
    for (const t of this.tiles.values()) {
      if (t.ts !== null) setText(t.age, `${formatDuration((now - t.ts) / 1000)} ago${this.stale ? ', not updating' : ''}`);
      for (const r of t.q.values()) {
        if (!r.dirty) continue;
        r.dirty = false;
        if (!r.plot) this.makePlot(r);
        else r.plot.setData(r.data);
      }
    }
  }

  clear() {
    for (const t of this.tiles.values()) {
      for (const r of t.q.values()) if (r.plot) r.plot.destroy();
      t.el.remove();
    }
    this.tiles.clear();
    this.gateways.clear();
    this.empty.hidden = false;
  }
}
